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
	// key, file, line, col and handle are the rule's (pairing and
	// reuse read them here, in order, not from the parsed rules).
	key       parser.RuleKey
	file      string
	line, col int32
	handle    int32

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

// reuse makes the i-th rule pr of a chain into r and sh from or, the
// j-th rule of the previous engine's chain, with the same key, and its
// shape osh. ok is false when the rule must be compiled afresh.
func (b *builder) reuse(t *parser.Table, pr *parser.Rule, i, j int, or *rule, osh *shape, r *rule, sh *shape) (ok bool, err error) {
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
	if sh.handle != osh.handle || i != j || sh.line != osh.line || sh.col != osh.col || sh.file != osh.file {
		info = &RuleInfo{Family: old.Family, Table: old.Table, Chain: old.Chain, Handle: pr.Handle, Index: i, Comment: pr.Comment,
			Pos: pr.Pos, Counts: old.Counts, Userspace: old.Userspace, Final: old.Final, Hook: old.Hook, InBase: old.InBase,
			src: pr, stmts: old.stmts}
		if p := old.cachedText(); p != nil {
			info.text.Store(p)
		}
	} else {
		b.stats.SharedInfo++
	}
	b.stats.Reused++
	sh.take(osh)
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

// stamp records pr's key and place in its shape.
func (sh *shape) stamp(pr *parser.Rule) {
	sh.key, sh.file, sh.line, sh.col, sh.handle = pr.Key, pr.Pos.File, int32(pr.Pos.Line), int32(pr.Pos.Col), int32(pr.Handle)
}

// take copies o's compiled form (all but the key and place) into sh.
func (sh *shape) take(o *shape) {
	key, file, line, col, handle := sh.key, sh.file, sh.line, sh.col, sh.handle
	*sh = *o
	sh.key, sh.file, sh.line, sh.col, sh.handle = key, file, line, col, handle
}

// clear empties sh's compiled form, keeping its key and place.
func (sh *shape) clear() { sh.take(&shape{}) }

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
