package planner

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// TestKernelOnlyPkttype: `meta pkttype` runs natively or the plan is
// refused with the rule's position (issue 19 item 4).
func TestKernelOnlyPkttype(t *testing.T) {
	const native = `table inet f {
	chain in {
		type filter hook input priority 0; policy accept;
		meta pkttype broadcast drop
		tls sni "x.example" accept
	}
}
`
	const after = `table inet f {
	chain in {
		type filter hook input priority 0; policy accept;
		tls sni "x.example" accept
		meta pkttype { broadcast, multicast } drop
	}
}
`
	for _, tc := range []struct {
		src, offload, want string
	}{
		{native, OffloadAuto, ""},
		// --offload=none keeps kernel-only rules at the head of a chain
		// native: nfd cannot evaluate them, and nothing precedes them.
		{native, "none", ""},
		// After a rule only nfd runs, the rule is a continuation point:
		// nfd hands packets that reach it back to the kernel (issue 15).
		{after, OffloadAuto, ""},
		{after, "none", ""},
	} {
		rs, err := parser.Parse("t.nft", []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		plans, pl, err := PlanRuleset(rs, tc.offload)
		idx := 0
		if tc.src == after {
			idx = 1
			if err == nil && (len(plans[0].Chains[0].KernelPoints()) != 1 || !pl[RuleRef{parser.FamilyInet, "f", "in", 1}].Cont) {
				t.Errorf("%s: pkttype rule after tls sni is no continuation point: %+v", tc.offload, pl)
			}
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.offload, err)
		case tc.want == "" && !pl[RuleRef{parser.FamilyInet, "f", "in", idx}].Kernel:
			t.Errorf("pkttype rule not native: %+v", pl)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.offload, err, tc.want)
		}
	}
}

// TestKernelOnlyStatements: statements nfd's engine cannot run (`log
// group`, `log flags`) keep their rule native, also after a rule only nfd
// runs, where the rule becomes a continuation point (issue 15).
func TestKernelOnlyStatements(t *testing.T) {
	for _, stmt := range []string{`log group 2`, `log flags all`, `log prefix "x" flags tcp sequence`, `meta nftrace set 1`,
		`meta priority set 1:1`, `ct zone set 1`, `ct event set new,related`, `ct label set 3`, `synproxy mss 1460 sack-perm`} {
		native := "table inet f {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 22 " + stmt + "\n\t\ttls sni \"x.example\" accept\n\t}\n}\n"
		after := "table inet f {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttls sni \"x.example\" accept\n\t\ttcp dport 22 " + stmt + "\n\t}\n}\n"
		for _, tc := range []struct {
			src, offload string
			idx          int
		}{
			{native, OffloadAuto, 0},
			// --offload=none keeps kernel-only rules at a chain's head native.
			{native, "none", 0},
			{after, OffloadAuto, 1},
			{after, "none", 1},
		} {
			rs, err := parser.Parse("t.nft", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			_, pl, err := PlanRuleset(rs, tc.offload)
			p := pl[RuleRef{parser.FamilyInet, "f", "in", tc.idx}]
			switch {
			case err != nil:
				t.Errorf("%s %s: %v", stmt, tc.offload, err)
			case !p.Kernel || tc.idx == 1 && !p.Cont:
				t.Errorf("%s %s: rule not native: %+v", stmt, tc.offload, p)
			}
		}
	}
}

// TestQuotaNotSplit: a quota after a userspace rule is not also run by the
// kernel for the packets no guard takes (its byte count would be split
// between two quotas), and a set with a catch-all element stays in nfd.
func TestQuotaNotSplit(t *testing.T) {
	const src = `table inet f {
	set any { type ipv4_addr; elements = { 10.0.0.1, * }; }
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport 443 tls sni "x.example" accept
		tcp dport 80 quota over 10 mbytes drop
	}
	chain out {
		type filter hook output priority 0; policy accept;
		ip daddr @any accept
	}
}
`
	plans, pl := planAuto(t, "t.nft", src)
	for _, c := range plans[0].Chains {
		if c.Name == "in" && (c.Guards != nil || len(c.After) != 0) {
			t.Errorf("quota hoisted: %d guards, %d after", len(c.Guards), len(c.After))
		}
	}
	if p := pl[RuleRef{parser.FamilyInet, "f", "in", 1}]; p.Kernel {
		t.Errorf("quota rule after a userspace rule placed in the kernel: %+v", p)
	}
	if p := pl[RuleRef{parser.FamilyInet, "f", "out", 0}]; p.Kernel || !strings.Contains(p.Reason, "catch-all") {
		t.Errorf("catch-all set lookup: %+v", p)
	}
}

// TestDynamicSetInKernelOnly: a set rules update lives in the kernel, so a
// rule that reads it runs there, also after a userspace rule (a
// continuation point).
func TestDynamicSetInKernelOnly(t *testing.T) {
	const ok = `table inet f {
	set ban { type ipv4_addr; flags dynamic, timeout; timeout 1h; }
	chain in {
		type filter hook input priority 0; policy accept;
		ip saddr @ban drop
		tcp dport 22 ct state new add @ban { ip saddr limit rate over 3/minute } drop
		tls sni "x.example" accept
	}
}
`
	_, pl := planAuto(t, "t.nft", ok)
	for i := 0; i < 2; i++ {
		if p := pl[RuleRef{parser.FamilyInet, "f", "in", i}]; !p.Kernel {
			t.Errorf("rule %d not native: %+v", i, p)
		}
	}
	const bad = `table inet f {
	set ban { type ipv4_addr; flags dynamic, timeout; timeout 1h; }
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport 22 ct state new add @ban { ip saddr limit rate over 3/minute } drop
		tls sni "x.example" accept
		tcp dport 80 ip saddr @ban drop
	}
}
`
	rs, err := parser.Parse("t.nft", []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{OffloadAuto, OffloadNone} {
		_, pl, err := PlanRuleset(rs, mode)
		if p := pl[RuleRef{parser.FamilyInet, "f", "in", 2}]; err != nil || !p.Cont {
			t.Errorf("%s: %v, placed %+v", mode, err, p)
		}
	}
}
