package kernel

import (
	"fmt"
	"github.com/google/nftables/expr"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// TestLargeRulesetRefusedRule: a 10^4-rule file whose rule at N/2 the
// kernel refuses (a limit whose burst overflows: EOVERFLOW at the
// message) fails as one transaction, leaves nothing, and names the rule
// by file:line:col; the same file without it loads whole.
func TestLargeRulesetRefusedRule(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "scl")
	newConn := connIn(t, ns)
	const n = 10000
	src := func(bad bool) string {
		var b strings.Builder
		b.WriteString("table inet t {\n  chain input {\n    type filter hook input priority 0; policy accept;\n")
		for i := 0; i < n; i++ {
			if bad && i == n/2 {
				// nfd check refuses a limit whose bucket overflows;
				// the plan below swaps this rule's limit for one, so
				// that only the kernel refuses it.
				b.WriteString("    tcp dport 81 limit rate 1/day burst 5 packets accept\n")
				continue
			}
			fmt.Fprintf(&b, "    ip saddr 10.%d.%d.%d tcp dport %d counter drop\n", i>>16&255, i>>8&255, i&255, 1+i)
		}
		b.WriteString("  }\n}\n")
		return b.String()
	}
	for _, bad := range []bool{true, false} {
		rs, err := parser.Parse("big.nft", []byte(src(bad)))
		if err != nil {
			t.Fatal(err)
		}
		plans, _, err := planner.PlanRuleset(rs, planner.OffloadAuto)
		if err != nil {
			t.Fatal(err)
		}
		if bad {
			overflowLimit(t, plans, n/2)
		}
		c, err := newConn()
		if err != nil {
			t.Fatal(err)
		}
		err = ProgramPlans(c, QueueCompat, plans)
		if !bad {
			if err != nil {
				t.Fatal(err)
			}
			out, _ := ns.Run("nft", "list", "ruleset")
			if got := strings.Count(out, "counter packets"); got < n {
				t.Fatalf("%d counted rules in the kernel, want >= %d", got, n)
			}
			continue
		}
		if err == nil {
			t.Fatal("the kernel took a limit whose burst overflows")
		}
		found := ExplainCommit(newConn, plans, rs, err.(*CommitError).Err)
		want := fmt.Sprintf("big.nft:%d:5: the kernel refused this rule: value too large", n/2+4)
		if !strings.Contains(found.Error(), want) {
			t.Fatalf("got %q, want %q", found, want)
		}
		if out, _ := ns.Run("nft", "list", "ruleset"); strings.TrimSpace(out) != "" {
			t.Fatalf("a refused batch left: %.300s", out)
		}
	}
}

// overflowLimit makes the limit of native rule idx one whose bucket the
// kernel's nft_limit_init refuses (EOVERFLOW): a refusal only the kernel
// reports.
func overflowLimit(t *testing.T, plans []*planner.TablePlan, idx int) {
	t.Helper()
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			for i, ref := range cp.Refs {
				if ref.Index != idx {
					continue
				}
				for _, e := range cp.Rules[i] {
					if l, ok := e.(*expr.Limit); ok {
						l.Burst = 4294967295
						return
					}
				}
			}
		}
	}
	t.Fatalf("no native limit at rule %d", idx)
}
