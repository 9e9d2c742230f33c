package rules

import (
	"slices"

	"github.com/nfdproject/nfd/parser"
)

// Reusing compiled rules across a reload. A rule of the new ruleset with
// the same non-zero key as a rule of the previous engine's same chain
// (paired by occurrence, pairing.go) parses to equal statements in equal
// surroundings, so its compiled ops are the previous ones, except those
// that hold something of the engine rather than of the rule:
//
//   - a named set or map (@s): the new engine's set, whose element state
//     (timeouts, counters, run-time elements) is its own;
//   - a jump, goto or verdict map: the new engine's chains;
//   - `log`: the engine's rate-limited logger;
//   - `limit`: a token bucket, which starts full on every load;
//   - a named object (`counter name`, `quota name`, `limit name`): the
//     engine's object state, carried over by the object's name.
//
// Those statements are compiled again; the others (matches on values and
// anonymous sets, `counter`, `quota`, verdicts without a chain, marks,
// reject, nat) hold only constants or the rule's own carried state (its
// counters and consumed quota bytes, which a paired rule keeps anyway) and
// are shared. A rule only the kernel can evaluate is compiled afresh (its
// leading matches depend on the KernelOnly test). The RuleInfo is shared
// too when the rule keeps its handle, index and position, else a copy
// stamped with the new ones.

// shape is what compiling a rule made of it apart from its place: shared
// by successive engines while the rule's key stays.
type shape struct {
	// The rule's ops are its rule's (chain.rules). opIdx holds, per
	// statement, the index of its op (-1 for none);
	// nil when every statement's op may be shared.
	opIdx []int16
	ko    bool
	l7    bool // a match reads a layer-7 name
	// userspace: RuleInfo.Userspace.
	userspace bool
	jumps     bool // a verdict names a chain
	names     uint8
	guard     []guardVal // the rule's indexable guard matches (index.go)
}

// ReuseStats tells what a compile took from Options.Prev.
type ReuseStats struct {
	Rules int // rules compiled
	// KeyPaired rules were paired with a rule of Prev by key; Carried
	// kept the counters of a rule of Prev (by key or by text).
	KeyPaired, Carried int
	// Reused rules took their compiled form from Prev; SharedInfo of
	// them also their RuleInfo (same place).
	Reused, SharedInfo int
	// Indexes of chains patched from Prev's, and built afresh.
	IndexPatched, IndexBuilt int
}

// Reuse tells what the compile of e took from Options.Prev.
func (e *Engine) Reuse() ReuseStats { return e.stats }

// portable reports whether the compiled op of s may be shared by two
// engines (see above).
func portable(s parser.Stmt) bool {
	switch s := s.(type) {
	case *parser.Match:
		return s.Val.SetRef == ""
	case *parser.MarkSet:
		return s.Map == nil
	case *parser.Verdict:
		return s.Target == "" && s.Bound == nil
	case *parser.Counter, *parser.Quota, *parser.Reject, *parser.NAT, *parser.Notrack, *parser.CtCount,
		*parser.PayloadSet, *parser.KeySet, *parser.SynProxy, *parser.TProxy, *parser.Dup, *parser.SetUpdate:
		return true
	}
	return false
}

// ruleAt is a rule's key and place: pairing and reuse read them here,
// in order, rather than from the parsed rules all over the heap.
type ruleAt struct {
	key                     parser.RuleKey
	line, col, handle, file int32 // file: index in chain.files
}

// stamp records the key and place of pr, the i-th rule of c.
func (c *chain) stamp(i int, pr *parser.Rule) {
	f := len(c.files) - 1
	if f < 0 || c.files[f] != pr.Pos.File {
		f = slices.Index(c.files, pr.Pos.File)
		if f < 0 {
			f = len(c.files)
			c.files = append(c.files, pr.Pos.File)
		}
	}
	c.at[i] = ruleAt{pr.Key, int32(pr.Pos.Line), int32(pr.Pos.Col), int32(pr.Handle), int32(f)}
}

// samePlace reports whether the i-th rule of c and the j-th of o are at
// the same place (index, handle, file, line and column).
func samePlace(c *chain, i int, o *chain, j int) bool {
	a, b := &c.at[i], &o.at[j]
	return i == j && a.handle == b.handle && a.line == b.line && a.col == b.col && c.files[a.file] == o.files[b.file]
}

// newShape returns a zero shape, carved from a slab.
func (b *builder) newShape() *shape {
	s := b.shapes.take(1)[:1]
	return &s[0]
}

// reuse makes the i-th rule pr of chain c into r from the j-th rule of
// the previous engine's chain oc, with the same key, whose shape is osh.
// ok is false when the rule must be compiled afresh.
func (b *builder) reuse(t *parser.Table, pr *parser.Rule, c *chain, i int, oc *chain, j int, osh *shape, r *rule) (ok bool, err error) {
	or := &oc.rules[j]
	old, ops := or.info, or.ops
	if osh.opIdx != nil {
		if len(osh.opIdx) != len(pr.Stmts) {
			return false, nil
		}
		ops = slices.Clone(ops)
		for k, s := range pr.Stmts {
			if portable(s) {
				continue
			}
			o, _, err := b.compileStmt(t, s, nil)
			if err != nil {
				return false, err
			}
			x := osh.opIdx[k]
			if (x < 0) != (o.match == nil && o.exec == nil) {
				return false, nil
			}
			if x >= 0 {
				ops[x] = o
			}
		}
	}
	info := old
	if c.shared != nil && samePlace(c, i, oc, j) {
		// (Only when this chain continues the old one's lineage: a
		// shared RuleInfo prints from the lineage.)
		c.shared[j] = true
		b.stats.SharedInfo++
	} else {
		info = &RuleInfo{Family: old.Family, Table: old.Table, Chain: old.Chain, Handle: pr.Handle, Index: i, Comment: pr.Comment,
			Pos: pr.Pos, Counts: old.Counts, Userspace: old.Userspace, Final: old.Final, Hook: old.Hook, InBase: old.InBase,
			stmts: old.stmts, lineage: c.lineage}
		if p := old.cachedText(); p != nil {
			info.text.Store(p)
		}
	}
	b.stats.Reused++
	*r = rule{ops: ops, info: info, pre: -1}
	return true, nil
}

// kernelOnlyKept is the KernelOnly answer for rule pr of table t, reused
// from Prev whose answer was was: kept when the test depends on
// nothing that changed (kernel-only rules are never reused).
func (b *builder) kernelOnlyKept(t *parser.Table, pr *parser.Rule, was bool) bool {
	prev := b.opts.Prev
	switch {
	case b.e.koDefault && prev.koDefault:
		return was
	case b.e.koFacts != nil && prev.koFacts != nil:
		k := tableName{t.Family, t.Name}
		if f, ok := prev.koFacts[k]; ok && f == b.e.koFacts[k] {
			return was
		}
	}
	return b.opts.KernelOnly(t, pr)
}

// index makes chain c's index: the previous engine's patched where the
// chain changed little, else built afresh.
func (b *builder) index(c *chain, cp *chainPairs) (*index, *ixStats) {
	if cp != nil && cp.byKey && cp.old.ixs != nil {
		if idx, st, ok := patchIndex(cp.old, c.shapes, cp.pre, cp.suf); ok {
			b.stats.IndexPatched++
			return idx, st
		}
	}
	idx, st := buildIndex(c.shapes)
	if st != nil {
		b.stats.IndexBuilt++
	}
	return idx, st
}
