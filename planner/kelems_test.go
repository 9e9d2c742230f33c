package planner

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/parser"
)

func sameKernelElem(a, b *nftables.SetElement) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.KeyEnd, b.KeyEnd) && a.IntervalEnd == b.IntervalEnd && bytes.Equal(a.Val, b.Val) &&
		(a.VerdictData == nil) == (b.VerdictData == nil) &&
		(a.VerdictData == nil || (a.VerdictData.Kind == b.VerdictData.Kind && a.VerdictData.Chain == b.VerdictData.Chain))
}

func TestKernelElemsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 300; round++ {
		plain := round%3 == 0
		els := rulegen.KernelElems(r, r.IntN(200), plain)
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
		q, _ := PackKernelElems(rulegen.KernelElems(r, 50, r.IntN(2) == 0))
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

// Packing a named set's elements as newSetData makes them gives the pack
// of the list it makes otherwise, with withSetState's timeouts and
// comments, for every kind of named set.
func TestDirectPackEqualsListPack(t *testing.T) {
	src := `table inet t {
	set a { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }
	set b { type ipv4_addr; flags interval; elements = { 10.0.0.0/24, 10.1.0.1-10.1.0.9, 10.1.0.10, 192.0.2.255 } }
	set c { type ipv4_addr . inet_service; elements = { 10.0.0.1 . 22, 10.0.0.2 . 80 } }
	set d { type ipv6_addr; flags timeout; elements = { ::1 timeout 30s comment "x", 2001:db8::1 comment "y", ::2 } }
	set e { type mark; flags interval; elements = { 0x10-0x20, 0x40 } }
	set f { type mark; elements = { 0x10, 0x40 comment "m" } }
	map m { type inet_service : mark; elements = { 22 : 0x1, 80 : 0x2 } }
	map v { type ipv4_addr : verdict; elements = { 10.0.0.1 : drop, 10.0.0.2 : jump c1, 10.0.0.3 : accept } }
	map w { type ipv4_addr : mark; flags interval; elements = { 10.0.0.0/8 : 0x1, 192.168.0.0/16 : 0x2 } }
	chain c1 { }
	chain c {
		type filter hook input priority 0; policy accept;
		ip saddr @a drop
		ip daddr @b drop
		ip saddr . tcp dport @c drop
		ip6 saddr @d drop
		meta mark @e drop
		meta mark @f drop
		meta mark set tcp dport map @m
		ip saddr vmap @v
		meta mark set ip saddr map @w
	}
}
`
	plan := func() []PendingSet {
		rs, err := parser.Parse("t.nft", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		plans, _, err := PlanRuleset(rs, OffloadAuto)
		if err != nil {
			t.Fatal(err)
		}
		var named []PendingSet
		for _, ps := range plans[0].Sets {
			if !ps.Set.Anonymous {
				named = append(named, ps)
			}
		}
		return named
	}
	direct := plan()
	packDirect = false
	listed := plan()
	packDirect = true
	if len(direct) != len(listed) || len(direct) < 6 {
		t.Fatalf("%d named sets packed directly, %d from lists", len(direct), len(listed))
	}
	for i := range direct {
		a, b := direct[i].Elements(), listed[i].Elements()
		if direct[i].Packed == nil || len(a) != len(b) || len(a) == 0 {
			t.Fatalf("set %s: %d elements packed directly (packed %v), %d from the list", direct[i].Set.Name, len(a), direct[i].Packed != nil, len(b))
		}
		for j := range a {
			if !sameKernelElem(&a[j], &b[j]) || a[j].Timeout != b[j].Timeout || a[j].Comment != b[j].Comment {
				t.Fatalf("set %s element %d: %+v directly, %+v from the list", direct[i].Set.Name, j, a[j], b[j])
			}
		}
	}
}

// The planner makes the same kernel sets from a ruleset whose named sets
// the parse packed (parser.WithPackedSets) as from the parsed lists.
func TestPackedParsePlansTheSame(t *testing.T) {
	var files []string
	for _, g := range []string{"../parser/testdata/valid/*.nft", "../parser/testdata/acceptance/rulesets/*.nft", "../cmd/nfd/testdata/equiv/*.nft"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	srcs := map[string][]byte{"large": []byte(`table inet t {
	set s { type ipv4_addr; flags timeout; timeout 1h; elements = { 10.0.0.1, 10.0.0.2, 10.0.0.1 } }
	set q { type ipv6_addr; elements = { ::1, 2001:db8::1 } }
	set m { type mark; elements = { 0x1, 0x20 } }
	chain c { type filter hook input priority 0; ip saddr @s drop; ip6 saddr @q drop; meta mark @m drop; }
}
`)}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs[f] = src
	}
	compared := 0
	for name, src := range srcs {
		rs, err := parser.Parse(name, src)
		if err != nil {
			continue
		}
		prs, err := parser.ParseContext(parser.WithPackedSets(context.Background()), name, src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, off := range []string{OffloadAuto, OffloadNone} {
			plans, _, err := PlanRuleset(rs, off)
			pplans, _, perr := PlanRuleset(prs, off)
			if (err == nil) != (perr == nil) || (err != nil && err.Error() != perr.Error()) {
				t.Fatalf("%s: plan %v, packed %v", name, err, perr)
			}
			if err != nil {
				continue
			}
			for i, tp := range plans {
				ptp := pplans[i]
				if len(tp.Sets) != len(ptp.Sets) {
					t.Fatalf("%s: %d sets, %d packed", name, len(tp.Sets), len(ptp.Sets))
				}
				for j := range tp.Sets {
					a, b := tp.Sets[j].Elements(), ptp.Sets[j].Elements()
					if tp.Sets[j].Set.Name != ptp.Sets[j].Set.Name || len(a) != len(b) {
						t.Fatalf("%s: set %s differs packed", name, tp.Sets[j].Set.Name)
					}
					for k := range a {
						if !sameKernelElem(&a[k], &b[k]) || a[k].Timeout != b[k].Timeout || a[k].Comment != b[k].Comment {
							t.Fatalf("%s: set %s element %d: %+v, packed %+v", name, tp.Sets[j].Set.Name, k, a[k], b[k])
						}
					}
					compared++
				}
			}
		}
	}
	if compared < 100 {
		t.Fatalf("only %d sets compared", compared)
	}
}
