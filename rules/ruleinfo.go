package rules

import (
	"strconv"
	"sync/atomic"

	"github.com/nfdproject/nfd/parser"
)

// RuleInfo names a rule for metrics, tracing and replay. An engine
// compiled with Options.Prev may share a RuleInfo with the previous
// engine when the rule is unchanged and at the same place (same handle,
// index and position): it is immutable once compiled.
type RuleInfo struct {
	Family  parser.Family
	Table   string
	Chain   string
	Handle  int
	Index   int // position in its chain
	Comment string
	Pos     parser.Pos
	// Counts are the packets that matched the whole rule.
	Counts *Counters
	// Userspace reports whether the rule needs nfd (a layer-7 match).
	Userspace bool
	// KernelOnly: only the kernel can evaluate the rule; nfd stops there
	// and the kernel goes on (Continue).
	KernelOnly bool
	// Final is the verdict the rule ends with when it is Accept, Drop or
	// Reject (0 otherwise); Hook is its base chain's hook when InBase.
	Final  Verdict
	Hook   parser.Hook
	InBase bool

	// The text is printed on first use from own, if set, else from the
	// rule at Index of the newest compile of the chain (lineage): a
	// RuleInfo shared by successive engines (reuse.go) keeps no replaced
	// ruleset; one the newest compile does not share gets own first.
	own     atomic.Pointer[parser.Rule]
	lineage *lineage
	text    atomic.Pointer[string]
	// stmts holds, per statement of the rule, the state of a `counter`
	// or `quota` statement (nil when the rule has neither). It carries
	// over a reload with the rule's counts.
	stmts []stmtState
}

// stmtState is the carried state of one statement.
type stmtState struct {
	ctr *Counters
	q   *quota
}

// Text is the rule's canonical nft text (parser.FormatRule), printed on
// first use: a load does not print its rules.
func (r *RuleInfo) Text() string {
	if p := r.text.Load(); p != nil {
		return *p
	}
	s := parser.FormatRule(r.source())
	r.text.Store(&s)
	return s
}

// source is the parsed rule r prints its text from.
func (r *RuleInfo) source() *parser.Rule {
	if p := r.own.Load(); p != nil {
		return p
	}
	return (*r.lineage.rules.Load())[r.Index]
}

// lineage is a chain's rules as its newest compile has them, shared by
// the successive compiles of the chain (by family, table and name).
type lineage struct {
	rules atomic.Pointer[[]*parser.Rule]
}

// cachedText is the text when it has been printed, else nil.
func (r *RuleInfo) cachedText() *string { return r.text.Load() }

// Label is the rule's comment, else its handle: the `rule` label of metrics.
func (r *RuleInfo) Label() string {
	if r == nil {
		return ""
	}
	if r.Comment != "" {
		return r.Comment
	}
	return strconv.Itoa(r.Handle)
}

// StmtCounter returns the counter of the i-th statement of a rule, for
// printing live values (nil if that statement is no counter).
func (e *Engine) StmtCounter(r *RuleInfo, i int) *Counters {
	if i < 0 || i >= len(r.stmts) {
		return nil
	}
	return r.stmts[i].ctr
}

// StmtQuotaUsed returns the bytes the i-th statement of a rule, a quota,
// has consumed, capped at the quota as the kernel lists them
// (nft_quota_do_dump) (false if that statement is no quota).
func (e *Engine) StmtQuotaUsed(r *RuleInfo, i int) (uint64, bool) {
	if i < 0 || i >= len(r.stmts) || r.stmts[i].q == nil {
		return 0, false
	}
	q := r.stmts[i].q
	return min(q.consumed.Load(), q.bytes), true
}
