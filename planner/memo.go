package planner

import (
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// Reuse across reloads. A rule's translation (translator.rule: its
// kernel expressions, the anonymous sets it binds, whether it translates
// at all and why not) depends on the rule, on its table's declarations,
// and on three things the rest of the ruleset decides: whether the chains
// it jumps to are native (checkTarget), which named sets the table's
// translator has already made (and whether their lookups convert the key
// to big-endian), and the set IDs handed out so far. A parser.RuleKey
// pins the first two (equal non-zero keys: equal statements in equal
// declarations), so a translation records the third as it is made (the
// targets it checked, the named sets it looked up) and a later plan
// reuses it for a rule with the same key when those reads give the same
// answers, after giving its sets fresh IDs. A translation that made a
// named set, or an object map, is not reused: it is made again.
//
// Everything positional (rule refs and indices, counters' ordinals among
// the plan's rules, continuation points and chains, placements, guards,
// queue and dispatch rules) is laid out by the whole-chain passes as
// without reuse: only the per-rule translation is taken.

// PlanOptions are PlanRulesetWith's options.
type PlanOptions struct {
	// Prev are the plans of the ruleset loaded before (its
	// PlanRuleset or PlanRulesetWith); rules with the same non-zero key
	// reuse their translations.
	Prev []*TablePlan
}

// ExprHash caches a hash of a native rule's expressions (the kernel
// package's rule key): a translation reused by a later plan carries it,
// so a diff against the previous plans hashes only the rules that were
// translated again. Safe for concurrent use.
type ExprHash struct {
	state atomic.Uint32 // 0 empty, 1 being written, 2 set
	sum   [16]byte
}

// Get returns the cached hash, if set.
func (h *ExprHash) Get() ([16]byte, bool) {
	if h == nil || h.state.Load() != 2 {
		return [16]byte{}, false
	}
	return h.sum, true
}

// Put caches sum; the first writer wins (every writer computes the same).
func (h *ExprHash) Put(sum [16]byte) {
	if h != nil && h.state.CompareAndSwap(0, 1) {
		h.sum = sum
		h.state.Store(2)
	}
}

// xlate is one translation of a rule, with what it read of its
// surroundings. It is never changed once made: plans share it.
type xlate struct {
	err error
	// counted is withCounter(exprs), ord the read-back counter's
	// ordinal among the rule's counters.
	counted []expr.Any
	ord     int
	// reads: what it read around it and the sets it made (nil: none).
	reads *xlateReads
	// fresh: the translation made a named set or an object map, so it
	// cannot be replayed without making them.
	fresh bool
	// plain: it translates and read nothing around it (no chains, no
	// sets): any plan can take it as it is.
	plain bool
	hash  *ExprHash
	own   ExprHash
}

// xlateReads is what a translation read of its surroundings, and the
// anonymous sets it made; few rules have any, so it is kept apart.
type xlateReads struct {
	// targets: the chains checkTarget asked about, and the answers.
	targets []targetRead
	// named: the named sets looked up, and what was found.
	named []namedRead
	// anon: the anonymous sets the rule made, in order, and whether
	// each one's lookups convert the key to big-endian (htonSets).
	anon     []PendingSet
	anonHton []bool
}

// recording is what translator.rule records while tr.rec is set.
type recording struct {
	xlateReads
	fresh bool
}

type targetRead struct {
	name   string
	native bool
}

type namedRead struct {
	name  string
	found bool
	id    uint32
	hton  bool
}

// tableMemo is what a table plan keeps of its rules' translations, for
// the next plan.
type tableMemo struct {
	chains map[string]*chainMemo
	order  []*chainMemo // as the table's chains
	kf     *tableFacts  // from the rules' facts (tableFactsOf)
	// reused and translated count the translations this plan took from
	// the previous one and those it made.
	reused, translated int
	// slab is where new translations are allocated, side by side: the
	// next plan reads them in order (and the kernel's diff their
	// hashes), which scattered over the heap would cost a cache miss
	// each.
	slab []xlate
}

// newXlate allocates a translation.
func (m *tableMemo) newXlate() *xlate {
	if m == nil {
		return &xlate{}
	}
	if len(m.slab) == 0 {
		m.slab = make([]xlate, 64)
	}
	x := &m.slab[0]
	m.slab = m.slab[1:]
	return x
}

// chainMemo holds, per rule of a user chain (by index), its key and the
// translations made of it (one per distinct environment, few).
type chainMemo struct {
	keys []parser.RuleKey
	// recs[i] is a translation of rule i, more[i] any others (made in
	// other surroundings: few rules have them).
	recs []*xlate
	more map[int32][]*xlate
	// facts are the rules' facts (rulefacts.go).
	facts []*ruleFacts
	// of this plan: pair[i] is the previous plan's rule that rule i
	// reuses (-1 none), prev that plan's memo of the chain.
	pair []int32
	prev *chainMemo
}

// newTableMemo starts the memo of table t for a plan, each chain paired
// with prev's, and finds the rules' facts (taken from prev where paired).
func newTableMemo(t *parser.Table, prev *tableMemo) *tableMemo {
	m := &tableMemo{chains: make(map[string]*chainMemo, len(t.Chains)), order: make([]*chainMemo, 0, len(t.Chains))}
	for _, c := range t.Chains {
		n := len(c.Rules)
		cm := &chainMemo{keys: make([]parser.RuleKey, n), recs: make([]*xlate, n), facts: make([]*ruleFacts, n)}
		for i, r := range c.Rules {
			cm.keys[i] = r.Key
		}
		if prev != nil {
			if pm := prev.chains[c.Name]; pm != nil {
				cm.prev = pm
				cm.pair = pairKeys(pm.keys, cm.keys)
			}
		}
		for i, r := range c.Rules {
			if cm.prev != nil && cm.pair[i] >= 0 {
				cm.facts[i] = cm.prev.facts[cm.pair[i]]
			} else {
				cm.facts[i] = factsOfRule(t, r)
			}
		}
		m.chains[c.Name] = cm
		m.order = append(m.order, cm)
	}
	return m
}

// done drops what the memo holds of the previous plan (the pairing):
// the next plan must not keep every earlier plan alive through it. The
// translations it took stay, each on its own.
func (m *tableMemo) done() {
	for _, cm := range m.order {
		cm.prev, cm.pair = nil, nil
	}
}

// memoFor is the memo of chain c.
func (tr *translator) memoFor(c *parser.Chain) *chainMemo {
	if tr.lastC != c {
		tr.lastC, tr.lastM = c, tr.memo.chains[c.Name]
	}
	return tr.lastM
}

// ko reports whether only the kernel can evaluate rule i of c
// (kernelOnly), from its facts.
func (tr *translator) ko(c *parser.Chain, i int) bool {
	if tr.memo == nil {
		return kernelOnly(tr.facts(), c.Rules[i])
	}
	return tr.memoFor(c).facts[i].kernelOnly(tr.facts())
}

// variants are the translations of rule i of this chain.
func (cm *chainMemo) variants(i int) []*xlate {
	if cm.recs[i] == nil {
		return nil
	}
	if more := cm.more[int32(i)]; more != nil {
		return append([]*xlate{cm.recs[i]}, more...)
	}
	return cm.recs[i : i+1]
}

func (cm *chainMemo) add(i int, x *xlate) {
	if cm.recs[i] == nil {
		cm.recs[i] = x
		return
	}
	if cm.more == nil {
		cm.more = map[int32][]*xlate{}
	}
	cm.more[int32(i)] = append(cm.more[int32(i)], x)
}

// pairKeys pairs the rules of a chain with the previous plan's rules of
// the same chain that have the same non-zero key: the common prefix and
// suffix by position, the rules between by occurrence (the k-th rule
// with a key there takes the k-th old one with it there). Each old rule
// pairs at most once. Linear, and without a map for what the prefix and
// suffix cover.
func pairKeys(old, new []parser.RuleKey) []int32 {
	pair := make([]int32, len(new))
	for i := range pair {
		pair[i] = -1
	}
	o0, n0, o1, n1 := 0, 0, len(old), len(new)
	for o0 < o1 && n0 < n1 && old[o0] == new[n0] && !new[n0].IsZero() {
		pair[n0] = int32(o0)
		o0++
		n0++
	}
	for o0 < o1 && n0 < n1 && old[o1-1] == new[n1-1] && !new[n1-1].IsZero() {
		pair[n1-1] = int32(o1 - 1)
		o1--
		n1--
	}
	if o0 == o1 || n0 == n1 {
		return pair
	}
	occ := make(map[parser.RuleKey][]int32, o1-o0)
	for i := o0; i < o1; i++ {
		if !old[i].IsZero() {
			occ[old[i]] = append(occ[old[i]], int32(i))
		}
	}
	for i := n0; i < n1; i++ {
		if q := occ[new[i]]; len(q) > 0 && !new[i].IsZero() {
			pair[i], occ[new[i]] = q[0], q[1:]
		}
	}
	return pair
}

// ruleAt translates rule i of chain c, reusing a translation of the
// previous plan (or of this one) that read the same surroundings. The
// result is shared: callers must not change it.
func (tr *translator) ruleAt(c *parser.Chain, i int) (*xlate, error) {
	if tr.memo == nil {
		x := tr.translate(c.Rules[i])
		return x, x.err
	}
	// The key from the memo's array: reading each rule's own would cost
	// a cache miss per rule.
	cm := tr.memoFor(c)
	if cm.keys[i].IsZero() {
		x := tr.translate(c.Rules[i])
		tr.memo.translated++
		return x, x.err
	}
	if cm.recs[i] == nil && cm.prev != nil {
		// Most rules: the previous plan's translation, as it is.
		if j := cm.pair[i]; j >= 0 {
			if x := cm.prev.recs[j]; x != nil && x.plain {
				cm.recs[i] = x
				tr.memo.reused++
				return x, nil
			}
		}
	}
	for _, x := range cm.variants(i) {
		if y, ok := tr.replay(x); ok {
			return y, y.err
		}
	}
	if cm.prev != nil {
		if j := cm.pair[i]; j >= 0 {
			for _, x := range cm.prev.variants(int(j)) {
				if y, ok := tr.replay(x); ok {
					tr.memo.reused++
					cm.add(i, y)
					return y, y.err
				}
			}
		}
	}
	x := tr.translate(c.Rules[i])
	tr.memo.translated++
	if !x.fresh {
		cm.add(i, x)
	}
	return x, x.err
}

// translate runs translator.rule on r, recording what it reads.
func (tr *translator) translate(r *parser.Rule) *xlate {
	x := tr.memo.newXlate()
	x.hash = &x.own
	n := len(tr.pending)
	rc := &tr.rc
	rc.targets, rc.named, rc.anon, rc.anonHton, rc.fresh = rc.targets[:0], rc.named[:0], nil, nil, false
	tr.rec = rc
	exprs, err := tr.rule(r)
	tr.rec = nil
	x.fresh = rc.fresh
	if err == nil {
		x.counted, x.ord = withCounter(exprs, r)
		for _, p := range tr.pending[n:] {
			if !p.Set.Anonymous || p.ObjType != 0 {
				x.fresh = true
			}
			rc.anon = append(rc.anon, p)
			rc.anonHton = append(rc.anonHton, tr.htonSets[p.Set.ID])
		}
	}
	x.err = err
	if len(rc.targets) > 0 || len(rc.named) > 0 || len(rc.anon) > 0 {
		x.reads = &xlateReads{targets: append([]targetRead(nil), rc.targets...), named: append([]namedRead(nil), rc.named...),
			anon: rc.anon, anonHton: rc.anonHton}
	}
	x.plain = err == nil && !x.fresh && x.reads == nil
	return x
}

// replay applies translation x here, if what it read reads the same:
// the chains it checked are native as they were, the named sets it
// found are there (and converted alike) and those it missed are not. It
// returns the translation with this plan's set IDs.
func (tr *translator) replay(x *xlate) (*xlate, bool) {
	if x.fresh {
		return nil, false
	}
	if x.reads == nil {
		return x, true
	}
	rd := x.reads
	for _, t := range rd.targets {
		if tr.native[t.name] != t.native {
			return nil, false
		}
	}
	var ids map[uint32]uint32
	for _, nr := range rd.named {
		s := tr.sets[nr.name]
		if (s != nil) != nr.found {
			return nil, false
		}
		if s == nil {
			continue
		}
		if tr.htonSets[s.ID] != nr.hton {
			return nil, false
		}
		if s.ID != nr.id {
			if ids == nil {
				ids = map[uint32]uint32{}
			}
			ids[nr.id] = s.ID
		}
	}
	if tr.targets != nil {
		for _, t := range rd.targets {
			tr.targets[t.name] = true
		}
	}
	if x.err != nil || (ids == nil && len(rd.anon) == 0) {
		return x, true
	}
	y := &xlate{ord: x.ord, hash: x.hash, reads: &xlateReads{targets: rd.targets, anonHton: rd.anonHton}}
	for k, p := range rd.anon {
		s := *p.Set
		s.ID = setIDs.Add(1)
		if ids == nil {
			ids = map[uint32]uint32{}
		}
		ids[p.Set.ID] = s.ID
		q := p
		q.Set = &s
		y.reads.anon = append(y.reads.anon, q)
		tr.pending = append(tr.pending, q)
		if rd.anonHton[k] {
			if tr.htonSets == nil {
				tr.htonSets = map[uint32]bool{}
			}
			tr.htonSets[s.ID] = true
		}
	}
	y.reads.named = make([]namedRead, len(rd.named))
	for k, nr := range rd.named {
		if nr.found {
			nr.id = ids[nr.id]
			if nr.id == 0 {
				nr.id = rd.named[k].id
			}
		}
		y.reads.named[k] = nr
	}
	y.counted = make([]expr.Any, len(x.counted))
	for k, e := range x.counted {
		y.counted[k] = withSetID(e, ids)
	}
	return y, true
}

// withSetID is e referring to set ids[old] instead of old.
func withSetID(e expr.Any, ids map[uint32]uint32) expr.Any {
	switch v := e.(type) {
	case *expr.Lookup:
		if id, ok := ids[v.SetID]; ok {
			c := *v
			c.SetID = id
			return &c
		}
	case *expr.Dynset:
		if id, ok := ids[v.SetID]; ok {
			c := *v
			c.SetID = id
			return &c
		}
	}
	return e
}

// lookupSet is tr.sets[name], recorded for replay.
func (tr *translator) lookupSet(name string) *nftables.Set {
	s := tr.sets[name]
	if tr.rec != nil {
		nr := namedRead{name: name, found: s != nil}
		if s != nil {
			nr.id, nr.hton = s.ID, tr.htonSets[s.ID]
		}
		tr.rec.named = append(tr.rec.named, nr)
	}
	return s
}

// ReuseStats counts the rule translations plans took from the previous
// plans and those they made.
func ReuseStats(plans []*TablePlan) (reused, translated int) {
	for _, tp := range plans {
		reused += tp.Reused
		translated += tp.Translated
	}
	return reused, translated
}
