package kernel

import (
	"math/rand/v2"
	"testing"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/planner"
)

// The diff of packed element lists is elemDiff's, element for element, in
// the same order; for lists that share a prefix and suffix and lists that
// do not, in both packed forms and mixed with unpacked lists.
func TestPackedElemDiffEqualsElemDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 500; round++ {
		plain := round%2 == 0
		old := rulegen.KernelElems(r, r.IntN(60), plain)
		var nw []nftables.SetElement
		switch round % 3 {
		case 0: // a few changes in a shared list
			nw = append(nw, old...)
			for k := r.IntN(4); k > 0 && len(nw) > 0; k-- {
				i := r.IntN(len(nw))
				nw = append(nw[:i], nw[i+1:]...)
			}
			nw = append(nw, rulegen.KernelElems(r, r.IntN(4), plain)...)
			if len(nw) > 2 {
				i := r.IntN(len(nw) - 1)
				nw[i], nw[i+1] = nw[i+1], nw[i]
			}
		default:
			nw = rulegen.KernelElems(r, r.IntN(60), plain || r.IntN(2) == 0)
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
