package planner

import (
	"fmt"

	"github.com/nfdproject/nfd/parser"
)

// kernelOnlyField reports the fields only the kernel can know: the field
// table says why (parser/fieldtable.go: `meta pkttype` is skb->pkt_type,
// which NFQUEUE does not deliver; fib, rt and socket are kernel lookups).
func kernelOnlyField(f parser.Field) bool { return f.KernelOnly() != "" }

// checkKernelOnly refuses a plan that would evaluate a kernel-only match or
// statement in nfd: the rule must be placed wholly in the kernel. It runs
// after placement, so it names the rule and says why it landed in nfd.
func checkKernelOnly(rs *parser.Ruleset, plans []*TablePlan, placements *Placements) error {
	for ti, t := range rs.Tables {
		memo := plans[ti].memo
		live := reachableOf(t, memo)
		upd := memo.kf.upd
		for _, c := range t.Chains {
			if !live[c.Name] {
				// No base chain reaches it: neither nft nor nfd ever
				// evaluates its rules (nft only validates them).
				continue
			}
			facts := memo.chains[c.Name].facts
			for i, r := range c.Rules {
				if !facts[i].kernelOnlyPart(upd) {
					continue
				}
				what, reason, f, ok := kernelOnlyPart(upd, r)
				if !ok {
					continue
				}
				pl := placements.get(RuleRef{t.Family, t.Name, c.Name, i})
				if pl.Kernel && (!pl.Both || pl.Cont) {
					continue
				}
				if f != 0 {
					if _, err := specOf(f, t.Family); err != nil {
						// Nowhere to move it: nfd cannot program it at all.
						return fmt.Errorf("%s: %s (%s), and nfd cannot program it in the kernel: %v", r.Pos, what, reason, err)
					}
				}
				why := pl.Reason
				if pl.Both {
					why = "it follows a userspace rule, so nfd runs it for the packets that rule's guard queues"
				}
				return fmt.Errorf("%s: %s (%s), but this rule would run in nfd: %s; move it before the first rule only nfd can run, or use --offload=auto", r.Pos, what, reason, why)
			}
		}
	}
	return nil
}

// kernelOnlyPart describes the first part of a rule only the kernel can
// run, and why: a field it reads, a statement (parser.KernelOnlyStmt, or
// one parser.KernelOnly gives a reason for), or a set that rules update
// in the kernel. upd are the rule's table's updated sets (updatedSets),
// computed once per table: per rule it would make planning quadratic.
func kernelOnlyPart(upd map[string]bool, r *parser.Rule) (what, why string, f parser.Field, ok bool) {
	if set := readsUpdatedSet(upd, r); set != "" {
		return fmt.Sprintf("`@%s` is updated by rules in the kernel", set),
			"add, update and delete run natively (nft_dynset), so only the kernel's copy of the set is current", 0, true
	}
	for _, s := range r.Stmts {
		for _, k := range stmtKeys(s) {
			if kernelOnlyField(k) {
				return fmt.Sprintf("`%s` is known only to the kernel", k), k.KernelOnly(), k, true
			}
		}
		if ks, isKO := s.(parser.KernelOnlyStmt); isKO {
			return fmt.Sprintf("`%s` runs only in the kernel", parser.FormatStmt(s)), ks.KernelOnlyReason(), 0, true
		}
		if why := parser.KernelOnly(s); why != "" {
			return fmt.Sprintf("`%s` runs only in the kernel", parser.FormatStmt(s)), "it " + why, 0, true
		}
	}
	return "", "", 0, false
}

func stmtKeys(s parser.Stmt) []parser.Field {
	switch s := s.(type) {
	case *parser.Match:
		return s.Keys
	case *parser.VMap:
		return s.Keys
	case *parser.PayloadSet:
		if s.From != 0 {
			return []parser.Field{s.From}
		}
	case *parser.MarkSet:
		if s.Map != nil {
			return s.Map.Keys
		}
		if s.From != 0 {
			return []parser.Field{s.From}
		}
	case *parser.NAT:
		var out []parser.Field
		for _, m := range []*parser.DataMap{s.AddrMap, s.PortMap} {
			if m != nil {
				out = append(out, m.Keys...)
			}
		}
		return out
	}
	return nil
}

// reachable lists the chains of t that a base chain reaches, itself
// included, through jumps, gotos and verdict maps.
func reachable(t *parser.Table) map[string]bool {
	live := map[string]bool{}
	var visit func(c *parser.Chain)
	visit = func(c *parser.Chain) {
		if c == nil || live[c.Name] {
			return
		}
		live[c.Name] = true
		for _, r := range c.Rules {
			for _, tg := range targets(t, r) {
				visit(t.Chain(tg.name))
			}
		}
	}
	for _, c := range t.Chains {
		if c.Base != nil {
			visit(c)
		}
	}
	return live
}
