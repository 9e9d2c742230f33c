package kernel

import (
	"math/rand"
	"testing"
)

// TestMatchSeqs: on random edits of random sequences, the pairs kept are
// equal items in increasing order on both sides, and a one-item change,
// insertion or deletion keeps every other item.
func TestMatchSeqs(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for iter := 0; iter < 2000; iter++ {
		n := r.Intn(60)
		old := make([]int, n)
		for i := range old {
			old[i] = r.Intn(40) // duplicates on purpose
		}
		new := append([]int(nil), old...)
		edits := 1 + r.Intn(4)
		for e := 0; e < edits; e++ {
			switch p := r.Intn(len(new) + 1); r.Intn(3) {
			case 0:
				new = append(new[:p], append([]int{100 + r.Intn(40)}, new[p:]...)...)
			case 1:
				if p < len(new) {
					new = append(new[:p], new[p+1:]...)
				}
			case 2:
				if p < len(new) {
					new[p] = 100 + r.Intn(40)
				}
			}
		}
		keep := matchSeqs(old, new)
		last, kept := -1, 0
		for j, i := range keep {
			if i < 0 {
				continue
			}
			kept++
			if i <= last || old[i] != new[j] {
				t.Fatalf("old %v new %v: bad pairs %v", old, new, keep)
			}
			last = i
		}
		if edits == 1 && kept < min(len(old), len(new))-1 {
			t.Fatalf("old %v new %v: one edit kept only %d: %v", old, new, kept, keep)
		}
	}
}

// BenchmarkMatchSeqs: a 10^5-item sequence with one item moved.
func BenchmarkMatchSeqs(b *testing.B) {
	old := make([]int, 100000)
	for i := range old {
		old[i] = i
	}
	new := append([]int(nil), old...)
	new[10], new[90000] = new[90000], new[10]
	for b.Loop() {
		matchSeqs(old, new)
	}
}
