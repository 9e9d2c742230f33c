package kernel

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// programTables adds the tables, chains, sets and rules of plans to the
// batch on c.
func programTables(c *nftables.Conn, mode QueueMode, plans []*planner.TablePlan) {
	for _, tp := range plans {
		t := c.AddTable(tp.Kernel)
		chains := map[string]*nftables.Chain{}
		for _, cp := range tp.Chains {
			ch := &nftables.Chain{Name: cp.Name, Table: t}
			if b := cp.Base; b != nil {
				// The user's policy: `return` and the end of a `goto`
				// target fall to it, so it cannot be emulated by a rule.
				policy := nftables.ChainPolicyAccept
				if b.Policy == parser.VerdictDrop {
					policy = nftables.ChainPolicyDrop
				}
				ch.Type = planner.ChainType(b.Type)
				ch.Hooknum = nftables.ChainHookRef(nftables.ChainHook(b.Hook))
				ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(b.Priority))
				ch.Policy = &policy
			}
			// Adding an existing chain with the same hook updates it in
			// place (its policy, say) without re-registering the hook.
			chains[cp.Name] = c.AddChain(ch)
			if cp.Queue && cp.BypassBit != 0 {
				// The copy chain runs right after this one at the same hook.
				b := cp.Base
				prio := b.Priority + 1
				policy := nftables.ChainPolicyAccept
				cc := c.AddChain(&nftables.Chain{Name: planner.BypassChainPrefix + cp.Name, Table: t, Type: nftables.ChainTypeFilter,
					Hooknum: nftables.ChainHookRef(nftables.ChainHook(b.Hook)), Priority: nftables.ChainPriorityRef(nftables.ChainPriority(prio)),
					Policy: &policy})
				c.AddRule(&nftables.Rule{Table: t, Chain: cc, Exprs: planner.BypassCopyExprs(cp.BypassBit)})
			}
		}
		for _, ps := range tp.Sets {
			ps.Set.Table = t
			if err := c.AddSet(ps.Set, ps.Elems); err != nil {
				// AddSet only fails on malformed input, which the
				// translator never builds; the flush reports kernel errors.
				continue
			}
		}
		for _, cp := range tp.Chains {
			ch := chains[cp.Name]
			for _, r := range cp.Rules {
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
			}
			if cp.Queue && cp.BypassBit != 0 {
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: planner.BypassAcceptExprs(cp.BypassBit)})
			}
			if cp.Queue {
				bypass := cp.Base != nil && cp.Base.Policy == parser.VerdictAccept
				// The counter tells how many packets the kernel queued, so
				// overflow that failed open (which /proc does not count)
				// can be reported.
				queue := func(guard []expr.Any) {
					exprs := append(append(append([]expr.Any{}, guard...), planner.TrackExprs()...), &expr.Counter{})
					c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(exprs, queueExprs(mode, cp.QueueNum, cp.QueueTotal, bypass)...)})
				}
				if cp.Guards == nil {
					queue(nil)
				}
				for _, g := range cp.Guards {
					queue(g)
				}
				if cp.Guards != nil {
					// Connections that start here without meeting a guard
					// are not nfd's: ask the kernel for no conntrack events
					// about them (nft_ct's event mask, set while the entry
					// is unconfirmed), so nfd's destroy-event listener does
					// not cost every such connection an event.
					c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: planner.NoEventsExprs()})
				}
				for _, r := range cp.After {
					c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
				}
			}
			if cp.Base != nil {
				// Last, a bare counter: what reaches it gets the chain's
				// policy, natively (nftables counts no policy itself).
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{&expr.Counter{}}})
			}
		}
	}
}

// ProgramPlans makes nfd's tables what plans say, in one batch. Tables
// that already exist are updated in place: their rules flushed and added
// again, their named sets replaced, and only base chains whose hook,
// priority or type changed deleted and re-created. Keeping the hooks
// registered matters: unregistering one drops every packet still waiting
// in a queue for a verdict (nf_queue_nf_hook_drop), so a reload that
// re-created the tables would lose the packets in flight.
func ProgramPlans(c *nftables.Conn, mode QueueMode, plans []*planner.TablePlan) error {
	old, err := ownedTables(c)
	if err != nil {
		return fmt.Errorf("listing tables: %w", err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return fmt.Errorf("listing chains: %w", err)
	}
	wanted := map[string]*planner.TablePlan{}
	for _, tp := range plans {
		wanted[tableKey(tp.Kernel)] = tp
	}
	existing := map[string]*nftables.Table{}
	for _, t := range old {
		if wanted[tableKey(t)] == nil {
			c.DelTable(t)
			continue
		}
		existing[tableKey(t)] = t
		c.FlushTable(t)
		sets, err := c.GetSets(t)
		if err != nil {
			return fmt.Errorf("listing sets: %w", err)
		}
		for _, s := range sets {
			if !s.Anonymous {
				c.DelSet(s)
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
		c.DelChain(ch)
	}
	programTables(c, mode, plans)
	if err := c.Flush(); err != nil {
		return &CommitError{Err: err}
	}
	return nil
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

// ReadKernelCounters reads every counter of plans in one dump per chain,
// finding each rule by the chain's layout.
func ReadKernelCounters(c *nftables.Conn, plans []*planner.TablePlan) KernelCounters {
	out := KernelCounters{Rules: map[planner.RuleRef][2]uint64{}}
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			l := cp.Layout()
			if l.Total == 0 {
				continue
			}
			rs, err := c.GetRules(tp.Kernel, &nftables.Chain{Name: cp.Name, Table: tp.Kernel})
			if err != nil || len(rs) != l.Total {
				continue // being replaced, or changed by another tool
			}
			// counter returns the ord-th counter of the rule at i.
			counter := func(i, ord int) *expr.Counter {
				for _, e := range rs[i].Exprs {
					if ctr, ok := e.(*expr.Counter); ok {
						if ord == 0 {
							return ctr
						}
						ord--
					}
				}
				return &expr.Counter{}
			}
			for i := range cp.Rules {
				ctr := counter(i, cp.Ctr[i])
				out.Rules[cp.Refs[i]] = [2]uint64{ctr.Packets, ctr.Bytes}
			}
			for i := range cp.After {
				ctr := counter(l.After+i, cp.AfterCtr[i])
				out.Rules[cp.AfterRefs[i]] = [2]uint64{ctr.Packets, ctr.Bytes}
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
