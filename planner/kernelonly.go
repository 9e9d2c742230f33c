package planner

import (
	"fmt"

	"github.com/nfdproject/nfd/parser"
)

// kernelOnlyField reports the fields only the kernel can know: the field
// table says why (parser/fieldtable.go: `meta pkttype` is skb->pkt_type,
// which NFQUEUE does not deliver; fib, rt and socket are kernel lookups).
func kernelOnlyField(f parser.Field) bool { return f.KernelOnly() != "" }

// checkKernelOnly refuses a plan that would evaluate a kernel-only match in
// nfd: the rule must be placed wholly in the kernel. It runs after
// placement, so it names the rule and says why it landed in nfd.
func checkKernelOnly(rs *parser.Ruleset, placements map[RuleRef]Placement) error {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for i, r := range c.Rules {
				f, ok := readsKernelOnly(r)
				if !ok {
					continue
				}
				pl := placements[RuleRef{t.Family, t.Name, c.Name, i}]
				if pl.Kernel && !pl.Both {
					continue
				}
				why := pl.Reason
				if pl.Both {
					why = "it follows a userspace rule, so nfd runs it for the packets that rule's guard queues"
				}
				return fmt.Errorf("%s: `%s` is known only to the kernel (%s), but this rule would run in nfd: %s; move it before the first rule only nfd can run, or use --offload=auto", r.Pos, f, f.KernelOnly(), why)
			}
		}
	}
	return nil
}

func readsKernelOnly(r *parser.Rule) (parser.Field, bool) {
	for _, s := range r.Stmts {
		var keys []parser.Field
		switch s := s.(type) {
		case *parser.Match:
			keys = s.Keys
		case *parser.VMap:
			keys = s.Keys
		}
		for _, k := range keys {
			if kernelOnlyField(k) {
				return k, true
			}
		}
	}
	return 0, false
}
