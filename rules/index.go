package rules

import (
	"slices"

	"github.com/nfdproject/nfd/parser"
)

// Rule indexing. A chain with many rules gets up to maxLevels hash levels:
// each level is a field (ip saddr, tcp dport, ...) and maps a value to the
// rules that require exactly that value. A rule is filed under a level only
// by a match in its guard, the leading matches before any statement, so a
// rule left out of the packet's bucket could not have matched or done
// anything. Evaluation walks the union of the packet's buckets and the
// unindexed rules in rule order, which keeps first-match order exact.

const (
	maxLevels     = 2
	minIndexRules = 16 // smaller chains are scanned linearly
	minLevelRules = 8  // a field must index at least this many rules
	maxSetValues  = 64 // an anonymous set with more values is not indexed
)

type level struct {
	ld    loader
	field parser.Field
	// ids numbers the values; spans[id] is the bucket of the rules
	// requiring that value, flat[off:off+n], in rule order.
	ids   map[key128]int32
	spans []span
	flat  []int32
	dead  int // entries of flat no span uses any more (patchIndex)
}

type span struct{ off, n int32 }

func (lv *level) bucket(id int32) []int32 {
	sp := lv.spans[id]
	return lv.flat[sp.off : sp.off+sp.n]
}

type index struct {
	levels []level
	wild   []int32
}

// ixStats is what a chain's index was built from, for patchIndex: per
// round of the level choice, the number of rules left that each field
// could index (the last round, when fewer than maxLevels levels were
// made, is the one no field won).
type ixStats struct {
	counts [maxLevels]map[parser.Field]int32
	rounds int
}

// guardVal is one indexable guard match of a rule: its field and values.
type guardVal struct {
	f    parser.Field
	vals []key128
}

// guardOf returns the indexable guard matches of r, in order.
func (b *builder) guardOf(r *parser.Rule) []guardVal {
	var out []guardVal
	for _, s := range r.Stmts {
		m, ok := s.(*parser.Match)
		if !ok {
			break
		}
		if f, vals := b.indexValues(m); vals != nil {
			if out == nil {
				out = b.guards.take(len(r.Stmts))
			}
			out = append(out, guardVal{f, vals})
		}
	}
	return out
}

// indexValues returns the exact values a guard match on field f admits, or
// nil when the match cannot be indexed.
func (b *builder) indexValues(m *parser.Match) (parser.Field, []key128) {
	if len(m.Keys) != 1 || m.Mask != nil || m.Val.SetRef != "" || m.Val.CatchAll != nil {
		return 0, nil
	}
	f := m.Keys[0]
	if f.Userspace() || f.KernelOnly() != "" || f.Type().Bitmask || f.Type().Size > 16 {
		return 0, nil
	}
	if m.Op != parser.OpImplicit && m.Op != parser.OpEq {
		return 0, nil
	}
	if len(m.Val.Elems) > maxSetValues {
		return 0, nil
	}
	for _, e := range m.Val.Elems {
		if string(e.Lo) != string(e.Hi) {
			return 0, nil
		}
	}
	if len(m.Val.Elems) == 0 {
		return 0, nil
	}
	out := b.keys.take(len(m.Val.Elems))
	for _, e := range m.Val.Elems {
		out = append(out, keyOf(e.Lo))
	}
	return f, out
}

// countFields adds d to the count of every field r's guard can index.
func countFields(g []guardVal, count map[parser.Field]int32, d int32) {
	for i, gv := range g {
		if !slices.ContainsFunc(g[:i], func(x guardVal) bool { return x.f == gv.f }) {
			count[gv.f] += d
		}
	}
}

// filedAt returns the values a rule is filed under at a level of field
// f: those of its first guard match on f, nil if none.
func filedAt(g []guardVal, f parser.Field) []key128 {
	for _, gv := range g {
		if gv.f == f {
			return gv.vals
		}
	}
	return nil
}

// bestField is the field indexing the most rules (the lowest of equals).
func bestField(count map[parser.Field]int32) (parser.Field, int32) {
	best, bestN := parser.FieldNone, int32(0)
	for f, n := range count {
		if n > bestN || n == bestN && n > 0 && f < best {
			best, bestN = f, n
		}
	}
	return best, bestN
}

// buildIndex makes the index of a chain whose rules have the given
// shapes: at each level the field most guards can index, while one
// indexes at least minLevelRules of the rules left. Linear in the rules.
func buildIndex(shapes []*shape) (*index, *ixStats) {
	if len(shapes) < minIndexRules {
		return nil, nil
	}
	remaining := make([]int32, len(shapes))
	for i := range remaining {
		remaining[i] = int32(i)
	}
	st := &ixStats{}
	idx := &index{}
	for len(idx.levels) < maxLevels {
		count := map[parser.Field]int32{}
		for _, ri := range remaining {
			countFields(shapes[ri].guard, count, 1)
		}
		st.counts[st.rounds] = count
		st.rounds++
		best, bestN := bestField(count)
		if bestN < minLevelRules {
			break
		}
		lv := level{ld: loaderOf(best), field: best, ids: make(map[key128]int32, len(remaining))}
		var cnt, last, entID, entRule []int32
		var rest []int32
		for _, ri := range remaining {
			vals := filedAt(shapes[ri].guard, best)
			if vals == nil {
				rest = append(rest, ri)
				continue
			}
			for _, v := range vals {
				id, ok := lv.ids[v]
				if !ok {
					id = int32(len(cnt))
					lv.ids[v] = id
					cnt = append(cnt, 0)
					last = append(last, -1)
				}
				if last[id] == ri {
					continue // a value twice in the rule's set
				}
				last[id] = ri
				cnt[id]++
				entID, entRule = append(entID, id), append(entRule, ri)
			}
		}
		lv.spans = make([]span, len(cnt))
		off := int32(0)
		for id, n := range cnt {
			lv.spans[id].off = off
			off += n
		}
		lv.flat = make([]int32, off)
		for k, id := range entID {
			sp := &lv.spans[id]
			lv.flat[sp.off+sp.n] = entRule[k]
			sp.n++
		}
		idx.levels = append(idx.levels, lv)
		remaining = rest
	}
	if len(idx.levels) == 0 {
		return nil, st
	}
	idx.wild = remaining
	return idx, st
}

// iter walks a chain's candidate rules in order: all of them, or the merge
// of the packet's buckets and the unindexed rules.
type iter struct {
	linear bool
	i, end int32
	lists  [maxLevels + 1][]int32
	pos    [maxLevels + 1]int
	n      int
}

func (it *iter) init(c *Ctx, ch *chain) {
	if ch.idx == nil {
		*it = iter{linear: true, end: int32(len(ch.rules))}
		return
	}
	it.linear = false
	it.n = 0
	for i := range ch.idx.levels {
		lv := &ch.idx.levels[i]
		if k, ok := lv.ld(c); ok {
			if id, ok := lv.ids[k]; ok {
				if b := lv.bucket(id); len(b) > 0 {
					it.lists[it.n], it.pos[it.n] = b, 0
					it.n++
				}
			}
		}
	}
	if len(ch.idx.wild) > 0 {
		it.lists[it.n], it.pos[it.n] = ch.idx.wild, 0
		it.n++
	}
}

func (it *iter) next() (int32, bool) {
	if it.linear {
		if it.i < it.end {
			it.i++
			return it.i - 1, true
		}
		return 0, false
	}
	best, bv := -1, int32(1<<31-1)
	for k := 0; k < it.n; k++ {
		if p := it.pos[k]; p < len(it.lists[k]) && it.lists[k][p] < bv {
			best, bv = k, it.lists[k][p]
		}
	}
	if best < 0 {
		return 0, false
	}
	it.pos[best]++
	return bv, true
}
