package rules

import "github.com/nfdproject/nfd/parser"

// Pairing a chain's rules with the previous engine's same chain (same
// family, table and chain name). A paired rule keeps its counters (and the
// state of its `counter` and `quota` statements); a rule paired by key
// also keeps its compiled form (reuse.go).
//
// The pairing is the one counters always had: the k-th rule of a chain
// with a given text pairs with the k-th rule of the old chain with that
// text. Rule keys (parser.RuleKey) give it without printing: equal
// non-zero keys mean equal text in the same chain AND the same skeleton
// (every declaration but the rules), and under the same skeleton equal
// text means equal keys. So when any key of the new ruleset is found in
// the old one, the skeletons are the same and pairing by key and
// occurrence is pairing by text and occurrence; only rules without a key
// (those of bound chains) are printed to pair. When no key is found (a
// set's elements changed, or no keys were given), every rule is paired by
// its printed text, as before keys existed.

// chainPairs is the pairing of one chain.
type chainPairs struct {
	old *chain // the previous engine's chain of that name, or nil
	// of holds, per rule of the new chain, the index of its old rule in
	// old, or -1. Nil when old is nil.
	of []int32
	// byKey: the pairs of rules with a non-zero key are by key, and their
	// compiled form may be reused.
	byKey bool
	// pre and suf are the lengths of the longest common prefix and
	// suffix of equal non-zero keys (the index is patched around them).
	pre, suf int
	// zeros: both chains have rules without a key (pairTexts).
	zeros bool
	// texts are the printed texts of the new rules that were paired by
	// text (nil entries for the others), to seed their RuleInfo.
	texts []*string
}

// pairChains pairs every chain of rs with its predecessor in prev: by key
// where any key matches, else by text.
func (b *builder) pairChains(rs *parser.Ruleset) map[*parser.Chain]*chainPairs {
	prev := b.opts.Prev
	if prev == nil {
		return nil
	}
	type name struct {
		fam          parser.Family
		table, chain string
	}
	olds := make(map[name]*chain, len(prev.Chains))
	for _, ci := range prev.Chains {
		if c := prev.chainOf[ci]; c != nil && c.src != nil {
			olds[name{ci.Family, ci.Table, ci.Name}] = c
		}
	}
	out := map[*parser.Chain]*chainPairs{}
	keyed := 0
	for _, t := range rs.Tables {
		for _, pc := range t.Chains {
			oc := olds[name{t.Family, t.Name, pc.Name}]
			if oc == nil {
				continue
			}
			cp := &chainPairs{old: oc, byKey: true}
			keyed += cp.pairKeys(oc.at, b.chains[pc].at)
			out[pc] = cp
		}
	}
	if b.opts.noReuse {
		keyed = 0
	}
	for pc, cp := range out {
		if keyed == 0 {
			// No key in common: the skeleton changed (or there are no
			// keys). Pair every rule by its text.
			cp.byKey, cp.pre, cp.suf = false, 0, 0
			for i := range cp.of {
				cp.of[i] = -1
			}
			cp.pairTexts(pc.Rules, b.chains[pc].at, false)
			continue
		}
		if cp.zeros {
			cp.pairTexts(pc.Rules, b.chains[pc].at, true)
		}
	}
	b.stats.KeyPaired = keyed
	return out
}

// pairKeys pairs the rules of a chain by non-zero key and occurrence
// with the old chain's: positionally over the longest common prefix and
// suffix, and by occurrence for the keys found between them. It returns
// the number of pairs.
func (cp *chainPairs) pairKeys(olds, news []ruleAt) int {
	m, n := len(olds), len(news)
	cp.of = make([]int32, n)
	same := func(i, j int) bool { k := olds[i].key; return !k.IsZero() && k == news[j].key }
	p := 0
	for p < m && p < n && same(p, p) {
		p++
	}
	s := 0
	for s < m-p && s < n-p && same(m-1-s, n-1-s) {
		s++
	}
	cp.pre, cp.suf = p, s
	// The keys of the middles (the rules between prefix and suffix, on
	// either side): only their occurrences can pair other than by place.
	// A key found in neither middle occurs in the prefix and suffix
	// alone, in the same order on both sides.
	mid := keySet{}
	for i := p; i < m-s; i++ {
		mid.add(olds[i].key)
	}
	for j := p; j < n-s; j++ {
		mid.add(news[j].key)
	}
	pairs := 0
	for j := range cp.of {
		cp.of[j] = -1
	}
	// Rules without a key pair by text, if both sides have some.
	zo, zn := false, false
	for i := p; i < m-s; i++ {
		zo = zo || olds[i].key.IsZero()
	}
	for j := p; j < n-s; j++ {
		zn = zn || news[j].key.IsZero()
	}
	cp.zeros = zo && zn
	if mid.len() == 0 {
		for j := 0; j < p; j++ {
			cp.of[j] = int32(j)
		}
		for y := 0; y < s; y++ {
			cp.of[n-s+y] = int32(m - s + y)
		}
		return p + s
	}
	// Occurrences of the middles' keys on the old side, in order.
	occ := make([][]int32, mid.len())
	for i := range olds {
		if k := mid.find(olds[i].key); k >= 0 {
			occ[k] = append(occ[k], int32(i))
		}
	}
	next := make([]int, mid.len())
	for j := range news {
		k := news[j].key
		if k := mid.find(k); k >= 0 {
			if next[k] < len(occ[k]) {
				cp.of[j] = occ[k][next[k]]
				pairs++
			}
			next[k]++
			continue
		}
		if k.IsZero() {
			continue
		}
		switch {
		case j < p:
			cp.of[j] = int32(j)
			pairs++
		case j >= n-s:
			cp.of[j] = int32(j - n + m)
			pairs++
		}
	}
	return pairs
}

// pairTexts pairs the rules of the new chain not paired yet (only those
// without a key when zeros) with the old chain's rules of the same kind
// not paired yet, by printed text and occurrence.
func (cp *chainPairs) pairTexts(news []*parser.Rule, at []ruleAt, zeros bool) {
	olds := cp.old.at
	var taken []bool
	byText := map[string][]int32{}
	for i := range olds {
		if zeros && !olds[i].key.IsZero() {
			continue
		}
		if taken == nil {
			taken = make([]bool, len(olds))
			for _, o := range cp.of {
				if o >= 0 {
					taken[o] = true
				}
			}
		}
		if taken[i] {
			continue
		}
		t := cp.old.rules[i].info.Text()
		byText[t] = append(byText[t], int32(i))
	}
	if len(byText) == 0 {
		return
	}
	for j, r := range news {
		if zeros && !at[j].key.IsZero() || cp.of[j] >= 0 {
			continue
		}
		t := parser.FormatRule(r)
		if cp.texts == nil {
			cp.texts = make([]*string, len(news))
		}
		cp.texts[j] = &t
		if l := byText[t]; len(l) > 0 {
			cp.of[j] = l[0]
			byText[t] = l[1:]
		}
	}
}

// keySet is a small set of non-zero keys, each with its number in the
// order added; a map once it grows.
type keySet struct {
	list []parser.RuleKey
	m    map[parser.RuleKey]int
	// bits has bit k[0]%64 of every key k: most keys are not in the
	// set, and this says so without a search.
	bits uint64
}

func (s *keySet) len() int { return len(s.list) }

func (s *keySet) add(k parser.RuleKey) {
	if k.IsZero() || s.find(k) >= 0 {
		return
	}
	s.list = append(s.list, k)
	s.bits |= 1 << (k[0] % 64)
	if s.m != nil {
		s.m[k] = len(s.list) - 1
	} else if len(s.list) > 8 {
		s.m = make(map[parser.RuleKey]int, 2*len(s.list))
		for i, x := range s.list {
			s.m[x] = i
		}
	}
}

func (s *keySet) find(k parser.RuleKey) int {
	if s.bits&(1<<(k[0]%64)) == 0 {
		return -1
	}
	if s.m != nil {
		if i, ok := s.m[k]; ok {
			return i
		}
		return -1
	}
	for i, x := range s.list {
		if x == k {
			return i
		}
	}
	return -1
}
