package kernel

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/planner"
)

// What nfd's tables should hold and what the kernel holds, for the
// daemon's watch over them (hooks/watch.go).

// ExpectedObjects lists "family table chain" of what plans program.
func ExpectedObjects(plans []*planner.TablePlan) []string {
	var out []string
	for _, tp := range plans {
		fam := tp.Family.String()
		name := planner.KernelTableName(tp.Name)
		out = append(out, fam+" "+name)
		for _, cp := range tp.Chains {
			out = append(out, fam+" "+name+" "+cp.Name)
			if cp.Queue && cp.BypassBit != 0 {
				out = append(out, fam+" "+name+" "+planner.BypassChainPrefix+cp.Name)
			}
			for _, cc := range cp.ContChains {
				out = append(out, fam+" "+name+" "+cc.Name)
			}
		}
		if tp.DNS != nil {
			for _, dc := range planner.DNSChains() {
				out = append(out, fam+" "+name+" "+dc.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Objects lists "family table chain" of nfd's tables and chains in the
// kernel.
func Objects(c *nftables.Conn) ([]string, error) {
	out, err := OwnedTables(c)
	if err != nil {
		return nil, err
	}
	chains, err := c.ListChains()
	if err != nil {
		return nil, err
	}
	for _, ch := range chains {
		if strings.HasPrefix(ch.Table.Name, planner.TablePrefix) {
			out = append(out, familyName(ch.Table.Family)+" "+ch.Table.Name+" "+ch.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// RulesChanged reports whether some chain of nfd's holds another number
// of rules than plans put there (another tool deleted or added one).
func RulesChanged(c *nftables.Conn, plans []*planner.TablePlan) (string, bool) {
	for _, tp := range plans {
		count := func(chain string, want int) (string, bool) {
			rules, err := nlbatch.DumpRules(c.NetNS, byte(tp.Kernel.Family), tp.Kernel.Name, chain)
			if err != nil || len(rules) != want {
				return fmt.Sprintf("%s %s %s: %d rules, want %d", tp.Family, tp.Kernel.Name, chain, len(rules), want), true
			}
			return "", false
		}
		for _, cp := range tp.Chains {
			if what, changed := count(cp.Name, cp.Layout().Total); changed {
				return what, true
			}
			if cp.Queue && cp.BypassBit != 0 {
				if what, changed := count(planner.BypassChainPrefix+cp.Name, 1); changed {
					return what, true
				}
			}
			for _, cc := range cp.ContChains {
				if what, changed := count(cc.Name, cc.Layout().Total); changed {
					return what, true
				}
			}
		}
		if tp.DNS != nil {
			for _, dc := range planner.DNSChains() {
				if what, changed := count(dc.Name, len(dc.Matches())); changed {
					return what, true
				}
			}
		}
	}
	return "", false
}
