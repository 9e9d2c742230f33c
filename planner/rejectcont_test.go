package planner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

const rejectPlanSrc = `table inet f {
	chain sub {
		tcp dport 81 reject with tcp reset
		reject with icmpx admin-prohibited
	}
	chain unused {
		reject with icmpx host-unreachable
	}
	chain in {
		type filter hook input priority 0; policy accept;
		tls sni "x.example" reject
		tcp dport 80 jump sub
		meta l4proto tcp reject with tcp reset
		ip saddr 10.9.9.9 reject with icmp net-unreachable
	}
	chain out {
		type filter hook output priority 0; policy accept;
		tls sni "x.example" reject with tcp reset
	}
}
`

// TestRejectChains: every queued base chain gets one continuation chain
// per reject form it can reach (through jumps, not from a chain nothing
// reaches), holding the native reject; a form has one id in every chain,
// and the dispatch map goes to its chain.
func TestRejectChains(t *testing.T) {
	rs, err := parser.Parse("t.nft", []byte(rejectPlanSrc))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{OffloadAuto, OffloadNone} {
		plans, _, err := PlanRuleset(rs, mode)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		forms := map[string]map[uint16]uint16{}
		for _, cp := range plans[0].Chains {
			forms[cp.Name] = map[uint16]uint16{}
			chains := map[string]*ChainPlan{}
			for _, cc := range cp.ContChains {
				chains[cc.Name] = cc
			}
			for _, rp := range cp.Rejects {
				forms[cp.Name][RejectKey(rp.Kind, rp.Code)] = rp.ID
				cc := chains[rp.Chain]
				if cc == nil || len(cc.Rules) != 1 {
					t.Fatalf("%s: %s: no chain of one rule for %+v", mode, cp.Name, rp)
				}
				if _, ok := cc.Rules[0][len(cc.Rules[0])-1].(*expr.Reject); !ok {
					t.Errorf("%s: %s ends with %T", mode, rp.Chain, cc.Rules[0][len(cc.Rules[0])-1])
				}
			}
			if cp.Base == nil {
				continue
			}
			cp.ContMask = 0xff000000
			if ps := cp.DispatchSet(); len(ps.Elems) != len(cp.KernelPoints())+len(cp.Rejects) || !cp.Dispatches() {
				t.Errorf("%s: %s: dispatch map of %d elements for %d rejects", mode, cp.Name, len(ps.Elems), len(cp.Rejects))
			}
		}
		reset := RejectKey(parser.RejectTCPReset, 0)
		if len(forms["in"]) != 4 || len(forms["out"]) != 1 || forms["in"][reset] == 0 || forms["in"][reset] != forms["out"][reset] {
			t.Errorf("%s: forms by chain %v", mode, forms)
		}
		if _, ok := forms["in"][RejectKey(parser.RejectICMPx, 1)]; ok {
			t.Errorf("%s: a form only an unreachable chain uses got a chain: %v", mode, forms["in"])
		}
	}
}

// TestContPointLimit: a ruleset needing more than MaxContPoints points is
// refused at the rule that needs the first one over, naming the limit.
func TestContPointLimit(t *testing.T) {
	for _, n := range []int{100, 140} {
		var b strings.Builder
		b.WriteString("table ip f {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n")
		for i := 0; i < n; i++ {
			// a name rule, then a kernel-only rule: two points each
			fmt.Fprintf(&b, "\t\ttls sni \"n%d.example\" drop\n\t\tmeta pkttype host udp dport %d counter\n", i, 1000+i)
		}
		b.WriteString("\t}\n}\n")
		rs, err := parser.Parse("t.nft", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{OffloadAuto, OffloadNone} {
			plans, _, err := PlanRuleset(rs, mode)
			if n == 100 {
				if err != nil || MaxContID(plans) > MaxContPoints {
					t.Errorf("%d pairs, %s: %v", n, mode, err)
				}
				continue
			}
			if err == nil {
				t.Fatalf("%d pairs, %s: %d points accepted", n, mode, MaxContID(plans))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "t.nft:") || !strings.Contains(msg, "continuation point 256") || !strings.Contains(msg, "255 per ruleset") {
				t.Errorf("%d pairs, %s: %v", n, mode, err)
			}
			t.Logf("%s: %v", mode, err)
		}
	}
}
