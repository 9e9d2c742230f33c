package kernel

import (
	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/planner"
)

// ReadQueueCounters reads what `nfd status` shows of the kernel's
// counters: the packets plans' queue rules sent to nfd (Queued) and each
// base chain's policy count (Policies), not every rule's. Where nfd knows
// the handles of its rules (handles.go: nothing committed since its own
// batch), it asks for those few rules by handle, which costs the kernel
// a list walk per rule; a chain dump (ReadKernelCounters) costs it time
// quadratic in the chain's length, seconds at 10^5 rules. Otherwise, or
// when a read by handle fails, it reads as ReadKernelCounters does.
func ReadQueueCounters(c *nftables.Conn, plans []*planner.TablePlan) KernelCounters {
	if kc, ok := queueCountersByHandle(c, plans); ok {
		return kc
	}
	kc := ReadKernelCounters(c, plans)
	kc.Rules = map[planner.RuleRef][2]uint64{}
	return kc
}

func queueCountersByHandle(c *nftables.Conn, plans []*planner.TablePlan) (KernelCounters, bool) {
	out := KernelCounters{Rules: map[planner.RuleRef][2]uint64{}}
	tables, _, ok := knownHandles(c.NetNS)
	if !ok || tables == nil {
		return out, false
	}
	for _, tp := range plans {
		th := tables[tp]
		if th == nil {
			return out, false
		}
		for _, cp := range withContChains(tp) {
			l := cp.Layout()
			if l.Total == 0 {
				continue
			}
			hs := th.chains[cp.Name]
			if len(hs) != l.Total {
				return out, false
			}
			var want []uint64
			for i := l.Queue; i < l.Events; i++ {
				want = append(want, hs[i])
			}
			if cp.Base != nil {
				want = append(want, hs[l.Policy])
			}
			if len(want) == 0 {
				continue
			}
			rs, err := nlbatch.GetRules(c.NetNS, byte(tp.Kernel.Family), tp.Kernel.Name, cp.Name, want)
			if err != nil {
				return out, false
			}
			first := func(r nlbatch.Rule) uint64 {
				if len(r.Counters) > 0 {
					return r.Counters[0][0]
				}
				return 0
			}
			n := l.Events - l.Queue
			for _, r := range rs[:n] {
				out.Queued += first(r)
			}
			if cp.Base != nil {
				out.Policies = append(out.Policies, PolicyCount{Hook: cp.Base.Hook, Policy: cp.Base.Policy, Packets: first(rs[n])})
			}
		}
	}
	return out, true
}
