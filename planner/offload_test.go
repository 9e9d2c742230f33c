package planner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/parser"
)

// TestPlacement: the prefix before the first userspace-only rule runs
// natively, the rest in userspace with a reason; wholly native regular
// chains are native; NAT chains must be native.
func TestPlacement(t *testing.T) {
	plans, pl := planAuto(t, "p.nft", `table inet f {
	chain helper { tcp dport 22 accept }
	chain l7 { tls sni "x.example" accept }
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		jump helper
		tcp dport 443 tls sni "a.example" accept
		udp dport 53 accept
		jump l7
	}
	chain out {
		type filter hook output priority 0; policy accept;
		counter
	}
}
table ip nat {
	chain post { type nat hook postrouting priority srcnat; policy accept; oifname "eth0" masquerade; }
}`)
	want := map[RuleRef]string{
		{parser.FamilyInet, "f", "input", 0}:  "kernel",
		{parser.FamilyInet, "f", "input", 1}:  "kernel",
		{parser.FamilyInet, "f", "input", 2}:  "userspace",
		{parser.FamilyInet, "f", "input", 3}:  "userspace",
		{parser.FamilyInet, "f", "input", 4}:  "userspace",
		{parser.FamilyInet, "f", "helper", 0}: "kernel",
		{parser.FamilyInet, "f", "l7", 0}:     "userspace",
		{parser.FamilyInet, "f", "out", 0}:    "kernel",
		{parser.FamilyIP, "nat", "post", 0}:   "kernel",
	}
	for ref, w := range want {
		if got := pl[ref].String(); got != w {
			t.Errorf("%v: %s (%s), want %s", ref, got, pl[ref].Reason, w)
		}
	}
	if r := pl[RuleRef{parser.FamilyInet, "f", "input", 3}].Reason; !strings.Contains(r, "first-match order") {
		t.Errorf("reason for the rule after the SNI rule: %q", r)
	}
	if r := pl[RuleRef{parser.FamilyInet, "f", "input", 2}].Reason; !strings.Contains(r, "tls sni") {
		t.Errorf("reason for the SNI rule: %q", r)
	}
	var input, out *ChainPlan
	for _, tp := range plans {
		for _, c := range tp.Chains {
			switch c.Name {
			case "input":
				input = c
			case "out":
				out = c
			case "l7":
				t.Error("a userspace regular chain was planned into the kernel")
			}
		}
	}
	if !input.Queue || input.Start != 2 || len(input.Rules) != 2 {
		t.Errorf("input: queue %v start %d native %d", input.Queue, input.Start, len(input.Rules))
	}
	if out.Queue {
		t.Error("a wholly native chain queues")
	}
	// NAT with a userspace match cannot run at all.
	bad, _ := parser.Parse("b.nft", []byte(`table ip nat { chain pre { type nat hook prerouting priority dstnat; policy accept; meta mark 0x1 dnat to 10.0.0.1; } }`))
	if _, _, err := PlanRuleset(bad, OffloadAuto); err != nil {
		t.Fatalf("a plain NAT chain failed: %v", err)
	}
	_ = nftables.TableFamilyINet
}

// TestBypassExactness: only rules whose matches are flow-constant, with no
// statement but the verdict, and only when every userspace rule before
// them is so too, may bypass a flow.
func TestBypassExactness(t *testing.T) {
	plans, _ := planAuto(t, "b.nft", `table inet f {
	chain c {
		type filter hook forward priority 0; policy accept;
		ct state established accept
		tcp dport 443 tls sni "a.example" accept
		tcp dport 443 tls sni "b.example" drop
		ip saddr 10.0.0.1 tls sni "c.example" accept
		tcp flags syn tls sni "d.example" accept
		tls sni "e.example" accept
	}
	chain d {
		type filter hook input priority 0; policy accept;
		tls sni "x.example" counter accept
		tls sni "y.example" accept
	}
}`)
	got := map[string][]bool{}
	for _, c := range plans[0].Chains {
		got[c.Name] = c.Bypass
	}
	// c: rule 0 is native; 1 and 3 bypass; 2 drops; 4 looks at tcp flags,
	// which ends bypass for 4 and everything after it.
	if want := []bool{false, true, false, true, false, false}; fmt.Sprint(got["c"]) != fmt.Sprint(want) {
		t.Errorf("chain c: %v, want %v", got["c"], want)
	}
	// d: a counter in rule 0 keeps both rules from bypassing (exact counts).
	if want := []bool{false, false}; fmt.Sprint(got["d"]) != fmt.Sprint(want) {
		t.Errorf("chain d: %v, want %v", got["d"], want)
	}
}

// TestBypassNeedsNames: an accept after a name rule bypasses a flow only
// once the flow has that name; the plan says which names each rule needs.
func TestBypassNeedsNames(t *testing.T) {
	plans, _ := planAuto(t, "n.nft", `table inet f {
	chain c {
		type filter hook forward priority 0; policy drop;
		tcp dport 443 tls sni "ads.example" reject with tcp reset
		ip daddr 10.0.0.2 tcp dport 443 accept
		udp dport 53 dns qname "*.ads.example" drop
		udp dport 53 accept
	}
}`)
	cp := plans[0].Chains[0]
	sni, qname := uint8(1)<<conntrack.NameSNI, uint8(1)<<conntrack.NameQname
	if want := []bool{false, true, false, true}; fmt.Sprint(cp.Bypass) != fmt.Sprint(want) {
		t.Errorf("bypass %v, want %v", cp.Bypass, want)
	}
	if want := []uint8{sni, sni, sni | qname, sni | qname}; fmt.Sprint(cp.BypassNames) != fmt.Sprint(want) {
		t.Errorf("names %v, want %v", cp.BypassNames, want)
	}
}

// TestNoUnboundAnonymousSets: a rule nfd keeps in userspace (in a
// userspace regular chain, or one that fails to translate half-way)
// leaves no anonymous set in the plan that no native rule or queue guard
// binds: the kernel refuses a batch with an unbound anonymous set.
func TestNoUnboundAnonymousSets(t *testing.T) {
	rs, err := parser.Parse("t.nft", []byte(`table inet t {
	set named { type inet_service; elements = { 1, 2 } }
	chain side {
		udp dport { 53, 55 } accept
		tcp dport @named tls sni "x.example" accept
	}
	chain fw {
		type filter hook forward priority 0; policy drop;
		tcp dport { 1, 2 } accept
		tcp sport { 3, 4 } tls sni "half.example" accept
		tcp dport { 5, 6 } accept
		meta l4proto udp jump side
		tcp dport @named accept
	}
}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{OffloadAuto, OffloadNone} {
		plans, _, err := PlanRuleset(rs, mode)
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range plans {
			bound := map[uint32]bool{}
			for _, cp := range tp.Chains {
				for _, r := range append(append(append([][]expr.Any{}, cp.Rules...), cp.Guards...), cp.After...) {
					for _, e := range r {
						if l, ok := e.(*expr.Lookup); ok {
							bound[l.SetID] = true
						}
					}
				}
			}
			anon := 0
			for _, p := range tp.Sets {
				if p.Set.Anonymous {
					anon++
					if !bound[p.Set.ID] {
						t.Errorf("--offload=%s: anonymous set %s (%d elements) bound by no native rule", mode, p.Set.Name, len(p.Elems))
					}
				}
			}
			// auto: {1, 2} in the native prefix, {3, 4} in the guard of the
			// half-translatable SNI rule, {5, 6} in a rule run natively
			// after the guarded queue rules; the named set for the last
			// rule, native too.
			if want := map[string]int{OffloadAuto: 3, OffloadNone: 0}[mode]; anon != want {
				t.Errorf("--offload=%s: %d anonymous sets, want %d", mode, anon, want)
			}
			named := false
			for _, p := range tp.Sets {
				named = named || p.Set.Name == "named"
			}
			if named != (mode == OffloadAuto) {
				t.Errorf("--offload=%s: named set created: %v", mode, named)
			}
		}
	}
}

// TestNameLimits: names nft takes but that nfd's prefixes would push past
// the kernel's 255 bytes are refused with their position.
func TestNameLimits(t *testing.T) {
	long := strings.Repeat("a", 252)
	for _, tc := range []struct{ src, want string }{
		{"table inet " + long + " {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t}\n}\n", "t.nft:1:12: table name"},
		{"table inet t {\n\tchain " + long[:245] + " {\n\t\ttype filter hook input priority 0;\n\t}\n}\n", "t.nft:2:8: chain name"},
	} {
		rs, err := parser.Parse("t.nft", []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := PlanRuleset(rs, OffloadAuto); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want %q…", err, tc.want)
		}
	}
	rs, err := parser.Parse("t.nft", []byte("table inet "+long[:251]+" {\n\tchain "+long[:244]+" {\n\t\ttype filter hook input priority 0;\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := PlanRuleset(rs, OffloadAuto); err != nil {
		t.Errorf("names at the limit: %v", err)
	}
}

// TestEstablishedNative: a native prefix that accepts every established
// packet makes TCP bypass marks pointless; one limited to replies does not.
func TestEstablishedNative(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want bool
	}{
		{"ct state established,related accept", true},
		{"ct state established accept", true},
		{"ct state { established, related } accept", true},
		{"ct state related accept", false},
		{"ct state established,related ct direction reply accept", false},
		{"ct state established,related counter accept", false},
		{"ct state != established accept", false},
	} {
		rs, err := parser.Parse("t.nft", []byte("table inet t {\n\tchain f {\n\t\ttype filter hook forward priority 0; policy drop;\n\t\t"+
			tc.rule+"\n\t\ttcp dport 443 tls sni \"a.example\" accept\n\t\ttcp dport 22 accept\n\t}\n}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		plans, _, err := PlanRuleset(rs, OffloadAuto)
		if err != nil {
			t.Fatal(err)
		}
		cp := plans[0].Chains[0]
		if cp.EstablishedNative != tc.want || !cp.Queue || cp.Start != 1 {
			t.Errorf("%s: EstablishedNative %v (queue %v from %d), want %v", tc.rule, cp.EstablishedNative, cp.Queue, cp.Start, tc.want)
		}
	}
}

// TestHoist: behind a userspace rule, the kernel-expressible rules also
// run natively for packets that no userspace rule's guard takes; a
// userspace rule without a guard (a bare jump to a userspace chain) keeps
// the old layout.
func TestHoist(t *testing.T) {
	plans, pl := planAuto(t, "h.nft", `table inet f {
	chain l7 { tls sni "x.example" accept }
	chain fw {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		tcp dport 443 tls sni "a.example" accept
		ip daddr 10.0.0.1 tcp dport { 80, 443 } accept
		udp dport 53 dns qname "*.ads.example" drop
		udp dport 53 accept
	}
	chain in {
		type filter hook input priority 0; policy drop;
		tcp dport 443 tls sni "b.example" accept
		jump l7
		tcp dport 22 accept
	}
}`)
	var fwd, in *ChainPlan
	for _, cp := range plans[0].Chains {
		switch cp.Name {
		case "fw":
			fwd = cp
		case "in":
			in = cp
		}
	}
	if len(fwd.Rules) != 1 || fwd.Start != 1 || len(fwd.Guards) != 2 || len(fwd.After) != 2 {
		t.Fatalf("fwd: %d native, start %d, %d guards, %d after", len(fwd.Rules), fwd.Start, len(fwd.Guards), len(fwd.After))
	}
	for i, want := range []string{"kernel", "userspace", "kernel+userspace", "userspace", "kernel+userspace"} {
		if got := pl[RuleRef{parser.FamilyInet, "f", "fw", i}].String(); got != want {
			t.Errorf("fwd rule %d: %s, want %s", i, got, want)
		}
	}
	if in.Guards != nil || in.After != nil || !in.Queue {
		t.Errorf("in: guards %d after %d queue %v; a bare jump to a userspace chain has no guard", len(in.Guards), len(in.After), in.Queue)
	}
	if got := pl[RuleRef{parser.FamilyInet, "f", "in", 2}].String(); got != "userspace" {
		t.Errorf("in rule 2: %s", got)
	}
	// A limit after the userspace rule (here through a jump) would be
	// split between two token buckets: no hoisting.
	plans, _ = planAuto(t, "h.nft", `table inet f {
	chain slow { limit rate 10/second accept }
	chain fw {
		type filter hook forward priority 0; policy drop;
		tcp dport 443 tls sni "a.example" accept
		tcp dport 80 jump slow
	}
}`)
	for _, cp := range plans[0].Chains {
		if cp.Name == "fw" && (cp.Guards != nil || cp.After != nil) {
			t.Errorf("fwd hoisted past a limit: %d guards, %d after", len(cp.Guards), len(cp.After))
		}
	}
}

// planAuto parses src and plans it for --offload=auto, failing the test
// on any error.
func planAuto(t *testing.T, name, src string) ([]*TablePlan, map[RuleRef]Placement) {
	t.Helper()
	rs, err := parser.Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plans, placements, err := PlanRuleset(rs, OffloadAuto)
	if err != nil {
		t.Fatal(err)
	}
	return plans, placements
}
