package planner

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// Placement is where a rule runs and why.
type Placement struct {
	Kernel bool
	// Both: the kernel runs the rule for the packets no queue guard takes
	// and nfd for the packets it is given (see hoist.go); counts add up.
	Both bool
	// Cont: a rule only the kernel can evaluate, after rules nfd runs;
	// nfd hands packets that reach it back to the kernel there
	// (continuation.go).
	Cont   bool
	Reason string // why it stays in userspace
}

func (p Placement) String() string {
	switch {
	case p.Cont:
		return "kernel"
	case p.Both:
		return "kernel+userspace"
	case p.Kernel:
		return "kernel"
	}
	return "userspace"
}

// ChainPlan is one kernel chain nfd creates.
type ChainPlan struct {
	Name string
	Base *parser.BaseSpec // nil for a regular chain
	// Rules are the native rules, in order: in a base chain, the rules
	// before its first userspace-only rule.
	Rules [][]expr.Any
	// Queue: the chain ends in a queue rule to QueueNum..+QueueTotal-1 and
	// nfd evaluates the user chain from rule Start on.
	Queue      bool
	Start      int
	QueueNum   uint16
	QueueTotal uint16
	// Refs name the native rules (parallel to Rules); Ctr is the ordinal,
	// among each native rule's counters, of the one nfd adds to read the
	// rule's matches back from the kernel.
	Refs []RuleRef
	Ctr  []int
	// Hashes, when as long as Rules, cache each native rule's hash for
	// the kernel's diff (nil: none); AfterHashes likewise for After.
	Hashes      []*ExprHash
	AfterHashes []*ExprHash
	// BypassBit is the mark bit of this chain's flow bypass, 0 for none;
	// Bypass[i] tells whether an accept by rule i bypasses its flow.
	BypassBit uint32
	Bypass    []bool
	// BypassNames[i] are the layer-7 names (1<<conntrack.Name*) a flow
	// must have before an accept by rule i bypasses it.
	BypassNames []uint8
	// EstablishedNative: the native prefix accepts every established
	// packet (parser.AcceptsEstablished), so once a TCP flow is answered
	// none of its packets reach the queue, and a bypass mark would buy
	// nothing and cost a verdict of its own.
	EstablishedNative bool
	// Guards, when set, replace the single queue rule: one queue rule per
	// userspace rule from Start on, each queueing only the packets that
	// could match that rule (its kernel-expressible matches). A packet no
	// guard takes cannot match any userspace rule, so the chain's other
	// rules from Start on run for it natively: After (with AfterRefs and
	// AfterCtr, like Rules), after the queue rules. nfd still evaluates
	// everything from Start for the packets it is given.
	Guards    [][]expr.Any
	After     [][]expr.Any
	AfterRefs []RuleRef
	AfterCtr  []int
	// Conts are the base chain's continuation points and ContChains the
	// kernel chains they go to (continuation.go); ContMask, set by the
	// daemon, is the mark bits that carry a continuation id. A chain with
	// kernel points starts with the dispatch rule.
	Conts      []*ContPoint
	ContChains []*ChainPlan
	ContMask   uint32
	// Rejects are the reject forms nfd hands to the kernel from this base
	// chain (rejectcont.go); their chains are among ContChains.
	Rejects []*RejectPoint
	// ReplyChain, of a queued output or postrouting chain, takes the
	// kernel's own replies to first packets natively (replychain.go).
	ReplyChain string
	// Of a continuation chain: the base chain it belongs to, and the id
	// its queue rule marks the packet with (where nfd resumes).
	Parent  *ChainPlan
	QueueID uint16
}

// Layout is where each part of a kernel chain nfd programs starts,
// in the order programTables writes them: the native prefix (Rules) from
// 0, then the bypass accept, the queue rule (or one per guard), the
// event-mask rule of guarded chains, the rules run after the guards
// (After), the policy counter of base chains; Total is the rule count.
type Layout struct {
	Dispatch, Prefix, Bypass, Queue, Events, After, Policy, Total int
}

// Dispatches reports whether the chain starts with the continuation
// dispatch rule.
func (cp *ChainPlan) Dispatches() bool {
	return cp.ContMask != 0 && (len(cp.KernelPoints()) > 0 || len(cp.Rejects) > 0)
}

func (cp *ChainPlan) Layout() Layout {
	var l Layout
	n := 0
	if cp.Dispatches() {
		n++
	}
	l.Prefix = n
	n += len(cp.Rules)
	l.Bypass = n
	if cp.Queue && cp.BypassBit != 0 {
		n++
	}
	l.Queue = n
	if cp.Queue {
		n += max(1, len(cp.Guards))
	}
	l.Events = n
	if cp.Guards != nil {
		n++
	}
	l.After = n
	n += len(cp.After)
	l.Policy = n
	if cp.Base != nil {
		n++
	}
	l.Total = n
	return l
}

// TablePlan is one of nfd's kernel tables.
type TablePlan struct {
	Family parser.Family
	Name   string // the user's table name
	Chains []*ChainPlan
	Sets   []PendingSet
	// Objects are the table's stateful objects only the kernel keeps
	// (ct helper, ct timeout, ct expectation, synproxy), programmed as
	// declared.
	Objects []*parser.Object
	Kernel  *nftables.Table
	// Dormant: the kernel table is programmed dormant
	// (NFT_TABLE_F_DORMANT), so none of its chains, queue rules
	// included, sees a packet.
	Dormant bool
	// DNS, when set, queues DNS messages for the table's `dns names` sets.
	DNS *DNSPlan
	// Reused and Translated count the rule translations taken from the
	// previous plans (PlanOptions.Prev) and those made.
	Reused, Translated int
	memo               *tableMemo
}

// addRule appends a native rule translated as x.
func (cp *ChainPlan) addRule(x *xlate, ref RuleRef) {
	cp.Rules = append(cp.Rules, x.counted)
	cp.Refs = append(cp.Refs, ref)
	cp.Ctr = append(cp.Ctr, x.ord)
	cp.Hashes = append(cp.Hashes, x.hash)
}

// addOther appends a native rule of nfd's own (no user rule).
func (cp *ChainPlan) addOther(exprs []expr.Any) {
	cp.Rules = append(cp.Rules, exprs)
	cp.Refs = append(cp.Refs, RuleRef{})
	cp.Ctr = append(cp.Ctr, -1)
	cp.Hashes = append(cp.Hashes, nil)
}

// Offload modes.
const (
	OffloadAuto = "auto"
	OffloadNone = "none"
)

// PlanRuleset decides, for every rule, whether it runs natively, and lays
// out nfd's kernel tables. With offload none every filter chain queues all
// its packets; NAT and route chains always run natively (and must).
// placements are keyed by table family, table, chain and rule index.
func PlanRuleset(rs *parser.Ruleset, offload string) ([]*TablePlan, map[RuleRef]Placement, error) {
	plans, pl, err := PlanRulesetWith(rs, offload, PlanOptions{})
	if err != nil {
		return nil, nil, err
	}
	return plans, pl.Map(), nil
}

// PlanRulesetWith is PlanRuleset reusing, with opts.Prev, the previous
// plans' translations of rules with the same non-zero key (memo.go). The
// plans are those PlanRuleset gives, but for set IDs (fresh per plan).
func PlanRulesetWith(rs *parser.Ruleset, offload string, opts PlanOptions) ([]*TablePlan, *Placements, error) {
	placements := newPlacements(rs)
	type tkey struct {
		f    parser.Family
		name string
	}
	prev := map[tkey]*tableMemo{}
	for _, tp := range opts.Prev {
		if tp.memo != nil {
			prev[tkey{tp.Family, tp.Name}] = tp.memo
		}
	}
	var plans []*TablePlan
	ids := &contIDs{}
	for _, t := range rs.Tables {
		tp, err := planTable(t, offload, placements, ids, prev[tkey{t.Family, t.Name}])
		if err != nil {
			return nil, nil, err
		}
		plans = append(plans, tp)
	}
	if err := numberRejects(plans, ids); err != nil {
		return nil, nil, err
	}
	if err := checkKernelOnly(rs, plans, placements); err != nil {
		return nil, nil, err
	}
	return plans, placements, nil
}

// Error is what a ruleset cannot be planned for, at its position.
type Error struct {
	Pos parser.Pos
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

func errorf(pos parser.Pos, format string, args ...any) error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// RuleRef names a rule by position.
type RuleRef struct {
	Family parser.Family
	Table  string
	Chain  string
	Index  int
}

// maxNameLen is the longest table, chain or set name the kernel takes
// (NFT_TABLE_MAXNAMELEN and friends, 256 with the terminating NUL).
const maxNameLen = 255

func planTable(t *parser.Table, offload string, placements *Placements, ids *contIDs, prev *tableMemo) (*TablePlan, error) {
	if n := len(KernelTableName(t.Name)); n > maxNameLen {
		return nil, errorf(t.Pos, "table name `%s` is too long for nfd: its kernel table %s… would have %d bytes, the kernel takes %d; shorten it to %d",
			t.Name[:16]+"…", KernelTableName(t.Name)[:20], n, maxNameLen, maxNameLen-len(TablePrefix))
	}
	for _, c := range t.Chains {
		if n := len(BypassChainPrefix + c.Name); c.Base != nil && n > maxNameLen {
			return nil, errorf(c.Pos, "chain name `%s` is too long for nfd: its flow-bypass chain would have %d bytes, the kernel takes %d; shorten it to %d",
				c.Name[:16]+"…", n, maxNameLen, maxNameLen-len(BypassChainPrefix))
		}
	}
	kt := &nftables.Table{Name: KernelTableName(t.Name), Family: TableFamily(t.Family)}
	memo := newTableMemo(t, prev)
	kf := tableFactsOf(memo)
	memo.kf = kf
	native := map[string]bool{}
	if offload == OffloadAuto {
		native = nativeChains(t, kt, kf, memo, prev)
	}
	tr := &translator{t: t, kt: kt, sets: map[string]*nftables.Set{}, native: native, kf: kf, memo: memo, prev: prev}
	tp := &TablePlan{Family: t.Family, Name: t.Name, Kernel: kt, Dormant: t.Dormant, memo: memo}
	for _, c := range t.Chains {
		cp := &ChainPlan{Name: c.Name, Base: c.Base}
		forced := c.Base != nil && c.Base.Type != parser.ChainFilter
		switch {
		case c.Base == nil && !native[c.Name]:
			// A userspace regular chain: nfd evaluates it when a userspace
			// rule jumps there; nothing in the kernel.
			for i := range c.Rules {
				err := tr.check(c, i)
				placements.set(RuleRef{t.Family, t.Name, c.Name, i}, Placement{Reason: reasonOf(err, "its chain is not wholly kernel-expressible")})
			}
			continue
		case offload != OffloadAuto && !forced:
			cp.Queue = c.Base != nil
			// Kernel-only rules at the head of a base chain still run
			// natively: nfd cannot evaluate them, and before any rule
			// nfd runs they keep first-match order.
			if cp.Queue {
				for i := range c.Rules {
					if !tr.ko(c, i) {
						break
					}
					x, err := tr.ruleAt(c, i)
					if err != nil {
						break
					}
					ref := RuleRef{t.Family, t.Name, c.Name, i}
					cp.addRule(x, ref)
					placements.set(ref, Placement{Kernel: true})
					cp.Start = i + 1
				}
				cp.Bypass, cp.BypassNames = bypassRules(c, cp.Start)
				for _, r := range c.Rules[:cp.Start] {
					if parser.AcceptsEstablished(r) {
						cp.EstablishedNative = true
					}
				}
			}
			for i := cp.Start; i < len(c.Rules); i++ {
				placements.set(RuleRef{t.Family, t.Name, c.Name, i}, Placement{Reason: "--offload=none"})
			}
			if c.Base != nil {
				if err := tr.continuations(c, cp, true, ids, placements); err != nil {
					return nil, err
				}
				if err := tr.rejectChains(c, cp); err != nil {
					return nil, err
				}
				tr.replyChain(c, cp, placements)
				tp.Chains = append(tp.Chains, cp)
			}
			continue
		}
		stopped := false
		cp.Rules = make([][]expr.Any, 0, len(c.Rules))
		cp.Refs = make([]RuleRef, 0, len(c.Rules))
		cp.Ctr = make([]int, 0, len(c.Rules))
		cp.Hashes = make([]*ExprHash, 0, len(c.Rules))
		for i, r := range c.Rules {
			ref := RuleRef{t.Family, t.Name, c.Name, i}
			if stopped {
				continue // placed below
			}
			x, err := tr.ruleAt(c, i)
			if err != nil {
				if forced {
					return nil, errorf(r.Pos, "%s chain `%s` runs only in the kernel, but this rule cannot: %v", c.Base.Type, c.Name, err)
				}
				stopped = true
				cp.Start = i
				placements.set(ref, Placement{Reason: err.Error()})
				continue
			}
			cp.addRule(x, ref)
			placements.set(ref, Placement{Kernel: true})
		}
		if stopped {
			if !tr.hoist(c, cp, placements) {
				for i := cp.Start + 1; i < len(c.Rules); i++ {
					err := tr.check(c, i)
					placements.set(RuleRef{t.Family, t.Name, c.Name, i}, Placement{Reason: reasonOf(err, "follows a userspace rule, so it runs after it to keep first-match order")})
				}
			}
			cp.Queue = true
			cp.Bypass, cp.BypassNames = bypassRules(c, cp.Start)
			for _, r := range c.Rules[:cp.Start] {
				if parser.AcceptsEstablished(r) {
					cp.EstablishedNative = true
				}
			}
			if err := tr.continuations(c, cp, false, ids, placements); err != nil {
				return nil, err
			}
			if err := tr.rejectChains(c, cp); err != nil {
				return nil, err
			}
			tr.replyChain(c, cp, placements)
		}
		tp.Chains = append(tp.Chains, cp)
	}
	tp.Sets = tr.pending
	packNamedSets(t, tp.Sets)
	for _, o := range t.Objects {
		if parser.KernelObjType(o.Kind) != 0 {
			tp.Objects = append(tp.Objects, o)
		}
	}
	dns, err := dnsPlan(t)
	if err != nil {
		return nil, err
	}
	tp.DNS = dns
	tp.Reused, tp.Translated = memo.reused, memo.translated
	memo.done()
	return tp, nil
}

// withCounter adds a counter where the rule has matched: before its
// terminal statement (verdict, reject, NAT, verdict map, synproxy,
// tproxy), else at its end.
// It returns the counter's ordinal among the rule's counters.
func withCounter(exprs []expr.Any, r *parser.Rule) ([]expr.Any, int) {
	at := len(exprs)
	if n := len(r.Stmts); n > 0 {
		switch r.Stmts[n-1].(type) {
		case *parser.Verdict, *parser.Reject, *parser.NAT, *parser.VMap, *parser.SynProxy, *parser.TProxy:
			// The terminal statement's expressions start after the last
			// match or statement expression; find the first expression of
			// the tail that ends the rule.
			at = terminalStart(exprs, r.Stmts[n-1])
		}
	}
	ord := 0
	for _, e := range exprs[:at] {
		if _, ok := e.(*expr.Counter); ok {
			ord++
		}
	}
	// The rule's own `counter` right there already counts what nfd's
	// would (`... counter drop`, `... counter`): use it. One counter less
	// per rule is one per-CPU allocation less in the kernel (a 10^5-rule
	// load spends ~7% of nft's time on the second). A counter written with
	// starting values (`counter packets 5 bytes 80`) counts from them, so
	// it is not the rule's count.
	if at > 0 {
		if c, ok := exprs[at-1].(*expr.Counter); ok && c.Packets == 0 && c.Bytes == 0 {
			return exprs, ord - 1
		}
	}
	out := make([]expr.Any, 0, len(exprs)+1)
	out = append(out, exprs[:at]...)
	out = append(out, &expr.Counter{})
	return append(out, exprs[at:]...), ord
}

// terminalStart finds where the expressions of the final statement begin.
func terminalStart(exprs []expr.Any, s parser.Stmt) int {
	n := len(exprs)
	switch s.(type) {
	case *parser.Verdict:
		return n - 1
	case *parser.Reject:
		// optional dependency (meta + cmp) then the reject
		i := n - 1
		if i >= 2 {
			if _, ok := exprs[i-1].(*expr.Cmp); ok {
				if _, ok := exprs[i-2].(*expr.Meta); ok {
					return i - 2
				}
			}
		}
		return i
	case *parser.VMap:
		// load(s) then the lookup: count before the lookup (a miss is
		// counted as a match too)
		return n - 1
	case *parser.SynProxy, *parser.TProxy:
		// synproxy answers a SYN and steals it (NF_STOLEN), tproxy
		// breaks the rule when it finds no socket: count before, where
		// the rule has matched (its own registers are set just before
		// it, and a counter does not touch them)
		return n - 1
	case *parser.NAT:
		i := n - 1
		for i > 0 {
			if _, ok := exprs[i-1].(*expr.Immediate); !ok {
				break
			}
			i--
		}
		return i
	}
	return n
}

func reasonOf(err error, def string) string {
	var nn *notNative
	if errors.As(err, &nn) {
		return nn.reason
	}
	return def
}

// ChainSpec returns the chain spec a plan gives name: the chain itself or
// a flow-bypass copy chain.
func (tp *TablePlan) ChainSpec(name string) *nftables.Chain {
	for _, cp := range tp.Chains {
		if cp.Name == name {
			return cp.kernelSpec(cp.Base, 0)
		}
		for _, cc := range cp.ContChains {
			if cc.Name == name {
				return &nftables.Chain{Name: name}
			}
		}
		if cp.Queue && cp.BypassBit != 0 && name == BypassChainPrefix+cp.Name {
			return cp.kernelSpec(cp.Base, 1)
		}
	}
	for _, dc := range DNSChains() {
		if tp.DNS != nil && name == dc.Name {
			return dc.Spec()
		}
	}
	return nil
}

func (cp *ChainPlan) kernelSpec(b *parser.BaseSpec, prioOffset int) *nftables.Chain {
	ch := &nftables.Chain{Name: cp.Name}
	if b == nil {
		return ch
	}
	ch.Type = ChainType(b.Type)
	if prioOffset != 0 {
		ch.Type = nftables.ChainTypeFilter
	}
	ch.Hooknum = nftables.ChainHookRef(nftables.ChainHook(b.Hook))
	ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(b.Priority + prioOffset))
	return ch
}

// ChainType is the kernel's type of a base chain.
func ChainType(t parser.ChainType) nftables.ChainType {
	return map[parser.ChainType]nftables.ChainType{parser.ChainFilter: nftables.ChainTypeFilter,
		parser.ChainNAT: nftables.ChainTypeNAT, parser.ChainRoute: nftables.ChainTypeRoute}[t]
}

// nativeChains finds the regular chains that can be native: all of their
// rules translate, and they jump only to native chains. Each chain is
// translated once with every regular chain assumed native, recording the
// chains its rules jump to (translator.targets); a chain that fails is
// not native, and neither is any chain that jumps to one that is not,
// found by walking the jumps backwards. That is the greatest fixpoint the
// rule "native iff every rule translates" has, in time linear in the
// rules and jumps: a rule's translation depends on the other chains only
// through checkTarget, which fails exactly when a target is not native.
func nativeChains(t *parser.Table, kt *nftables.Table, kf *tableFacts, memo, prev *tableMemo) map[string]bool {
	native := map[string]bool{}
	for _, c := range t.Chains {
		if c.Base == nil {
			native[c.Name] = true
		}
	}
	all := map[string]bool{}
	for k := range native {
		all[k] = true
	}
	callers := map[string][]string{} // target -> regular chains jumping there
	var failed []string
	for _, c := range t.Chains {
		if c.Base != nil {
			continue
		}
		jumps := map[string]bool{}
		tr := &translator{t: t, kt: kt, sets: map[string]*nftables.Set{}, native: all, kf: kf, targets: jumps, memo: memo, prev: prev}
		for i := range c.Rules {
			if _, err := tr.ruleAt(c, i); err != nil {
				failed = append(failed, c.Name)
				break
			}
		}
		for tg := range jumps {
			callers[tg] = append(callers[tg], c.Name)
		}
	}
	for len(failed) > 0 {
		n := failed[len(failed)-1]
		failed = failed[:len(failed)-1]
		if !native[n] {
			continue
		}
		native[n] = false
		failed = append(failed, callers[n]...)
	}
	return native
}
