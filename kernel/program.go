package kernel

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// batchTag says what a message of nfd's batch is about, so a message the
// kernel refuses names its rule (file:line:col) or set.
type batchTag struct {
	tp    *planner.TablePlan
	chain string
	set   string           // a named set's user name
	ref   *planner.RuleRef // a native rule
	what  string           // otherwise: "table", "chain", "queue rule", ...
}

// programTables adds the tables, chains, sets and rules of plans to the
// batch b.
func programTables(b *nlbatch.Batch, mode QueueMode, plans []*planner.TablePlan) {
	for _, tp := range plans {
		addTable(b, desired(mode, tp), nil)
	}
}

// addTable adds one whole table: the table, its chains, its sets, then
// the rules, each rule's anonymous sets right before it. With h, it
// returns the handles its rules take, by chain.
func addTable(b *nlbatch.Batch, wt *wantTable, h *handleGen) map[string][]uint64 {
	c := b.Conn()
	tp := wt.tp
	if tp.Dormant {
		b.MarkDormant(byte(tp.Kernel.Family), tp.Kernel.Name)
	}
	c.AddTable(tp.Kernel)
	b.Tag(batchTag{tp: tp, what: "table"})
	programObjects(b, tp, h)
	for _, wc := range wt.chains {
		// Adding an existing chain with the same hook updates it in
		// place (its policy, say) without re-registering the hook.
		c.AddChain(wc.spec)
		b.Tag(wc.tag)
		h.take()
	}
	for _, ps := range wt.named {
		if ps.ObjType != 0 {
			b.MarkObjMap(ps.Set.ID, ps.ObjType)
		}
		addNamedSet(b, &ps, batchTag{tp: tp, set: ps.Set.Name})
		h.take()
	}
	for _, ps := range wt.loose {
		if ps.ObjType != 0 {
			b.MarkObjMap(ps.Set.ID, ps.ObjType)
		}
		b.AddSet(ps.Set, ps.Elems, batchTag{tp: tp, what: "anonymous set"})
		h.take()
	}
	var handles map[string][]uint64
	if h != nil {
		handles = make(map[string][]uint64, len(wt.chains))
	}
	for _, wc := range wt.chains {
		var hs []uint64
		if h != nil {
			hs = make([]uint64, 0, len(wc.rules))
		}
		for i := range wc.rules {
			hd := addRule(b, tp, wc, &wc.rules[i], 0, false, h)
			if h != nil {
				hs = append(hs, hd)
			}
		}
		if h != nil {
			handles[wc.spec.Name] = hs
		}
	}
	return handles
}

// addRule adds a rule with its anonymous sets: appended to the chain
// (pos 0), after the rule with handle pos, or before it (before). It
// returns the rule's handle when h follows the table's.
func addRule(b *nlbatch.Batch, tp *planner.TablePlan, wc *wantChain, r *wantRule, pos uint64, before bool, h *handleGen) uint64 {
	for _, ps := range r.anon {
		what := "anonymous set"
		if r.tag.what == "continuation dispatch rule" {
			what = "continuation map"
		}
		if ps.ObjType != 0 {
			b.MarkObjMap(ps.Set.ID, ps.ObjType)
		}
		b.AddSet(ps.Set, ps.Elems, batchTag{tp: tp, chain: r.tag.chain, what: what})
		h.take()
	}
	rule := &nftables.Rule{Table: tp.Kernel, Chain: wc.spec, Exprs: r.exprs, Position: pos}
	if before {
		b.Conn().InsertRule(rule)
		b.Tag(r.tag)
	} else {
		b.AddRule(rule, r.tag) // appended without a position: laid out directly
	}
	return h.take()
}

// tailRule is one rule of a chain after its native prefix.
type tailRule struct {
	exprs []expr.Any
	ref   *planner.RuleRef
	what  string
	hash  *planner.ExprHash
}

// tail lists the rules of a chain after its native prefix, in the order
// of its layout (planner.ChainPlan.Layout): the bypass accept, the queue
// rule(s), the event-mask rule, the rules run after the guards, the policy
// counter.
func tail(cp *planner.ChainPlan, mode QueueMode) []tailRule {
	var out []tailRule
	if cp.Queue && cp.BypassBit != 0 {
		out = append(out, tailRule{exprs: planner.BypassAcceptExprs(cp.BypassBit), what: "flow-bypass rule"})
	}
	if cp.Queue {
		base := cp.Base
		if cp.Parent != nil {
			base = cp.Parent.Base
		}
		bypass := base != nil && base.Policy == parser.VerdictAccept
		// The counter tells how many packets the kernel queued, so
		// overflow that failed open (which /proc does not count) can be
		// reported.
		queue := func(guard []expr.Any) {
			exprs := append(append(append([]expr.Any{}, guard...), planner.TrackExprs()...), &expr.Counter{})
			if cp.QueueID != 0 {
				// nfd resumes where this continuation chain stops.
				exprs = append(exprs, planner.ContMarkExprs(cp.ContMask, planner.ContValue(cp.QueueID, cp.ContMask))...)
			}
			out = append(out, tailRule{exprs: append(exprs, queueExprs(mode, cp.QueueNum, cp.QueueTotal, bypass)...), what: "queue rule"})
		}
		if cp.Guards == nil {
			queue(nil)
		}
		for _, g := range cp.Guards {
			queue(g)
		}
		if cp.Guards != nil {
			// Connections that start here without meeting a guard are
			// not nfd's: ask the kernel for no conntrack events about
			// them (nft_ct's event mask, set while the entry is
			// unconfirmed), so nfd's destroy-event listener does not cost
			// every such connection an event.
			out = append(out, tailRule{exprs: planner.NoEventsExprs(), what: "event-mask rule"})
		}
		for i, r := range cp.After {
			out = append(out, tailRule{exprs: r, ref: &cp.AfterRefs[i], hash: hashAt(cp.AfterHashes, len(cp.After), i)})
		}
	}
	if cp.Base != nil {
		// Last, a bare counter: what reaches it gets the chain's policy,
		// natively (nftables counts no policy itself).
		out = append(out, tailRule{exprs: []expr.Any{&expr.Counter{}}, what: "policy counter"})
	}
	return out
}

// ProgramPlans makes nfd's tables what plans say, in one batch. Tables
// that already exist are replaced in place (replaceTable), the others
// added or deleted. The batch goes through nlbatch: one transaction of
// any size.
func ProgramPlans(c *nftables.Conn, mode QueueMode, plans []*planner.TablePlan) error {
	old, err := ownedTables(c)
	if err != nil {
		return fmt.Errorf("listing tables: %w", err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return fmt.Errorf("listing chains: %w", err)
	}
	_, gen, genOK := knownHandles(c.NetNS)
	b := nlbatch.New()
	wanted := map[string]*planner.TablePlan{}
	for _, tp := range plans {
		wanted[tableKey(tp.Kernel)] = tp
	}
	existing := map[string]*nftables.Table{}
	for _, t := range old {
		if wanted[tableKey(t)] == nil {
			b.Conn().DelTable(t)
			b.Tag(batchTag{what: "old table"})
			continue
		}
		existing[tableKey(t)] = t
	}
	kernelChains := map[string][]*nftables.Chain{}
	for _, ch := range chains {
		k := tableKey(ch.Table)
		kernelChains[k] = append(kernelChains[k], ch)
	}
	handles := map[*planner.TablePlan]*tableHandles{}
	var wts []*wantTable
	for _, tp := range plans {
		k := tableKey(tp.Kernel)
		wt := desired(mode, tp)
		wts = append(wts, wt)
		if kt := existing[k]; kt != nil {
			if err := replaceTable(b, c, kt, kernelChains[k], wt); err != nil {
				return err
			}
			continue
		}
		h := &handleGen{}
		handles[tp] = &tableHandles{chains: addTable(b, wt, h)}
		handles[tp].hgen = h.last
	}
	// While the kernel commits (on one core, a second at 10^5 rules), the
	// other keys the rules for the next reload's diff (rulekey.go), which
	// would otherwise hash the whole running side first.
	if err := sendBatch(c, b, func() { warmKeys(wts) }); err != nil {
		forgetHandles(c.NetNS)
		return err
	}
	rememberHandles(c.NetNS, gen, genOK, handles)
	return nil
}

// warmKeys computes and caches the key of every rule of wts (in the
// plans' hash slots; a rule without one is keyed when diffed).
func warmKeys(wts []*wantTable) {
	for _, wt := range wts {
		k := newKeyer(wt)
		for _, wc := range wt.chains {
			_, _ = chainKeys(k, wc, 'o')
		}
	}
}

// sendBatch commits b in c's network namespace as one transaction.
// meanwhile, when set, runs beside the kernel's commit; sendBatch returns
// once both are done.
func sendBatch(c *nftables.Conn, b *nlbatch.Batch, meanwhile func()) error {
	msgs, tags, err := b.Messages()
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if meanwhile != nil {
			meanwhile()
		}
	}()
	err = nlbatch.Send(c.NetNS, msgs, tags)
	<-done
	if err != nil {
		return &CommitError{Err: err}
	}
	return nil
}

// newBatchFor lays plans out in a batch as a first load does.
func newBatchFor(plans []*planner.TablePlan) *nlbatch.Batch {
	b := nlbatch.New()
	programTables(b, QueueCompat, plans)
	return b
}

// CommitError is the kernel refusing a batch; nothing of it took effect.
type CommitError struct{ Err error }

func (e *CommitError) Error() string { return "nftables transaction: " + e.Err.Error() }
func (e *CommitError) Unwrap() error { return e.Err }

func tableKey(t *nftables.Table) string { return fmt.Sprintf("%d %s", t.Family, t.Name) }

func sameHook(want, have *nftables.Chain) bool {
	if (want.Hooknum == nil) != (have.Hooknum == nil) {
		return false
	}
	if want.Hooknum == nil {
		return true
	}
	return *want.Hooknum == *have.Hooknum && have.Priority != nil && *want.Priority == *have.Priority && want.Type == have.Type
}

// KernelCounters are the counters of nfd's own rules in the kernel.
type KernelCounters struct {
	// Rules are packets and bytes each native rule matched.
	Rules map[planner.RuleRef][2]uint64
	// Policies are packets each base chain's policy decided natively.
	Policies []PolicyCount
	// Queued are packets the queue rules sent to nfd since the tables were
	// programmed.
	Queued uint64
}

// PolicyCount is the packets a base chain's policy decided natively.
type PolicyCount struct {
	Hook    parser.Hook
	Policy  parser.VerdictKind
	Packets uint64
}

// withContChains lists tp's chains, each followed by its continuation
// chains: every kernel chain whose rules carry counters nfd reads.
func withContChains(tp *planner.TablePlan) []*planner.ChainPlan {
	var all []*planner.ChainPlan
	for _, cp := range tp.Chains {
		all = append(append(all, cp), cp.ContChains...)
	}
	return all
}

// ReadKernelCounters reads every counter of plans in one dump per chain
// (nlbatch.DumpRules: large reads, only handles and counters decoded),
// finding each rule by the chain's layout.
func ReadKernelCounters(c *nftables.Conn, plans []*planner.TablePlan) KernelCounters {
	out := KernelCounters{Rules: map[planner.RuleRef][2]uint64{}}
	for _, tp := range plans {
		for _, cp := range withContChains(tp) {
			l := cp.Layout()
			if l.Total == 0 {
				continue
			}
			rs, err := nlbatch.DumpRules(c.NetNS, byte(tp.Kernel.Family), tp.Kernel.Name, cp.Name)
			if err != nil || len(rs) != l.Total {
				continue // being replaced, or changed by another tool
			}
			// counter returns the ord-th counter of the rule at i.
			counter := func(i, ord int) *expr.Counter {
				if cs := rs[i].Counters; ord < len(cs) {
					return &expr.Counter{Packets: cs[ord][0], Bytes: cs[ord][1]}
				}
				return &expr.Counter{}
			}
			// add sums: a rule can run in the chain, after the guards
			// and in continuation chains.
			add := func(ref planner.RuleRef, ctr *expr.Counter) {
				if ref.Chain == "" {
					return // a continuation chain's jump
				}
				have := out.Rules[ref]
				out.Rules[ref] = [2]uint64{have[0] + ctr.Packets, have[1] + ctr.Bytes}
			}
			for i := range cp.Rules {
				if cp.Ctr[i] >= 0 {
					add(cp.Refs[i], counter(l.Prefix+i, cp.Ctr[i]))
				}
			}
			for i := range cp.After {
				add(cp.AfterRefs[i], counter(l.After+i, cp.AfterCtr[i]))
			}
			for i := l.Queue; i < l.Events; i++ {
				out.Queued += counter(i, 0).Packets
			}
			if cp.Base != nil {
				out.Policies = append(out.Policies, PolicyCount{Hook: cp.Base.Hook, Policy: cp.Base.Policy, Packets: counter(l.Policy, 0).Packets})
			}
		}
	}
	return out
}
