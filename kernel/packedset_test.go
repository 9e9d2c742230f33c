package kernel

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/planner"
)

// The diff of packed element lists is elemDiff's, element for element, in
// the same order; for lists that share a prefix and suffix and lists that
// do not, in both packed forms and mixed with unpacked lists.
func TestPackedElemDiffEqualsElemDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 500; round++ {
		plain := round%2 == 0
		old := randKernelElems(r, r.IntN(60), plain)
		var nw []nftables.SetElement
		switch round % 3 {
		case 0: // a few changes in a shared list
			nw = append(nw, old...)
			for k := r.IntN(4); k > 0 && len(nw) > 0; k-- {
				i := r.IntN(len(nw))
				nw = append(nw[:i], nw[i+1:]...)
			}
			nw = append(nw, randKernelElems(r, r.IntN(4), plain)...)
			if len(nw) > 2 {
				i := r.IntN(len(nw) - 1)
				nw[i], nw[i+1] = nw[i+1], nw[i]
			}
		default:
			nw = randKernelElems(r, r.IntN(60), plain || r.IntN(2) == 0)
		}
		wantDel, wantAdd := elemDiff(old, nw)
		op, _ := planner.PackKernelElems(old)
		np, _ := planner.PackKernelElems(nw)
		for _, c := range []struct {
			name   string
			os, ns planner.PendingSet
		}{
			{"both packed", planner.PendingSet{Packed: op}, planner.PendingSet{Packed: np}},
			{"old packed", planner.PendingSet{Packed: op}, planner.PendingSet{Elems: nw}},
			{"new packed", planner.PendingSet{Elems: old}, planner.PendingSet{Packed: np}},
		} {
			del, add := elemDiffSets(&c.os, &c.ns)
			if !sameElemList(del, wantDel) || !sameElemList(add, wantAdd) {
				t.Fatalf("round %d, %s: del %v add %v, want del %v add %v", round, c.name, del, add, wantDel, wantAdd)
			}
		}
	}
}

func sameElemList(a, b []nftables.SetElement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameElem(&a[i], &b[i]) || a[i].Timeout != b[i].Timeout || a[i].Comment != b[i].Comment || a[i].Expires != b[i].Expires {
			return false
		}
	}
	return true
}

// BenchmarkPackedElemDiff is the diff of a reload that changes one element
// of 10^6.
func BenchmarkPackedElemDiff(b *testing.B) {
	const n = 1 << 20
	old := make([]nftables.SetElement, n)
	for i := range old {
		old[i].Key = []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
	}
	nw := append([]nftables.SetElement(nil), old...)
	nw[n/2] = nftables.SetElement{Key: []byte{192, 0, 2, 1}}
	op, _ := planner.PackKernelElems(old)
	np, _ := planner.PackKernelElems(nw)
	os, ns := planner.PendingSet{Packed: op}, planner.PendingSet{Packed: np}
	b.ReportMetric(float64(op.Bytes())/n, "B/elem")
	for b.Loop() {
		if del, add := elemDiffSets(&os, &ns); len(del) != 1 || len(add) != 1 {
			b.Fatalf("diff of %d and %d elements", len(del), len(add))
		}
	}
}

// randKernelElems (as planner's test) is a random kernel element list with every field a plan
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
