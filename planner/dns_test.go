package planner

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// TestDNSPlan: a table with a dns-names set gets the DNS chains (known to
// ChainSpec, so a reload keeps them registered) and its native set takes
// element timeouts; a table without one gets neither.
func TestDNSPlan(t *testing.T) {
	rs, err := parser.Parse("t.nft", []byte(`table ip a {
	set s { type ipv4_addr; flags timeout; dns names { "*.example" }; }
	chain c { type filter hook forward priority 0; policy drop; ip daddr @s accept; }
}
table ip b {
	set s { type ipv4_addr; elements = { 10.0.0.1 }; }
	chain c { type filter hook forward priority 0; policy drop; ip daddr @s accept; }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	plans, _, err := PlanRuleset(rs, OffloadAuto)
	if err != nil {
		t.Fatal(err)
	}
	a, b := plans[0], plans[1]
	if a.DNS == nil || b.DNS != nil {
		t.Fatalf("DNS plans: %v %v", a.DNS, b.DNS)
	}
	for _, dc := range DNSChains() {
		if a.ChainSpec(dc.Name) == nil || b.ChainSpec(dc.Name) != nil {
			t.Errorf("ChainSpec(%s)", dc.Name)
		}
	}
	if len(a.Sets) != 1 || !a.Sets[0].Set.HasTimeout || b.Sets[0].Set.HasTimeout {
		t.Errorf("timeout flags: %+v %+v", a.Sets, b.Sets)
	}
}

func TestDNSChainNameTaken(t *testing.T) {
	rs, err := parser.Parse("t.nft", []byte(`table ip a {
	set s { type ipv4_addr; flags timeout; dns names { "*.example" }; }
	chain nfd-dns-input { ip daddr @s accept; }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := PlanRuleset(rs, OffloadAuto); err == nil || !strings.Contains(err.Error(), "t.nft:3:8: chain name `nfd-dns-input` is nfd's own") {
		t.Fatalf("got %v", err)
	}
}
