package main

import (
	"strings"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
)

// formatRuleCounted prints a rule as parser.FormatRule does, except that a
// `counter` statement carries the rule's live count instead of the value
// the file started it with: in userspace the statement's own counter, in
// the kernel the rule's kernel count, for a rule in both places the sum.
func formatRuleCounted(r *parser.Rule, eng *rules.Engine, info *rules.RuleInfo, pl planner.Placement, kernel [2]uint64) string {
	parts := make([]string, 0, len(r.Stmts)+1)
	for i, s := range r.Stmts {
		c, ok := s.(*parser.Counter)
		if !ok {
			parts = append(parts, parser.FormatStmt(s))
			continue
		}
		var live parser.Counter
		if pl.Both || pl.Kernel {
			live.Packets, live.Bytes = kernel[0], kernel[1]
		}
		// nfd's counts add to the kernel's even for a rule placed in the
		// kernel: a native regular chain runs in nfd too when a rule nfd
		// evaluates jumps there (the packets each counts are disjoint).
		if sc := eng.StmtCounter(info, i); sc != nil {
			live.Packets += sc.Packets.Load()
			live.Bytes += sc.Bytes.Load()
		} else if pl.Both || !pl.Kernel {
			live.Packets += c.Packets
			live.Bytes += c.Bytes
		}
		parts = append(parts, parser.FormatStmt(&live))
	}
	if r.Comment != "" {
		parts = append(parts, parser.FormatRule(&parser.Rule{Comment: r.Comment}))
	}
	return strings.Join(parts, " ")
}

// objectsListing prints a table's named objects as `nft list ruleset`
// does, counters and quotas with their live values: nfd keeps them (the
// rules naming them run in userspace), so the engine's state is the
// count, the declared value for an object no rule names. Limits and the
// objects only the kernel keeps print as declared (nft lists no state
// for them either).
func objectsListing(b *strings.Builder, eng *rules.Engine, t *parser.Table) {
	for _, o := range t.Objects {
		live := *o
		switch o.Kind {
		case "counter":
			if c := eng.ObjectCounter(t, o.Name); c != nil {
				live.Counter.Packets, live.Counter.Bytes = c.Packets.Load(), c.Bytes.Load()
			}
		case "quota":
			if used, ok := eng.ObjectQuotaUsed(t, o.Name); ok {
				live.Quota.Used = used
			}
		}
		b.WriteString(parser.FormatObject(&live))
	}
}
