package rules

import "github.com/nfdproject/nfd/parser"

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
	ld      loader
	field   parser.Field
	buckets map[key128][]int32
}

type index struct {
	levels []level
	wild   []int32
}

// indexValues returns the exact values a guard match on field f admits, or
// nil when the match cannot be indexed.
func indexValues(m *parser.Match) (parser.Field, []key128) {
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
	var out []key128
	for _, e := range m.Val.Elems {
		if string(e.Lo) != string(e.Hi) {
			return 0, nil
		}
		out = append(out, keyOf(e.Lo))
	}
	return f, out
}

// guardMatches returns the matches before the rule's first statement.
func guardMatches(r *parser.Rule) []*parser.Match {
	var out []*parser.Match
	for _, s := range r.Stmts {
		m, ok := s.(*parser.Match)
		if !ok {
			break
		}
		out = append(out, m)
	}
	return out
}

func buildIndex(rules []*parser.Rule) *index {
	if len(rules) < minIndexRules {
		return nil
	}
	remaining := make([]int32, len(rules))
	for i := range remaining {
		remaining[i] = int32(i)
	}
	idx := &index{}
	for len(idx.levels) < maxLevels {
		count := map[parser.Field]int{}
		for _, ri := range remaining {
			seen := map[parser.Field]bool{}
			for _, m := range guardMatches(rules[ri]) {
				if f, vals := indexValues(m); vals != nil && !seen[f] {
					seen[f] = true
					count[f]++
				}
			}
		}
		best, bestN := parser.FieldNone, 0
		for f, n := range count {
			if n > bestN || n == bestN && n > 0 && f < best {
				best, bestN = f, n
			}
		}
		if bestN < minLevelRules {
			break
		}
		lv := level{ld: loaderOf(best), field: best, buckets: map[key128][]int32{}}
		var rest []int32
		for _, ri := range remaining {
			filed := false
			for _, m := range guardMatches(rules[ri]) {
				if f, vals := indexValues(m); f == best && vals != nil {
					for _, v := range vals {
						b := lv.buckets[v]
						if len(b) == 0 || b[len(b)-1] != ri {
							lv.buckets[v] = append(b, ri)
						}
					}
					filed = true
					break
				}
			}
			if !filed {
				rest = append(rest, ri)
			}
		}
		idx.levels = append(idx.levels, lv)
		remaining = rest
	}
	if len(idx.levels) == 0 {
		return nil
	}
	idx.wild = remaining
	return idx
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
			if b := lv.buckets[k]; len(b) > 0 {
				it.lists[it.n], it.pos[it.n] = b, 0
				it.n++
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
