package kernel

import "sort"

// matchSeqs pairs equal items of old and new that keep their order: the
// common prefix and suffix, then, in what lies between, the items that
// occur once in each (patience diff: their longest increasing run,
// O(n log n)), then the equal neighbours of those pairs. It returns, for
// each new index, the old index it keeps, or -1. What is not kept is
// deleted and added; a long edit is correct, just not minimal.
func matchSeqs[K comparable](old, new []K) []int {
	keep := make([]int, len(new))
	for i := range keep {
		keep[i] = -1
	}
	matchRange(old, new, 0, len(old), 0, len(new), keep)
	return keep
}

func matchRange[K comparable](old, new []K, o0, o1, n0, n1 int, keep []int) {
	o0, o1, n0, n1 = matchEdges(old, new, o0, o1, n0, n1, keep)
	if o0 == o1 || n0 == n1 {
		return
	}
	type count struct{ o, n, oi, ni int }
	counts := make(map[K]*count, n1-n0)
	for i := o0; i < o1; i++ {
		c := counts[old[i]]
		if c == nil {
			c = &count{}
			counts[old[i]] = c
		}
		c.o++
		c.oi = i
	}
	for i := n0; i < n1; i++ {
		if c := counts[new[i]]; c != nil {
			c.n++
			c.ni = i
		}
	}
	var pairs [][2]int // new index, old index, in new order
	for i := n0; i < n1; i++ {
		if c := counts[new[i]]; c != nil && c.o == 1 && c.n == 1 {
			pairs = append(pairs, [2]int{i, c.oi})
		}
	}
	if len(pairs) == 0 {
		return
	}
	lis := increasing(pairs)
	// Between anchors, match the equal neighbours again.
	po, pn := o0, n0
	for _, p := range lis {
		matchEdges(old, new, po, p[1], pn, p[0], keep)
		keep[p[0]] = p[1]
		po, pn = p[1]+1, p[0]+1
	}
	matchEdges(old, new, po, o1, pn, n1, keep)
}

// matchEdges keeps the common prefix and suffix of two ranges and
// returns what lies between.
func matchEdges[K comparable](old, new []K, o0, o1, n0, n1 int, keep []int) (int, int, int, int) {
	for o0 < o1 && n0 < n1 && old[o0] == new[n0] {
		keep[n0] = o0
		o0++
		n0++
	}
	for o0 < o1 && n0 < n1 && old[o1-1] == new[n1-1] {
		keep[n1-1] = o1 - 1
		o1--
		n1--
	}
	return o0, o1, n0, n1
}

// increasing is the longest run of pairs whose old indexes increase
// (pairs are in new order): patience sorting.
func increasing(pairs [][2]int) [][2]int {
	var tails []int // index into pairs of the smallest tail of each length
	prev := make([]int, len(pairs))
	for i, p := range pairs {
		j := sort.Search(len(tails), func(k int) bool { return pairs[tails[k]][1] > p[1] })
		if j > 0 {
			prev[i] = tails[j-1]
		} else {
			prev[i] = -1
		}
		if j == len(tails) {
			tails = append(tails, i)
		} else {
			tails[j] = i
		}
	}
	out := make([][2]int, len(tails))
	for i, k := len(tails)-1, tails[len(tails)-1]; i >= 0; i-- {
		out[i] = pairs[k]
		k = prev[k]
	}
	return out
}
