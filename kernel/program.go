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
	c := b.Conn()
	for _, tp := range plans {
		t := c.AddTable(tp.Kernel)
		b.Tag(batchTag{tp: tp, what: "table"})
		chains := map[string]*nftables.Chain{}
		for _, cp := range tp.Chains {
			ch := &nftables.Chain{Name: cp.Name, Table: t}
			if bs := cp.Base; bs != nil {
				// The user's policy: `return` and the end of a `goto`
				// target fall to it, so it cannot be emulated by a rule.
				policy := nftables.ChainPolicyAccept
				if bs.Policy == parser.VerdictDrop {
					policy = nftables.ChainPolicyDrop
				}
				ch.Type = planner.ChainType(bs.Type)
				ch.Hooknum = nftables.ChainHookRef(nftables.ChainHook(bs.Hook))
				ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(bs.Priority))
				ch.Policy = &policy
			}
			// Adding an existing chain with the same hook updates it in
			// place (its policy, say) without re-registering the hook.
			chains[cp.Name] = c.AddChain(ch)
			b.Tag(batchTag{tp: tp, chain: cp.Name, what: "chain"})
			for _, cc := range cp.ContChains {
				chains[cc.Name] = c.AddChain(&nftables.Chain{Name: cc.Name, Table: t})
				b.Tag(batchTag{tp: tp, chain: cp.Name, what: "continuation chain " + cc.Name})
			}
			if cp.Queue && cp.BypassBit != 0 {
				// The copy chain runs right after this one at the same hook.
				bs := cp.Base
				prio := bs.Priority + 1
				policy := nftables.ChainPolicyAccept
				cc := c.AddChain(&nftables.Chain{Name: planner.BypassChainPrefix + cp.Name, Table: t, Type: nftables.ChainTypeFilter,
					Hooknum: nftables.ChainHookRef(nftables.ChainHook(bs.Hook)), Priority: nftables.ChainPriorityRef(nftables.ChainPriority(prio)),
					Policy: &policy})
				b.Tag(batchTag{tp: tp, chain: cp.Name, what: "flow-bypass chain"})
				c.AddRule(&nftables.Rule{Table: t, Chain: cc, Exprs: planner.BypassCopyExprs(cp.BypassBit)})
				b.Tag(batchTag{tp: tp, chain: cp.Name, what: "flow-bypass rule"})
			}
		}
		for _, ps := range tp.Sets {
			ps.Set.Table = t
			tag := batchTag{tp: tp, what: "anonymous set"}
			if !ps.Set.Anonymous {
				tag = batchTag{tp: tp, set: ps.Set.Name}
			}
			b.AddSet(ps.Set, ps.Elems, tag)
		}
		for _, cp := range tp.Chains {
			if cp.Dispatches() {
				ps := cp.DispatchSet()
				ps.Set.Table = t
				b.AddSet(ps.Set, ps.Elems, batchTag{tp: tp, chain: cp.Name, what: "continuation map"})
				c.AddRule(&nftables.Rule{Table: t, Chain: chains[cp.Name], Exprs: planner.DispatchExprs(cp.ContMask, ps.Set.Name, ps.Set.ID)})
				b.Tag(batchTag{tp: tp, chain: cp.Name, what: "continuation dispatch rule"})
			}
			programChain(b, mode, tp, t, chains[cp.Name], cp)
			for _, cc := range cp.ContChains {
				cc.QueueNum, cc.QueueTotal, cc.ContMask = cp.QueueNum, cp.QueueTotal, cp.ContMask
				programChain(b, mode, tp, t, chains[cc.Name], cc)
			}
		}
		if tp.DNS != nil {
			programDNS(b, mode, tp, t)
		}
	}
}

// programChain adds the rules of one chain, in its layout's order.
func programChain(b *nlbatch.Batch, mode QueueMode, tp *planner.TablePlan, t *nftables.Table, ch *nftables.Chain, cp *planner.ChainPlan) {
	add := func(exprs []expr.Any, tag batchTag) {
		tag.tp, tag.chain = tp, cp.Name
		b.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs}, tag)
	}
	for i, r := range cp.Rules {
		tag := batchTag{ref: &cp.Refs[i]}
		if cp.Refs[i].Chain == "" {
			tag = batchTag{what: "continuation jump"}
		}
		add(r, tag)
	}
	for _, r := range tail(cp, mode) {
		add(r.exprs, batchTag{ref: r.ref, what: r.what})
	}
}

// tailRule is one rule of a chain after its native prefix.
type tailRule struct {
	exprs []expr.Any
	ref   *planner.RuleRef
	what  string
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
			out = append(out, tailRule{exprs: r, ref: &cp.AfterRefs[i]})
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
// that already exist are updated in place: their rules flushed and added
// again, their named sets replaced, and only base chains whose hook,
// priority or type changed deleted and re-created. Keeping the hooks
// registered matters: unregistering one drops every packet still waiting
// in a queue for a verdict (nf_queue_nf_hook_drop), so a reload that
// re-created the tables would lose the packets in flight. The batch goes
// through nlbatch: one transaction of any size.
func ProgramPlans(c *nftables.Conn, mode QueueMode, plans []*planner.TablePlan) error {
	old, err := ownedTables(c)
	if err != nil {
		return fmt.Errorf("listing tables: %w", err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return fmt.Errorf("listing chains: %w", err)
	}
	b := nlbatch.New()
	bc := b.Conn()
	wanted := map[string]*planner.TablePlan{}
	for _, tp := range plans {
		wanted[tableKey(tp.Kernel)] = tp
	}
	existing := map[string]*nftables.Table{}
	for _, t := range old {
		if wanted[tableKey(t)] == nil {
			bc.DelTable(t)
			b.Tag(batchTag{what: "old table"})
			continue
		}
		existing[tableKey(t)] = t
		bc.FlushTable(t)
		b.Tag(batchTag{what: "old table"})
		sets, err := c.GetSets(t)
		if err != nil {
			return fmt.Errorf("listing sets: %w", err)
		}
		for _, s := range sets {
			if !s.Anonymous {
				bc.DelSet(s)
				b.Tag(batchTag{what: "old set"})
			}
		}
	}
	for _, ch := range chains {
		tk := tableKey(ch.Table)
		tp := wanted[tk]
		if tp == nil || existing[tk] == nil {
			continue
		}
		if kc := tp.ChainSpec(ch.Name); kc != nil && sameHook(kc, ch) {
			continue // stays registered; its rules were flushed
		}
		bc.DelChain(ch)
		b.Tag(batchTag{what: "old chain"})
	}
	programTables(b, mode, plans)
	return sendBatch(c, b)
}

// sendBatch commits b in c's network namespace as one transaction.
func sendBatch(c *nftables.Conn, b *nlbatch.Batch) error {
	msgs, tags, err := b.Messages()
	if err != nil {
		return err
	}
	if err := nlbatch.Send(c.NetNS, msgs, tags); err != nil {
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

// ReadKernelCounters reads every counter of plans in one dump per chain
// (nlbatch.DumpRules: large reads, only handles and counters decoded),
// finding each rule by the chain's layout.
func ReadKernelCounters(c *nftables.Conn, plans []*planner.TablePlan) KernelCounters {
	out := KernelCounters{Rules: map[planner.RuleRef][2]uint64{}}
	for _, tp := range plans {
		var all []*planner.ChainPlan
		for _, cp := range tp.Chains {
			all = append(append(all, cp), cp.ContChains...)
		}
		for _, cp := range all {
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
