package planner

import (
	"testing"

	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

const contPlanSrc = `table inet f {
	chain sub {
		counter
		meta pkttype broadcast counter return
		tcp dport 81 counter drop
	}
	chain in {
		type filter hook input priority 0; policy accept;
		tls sni "x.example" accept
		meta pkttype host counter
		tcp dport 8081 counter drop
		jump sub
		fib daddr type local counter
	}
}
`

// TestContinuationLayout: each kernel-only rule nfd can reach gets a
// continuation chain with the native tail from it; a point inside a
// jumped-to chain jumps to that chain's tail first, then runs the
// caller's; under --offload=none the tails hold only kernel-only rules
// and queue back at the next rule, marked with the point nfd resumes at.
func TestContinuationLayout(t *testing.T) {
	rs, err := parser.Parse("t.nft", []byte(contPlanSrc))
	if err != nil {
		t.Fatal(err)
	}
	ref := func(chain string, i int) RuleRef { return RuleRef{parser.FamilyInet, "f", chain, i} }
	for _, mode := range []string{OffloadAuto, OffloadNone} {
		plans, pl, err := PlanRuleset(rs, mode)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		var cp *ChainPlan
		for _, c := range plans[0].Chains {
			if c.Name == "in" {
				cp = c
			}
		}
		kp := cp.KernelPoints()
		// in rule 1 (pkttype), sub rule 1 via in's jump at 3, in rule 4 (fib).
		if len(kp) != 3 || len(kp[1].Frames) != 2 || kp[1].Frames[0] != (ContFrame{"in", 3}) || kp[1].Frames[1] != (ContFrame{"sub", 1}) {
			t.Fatalf("%s: kernel points %v", mode, kp)
		}
		for _, r := range []RuleRef{ref("in", 1), ref("in", 4), ref("sub", 1)} {
			if p := pl[r]; !p.Kernel || !p.Cont {
				t.Errorf("%s: %v placed %+v", mode, r, p)
			}
		}
		chains := map[string]*ChainPlan{}
		for _, cc := range cp.ContChains {
			chains[cc.Name] = cc
		}
		w := chains[kp[1].Chain]
		tc := chains[kp[1].Chain+"-1"]
		if w == nil || tc == nil {
			t.Fatalf("%s: no chains for %v: %v", mode, kp[1], cp.ContChains)
		}
		if v, ok := w.Rules[0][0].(*expr.Verdict); !ok || v.Kind != expr.VerdictJump || v.Chain != tc.Name {
			t.Fatalf("%s: %s starts with %v", mode, w.Name, w.Rules[0])
		}
		if tc.Refs[0] != ref("sub", 1) || w.Refs[1] != ref("in", 4) {
			t.Fatalf("%s: tails %v, %v", mode, tc.Refs, w.Refs)
		}
		switch mode {
		case OffloadAuto:
			// sub's tail runs natively to its end; no queue back.
			if len(tc.Refs) != 2 || tc.Queue {
				t.Errorf("auto: sub tail %v queue %v", tc.Refs, tc.Queue)
			}
		case OffloadNone:
			// Only the kernel-only rule; then nfd resumes at sub rule 2.
			if len(tc.Refs) != 1 || !tc.Queue {
				t.Fatalf("none: sub tail %v queue %v", tc.Refs, tc.Queue)
			}
			var back *ContPoint
			for _, p := range cp.Conts {
				if p.ID == tc.QueueID {
					back = p
				}
			}
			if back == nil || back.Kernel || len(back.Frames) != 2 || back.Frames[1] != (ContFrame{"sub", 2}) {
				t.Fatalf("none: queue back to %+v", back)
			}
		}
	}
}

func TestContValue(t *testing.T) {
	for _, mask := range []uint32{0x0f000000, 0x0a000000, 0x80000001} {
		for id := uint16(1); id < 1<<2; id++ {
			v := ContValue(id, mask)
			if v&^mask != 0 || ContID(v|^mask, mask) != id {
				t.Fatalf("mask %#x id %d: value %#x", mask, id, v)
			}
		}
	}
}
