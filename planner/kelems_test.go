package planner

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// randKernelElems is a random kernel element list with every field a plan
// sets: keys, range ends, interval end flags, data, verdicts, timeouts,
// expiry and comments; plain (only 4-byte keys) when plain is set.
func randKernelElems(r *rand.Rand, n int, plain bool) []nftables.SetElement {
	bs := func(min, max int) []byte {
		b := make([]byte, min+r.IntN(max-min+1))
		for i := range b {
			b[i] = byte(r.IntN(4)) // few values: equal keys happen
		}
		return b
	}
	els := make([]nftables.SetElement, n)
	for i := range els {
		e := &els[i]
		if plain {
			e.Key = bs(4, 4)
			continue
		}
		e.Key = bs(1, 6)
		if r.IntN(5) == 0 {
			e.KeyEnd = bs(1, 6)
		}
		e.IntervalEnd = r.IntN(4) == 0
		if r.IntN(4) == 0 {
			e.Val = bs(0, 5)
		}
		if r.IntN(4) == 0 {
			e.VerdictData = &expr.Verdict{Kind: expr.VerdictKind(r.IntN(7) - 5), Chain: string(bs(0, 3))}
		}
		if r.IntN(3) == 0 {
			e.Timeout = time.Duration(r.Int64N(1 << 40))
		}
		if r.IntN(5) == 0 {
			e.Expires = time.Duration(r.Int64N(1 << 40))
		}
		if r.IntN(4) == 0 {
			e.Comment = string(bs(1, 10))
		}
	}
	return els
}

func sameKernelElem(a, b *nftables.SetElement) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.KeyEnd, b.KeyEnd) && a.IntervalEnd == b.IntervalEnd && bytes.Equal(a.Val, b.Val) &&
		(a.VerdictData == nil) == (b.VerdictData == nil) &&
		(a.VerdictData == nil || (a.VerdictData.Kind == b.VerdictData.Kind && a.VerdictData.Chain == b.VerdictData.Chain))
}

func TestKernelElemsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 300; round++ {
		plain := round%3 == 0
		els := randKernelElems(r, r.IntN(200), plain)
		p, ok := PackKernelElems(els)
		if !ok {
			t.Fatal("PackKernelElems refused packable elements")
		}
		if plain && len(els) > 0 && p.fixed != 4 {
			t.Fatalf("plain keys not in the fixed form")
		}
		back := p.Decode(nil, 0, p.Len())
		if len(back) != len(els) {
			t.Fatalf("decoded %d of %d", len(back), len(els))
		}
		for i := range els {
			a, b := &els[i], &back[i]
			if !sameKernelElem(a, b) || a.Timeout != b.Timeout || a.Expires != b.Expires || a.Comment != b.Comment {
				t.Fatalf("round %d element %d: packed %+v, decoded %+v", round, i, *a, *b)
			}
			if !bytes.Equal(p.AppendID(nil, i), AppendKernelElemID(nil, a)) {
				t.Fatalf("round %d element %d: AppendID differs from AppendKernelElemID", round, i)
			}
		}
		// SameID is sameKernelElem, across the two forms too.
		q, _ := PackKernelElems(randKernelElems(r, 50, r.IntN(2) == 0))
		qe := q.Decode(nil, 0, q.Len())
		for i := range els {
			for j := range qe {
				if p.SameID(i, q, j) != sameKernelElem(&els[i], &qe[j]) {
					t.Fatalf("round %d: SameID(%d, %d) = %v for %+v and %+v", round, i, j, p.SameID(i, q, j), els[i], qe[j])
				}
			}
		}
	}
	if _, ok := PackKernelElems([]nftables.SetElement{{Key: []byte{1}, Counter: &expr.Counter{}}}); ok {
		t.Error("packed an element with a counter")
	}
}

// A planned named set keeps its elements packed; an anonymous one and a
// set filled from DNS answers keep their list.
func TestPlanPacksNamedSets(t *testing.T) {
	src := `table ip t {
	set a { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }
	set b { type ipv4_addr; flags interval; elements = { 10.0.0.0/24, 10.1.0.1-10.1.0.9 } }
	chain c {
		type filter hook input priority 0; policy accept;
		ip saddr @a drop
		ip daddr @b drop
		tcp dport { 22, 80 } drop
	}
}
`
	rs, err := parser.Parse("t.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plans, _, err := PlanRuleset(rs, OffloadAuto)
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, ps := range plans[0].Sets {
		if ps.Set.Anonymous {
			if ps.Packed != nil || len(ps.Elems) == 0 {
				t.Errorf("anonymous set %s: packed %v, %d elements", ps.Set.Name, ps.Packed != nil, len(ps.Elems))
			}
			continue
		}
		named++
		if ps.Packed == nil || ps.Elems != nil {
			t.Errorf("named set %s not packed", ps.Set.Name)
		}
		if ps.NumElements() == 0 || len(ps.Elements()) != ps.NumElements() {
			t.Errorf("named set %s: %d elements, %d decoded", ps.Set.Name, ps.NumElements(), len(ps.Elements()))
		}
	}
	if named != 2 {
		t.Fatalf("%d named sets planned, want 2", named)
	}
}
