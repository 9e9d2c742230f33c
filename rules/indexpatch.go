package rules

import (
	"maps"
	"slices"

	"github.com/nfdproject/nfd/parser"
)

// patchIndex makes a chain's index from the previous engine's chain old,
// when the new chain is old with the rules between a common prefix of pre
// rules and a common suffix of suf rules replaced (pairing.go: the prefix
// and suffix have the same keys, hence the same guards). The counts of
// the level choice are old's minus the removed rules' plus the added
// ones'; when they choose the same fields, only the buckets of the values
// those rules are filed under change, and every other rule keeps its
// buckets, renumbered by the shift. The result holds the same buckets
// (in rule order) as buildIndex's. ok is false when buildIndex must do
// it: the middle is large, the level choice changed, or the buckets
// replaced so far leave too much dead space.
func patchIndex(old *chain, shapes []*shape, pre, suf int) (*index, *ixStats, bool) {
	m, n := len(old.shapes), len(shapes)
	oLo, oHi, nLo, nHi := pre, m-suf, pre, n-suf
	if n < minIndexRules || old.ixs == nil || (oHi-oLo)+(nHi-nLo) > max(64, n/8) {
		return nil, nil, false
	}
	var fields []parser.Field
	if old.idx != nil {
		for _, lv := range old.idx.levels {
			fields = append(fields, lv.field)
		}
	}
	st := &ixStats{rounds: old.ixs.rounds}
	for r := 0; r < st.rounds; r++ {
		st.counts[r] = maps.Clone(old.ixs.counts[r])
	}
	// walk counts a rule's guard in the rounds it takes part in, and
	// returns the level it is filed at (-1: none, a wild rule).
	walk := func(g []guardVal, d int32) int {
		for r := 0; r < st.rounds; r++ {
			countFields(g, st.counts[r], d)
			if r < len(fields) && filedAt(g, fields[r]) != nil {
				return r
			}
		}
		return -1
	}
	oldLv := make([]int, oHi-oLo)
	for i := oLo; i < oHi; i++ {
		oldLv[i-oLo] = walk(old.shapes[i].guard, -1)
	}
	newLv := make([]int, nHi-nLo)
	for j := nLo; j < nHi; j++ {
		newLv[j-nLo] = walk(shapes[j].guard, 1)
	}
	for r := 0; r < st.rounds; r++ {
		best, bestN := bestField(st.counts[r])
		if r < len(fields) && (best != fields[r] || bestN < minLevelRules) || r >= len(fields) && bestN >= minLevelRules {
			return nil, nil, false
		}
	}
	if old.idx == nil {
		return nil, st, true
	}
	shift := int32(n - m)
	renum := func(x int32) int32 {
		switch {
		case x < int32(oLo):
			return x
		case x >= int32(oHi):
			return x + shift
		}
		return -1 // a removed rule
	}
	idx := &index{levels: make([]level, len(old.idx.levels))}
	for r := range old.idx.levels {
		ol := &old.idx.levels[r]
		// The values whose buckets change, with the added rules filed
		// under each.
		adds := map[key128][]int32{}
		for i := oLo; i < oHi; i++ {
			if oldLv[i-oLo] == r {
				for _, v := range filedAt(old.shapes[i].guard, ol.field) {
					if _, ok := adds[v]; !ok {
						adds[v] = nil
					}
				}
			}
		}
		grow := 0
		for j := nLo; j < nHi; j++ {
			if newLv[j-nLo] == r {
				for _, v := range filedAt(shapes[j].guard, ol.field) {
					if l := adds[v]; len(l) == 0 || l[len(l)-1] != int32(j) {
						adds[v] = append(l, int32(j))
						grow++
					}
				}
			}
		}
		lv := level{ld: ol.ld, field: ol.field, dead: ol.dead}
		if len(adds) == 0 && shift == 0 {
			lv.ids, lv.spans, lv.flat = ol.ids, ol.spans, ol.flat // unchanged: share
			idx.levels[r] = lv
			continue
		}
		// The values keep their numbers; the map is copied only when a
		// value is new.
		lv.ids, lv.spans = ol.ids, slices.Clone(ol.spans)
		cloned := false
		lv.flat = make([]int32, len(ol.flat), len(ol.flat)+grow+64)
		if shift == 0 {
			copy(lv.flat, ol.flat)
		} else {
			for k, x := range ol.flat {
				lv.flat[k] = renum(x)
			}
		}
		for v, added := range adds {
			var base []int32
			id, ok := lv.ids[v]
			if ok {
				base = ol.bucket(id)
				lv.dead += len(base)
			}
			off := len(lv.flat)
			lv.flat = mergeRenum(lv.flat, base, renum, added)
			sp := span{int32(off), int32(len(lv.flat) - off)}
			if ok {
				lv.spans[id] = sp
			} else {
				if !cloned {
					lv.ids, cloned = maps.Clone(ol.ids), true
				}
				lv.ids[v] = int32(len(lv.spans))
				lv.spans = append(lv.spans, sp)
			}
		}
		if lv.dead > 256 && lv.dead > len(lv.flat)/2 {
			return nil, nil, false
		}
		idx.levels[r] = lv
	}
	var unfiled []int32
	for j := nLo; j < nHi; j++ {
		if newLv[j-nLo] < 0 {
			unfiled = append(unfiled, int32(j))
		}
	}
	if len(unfiled) == 0 && shift == 0 && oHi == oLo {
		idx.wild = old.idx.wild
	} else {
		idx.wild = mergeRenum(make([]int32, 0, len(old.idx.wild)+len(unfiled)), old.idx.wild, renum, unfiled)
	}
	return idx, st, true
}

// mergeRenum appends to dst, in ascending order, the entries of base
// renumbered (dropping removed ones) and those of added (ascending, none
// equal to a renumbered entry of base).
func mergeRenum(dst, base []int32, renum func(int32) int32, added []int32) []int32 {
	k := 0
	for _, x := range base {
		y := renum(x)
		if y < 0 {
			continue
		}
		for k < len(added) && added[k] < y {
			dst = append(dst, added[k])
			k++
		}
		dst = append(dst, y)
	}
	return append(dst, added[k:]...)
}
