package planner

import (
	"testing"

	"github.com/google/nftables/expr"
)

// TestICMPDependencyContext: nft adds the hidden `icmp type` dependency of
// `icmp id` unless an earlier match already requires one of its types
// (nft's proto_ctx); after a match on another type nft refuses the rule,
// and nfd keeps the dependency, so the rule never matches (as in nfd's
// evaluator). Adjacent ICMP fields share one dependency.
func TestICMPDependencyContext(t *testing.T) {
	for _, c := range []struct {
		rule    string
		lookups int // the dependency's set lookups
		cmps    int
	}{
		{"icmp id 5", 1, 2},                                   // l4proto, (lookup), id
		{"icmp type echo-request icmp id 5", 0, 3},            // l4proto, type, id
		{"icmp type destination-unreachable icmp id 5", 1, 3}, // l4proto, type 3, (lookup), id
		{"icmp id 5 icmp sequence 6", 1, 2},                   // one lookup; nft merges the two loads
	} {
		plans, _ := planAuto(t, "d.nft", "table ip t { chain c { type filter hook input priority 0; "+c.rule+"; } }")
		var lookups, cmps int
		for _, e := range plans[0].Chains[0].Rules[0] {
			switch e.(type) {
			case *expr.Lookup:
				lookups++
			case *expr.Cmp:
				cmps++
			}
		}
		if lookups != c.lookups || cmps != c.cmps {
			t.Errorf("%s: %d lookups, %d compares; want %d, %d", c.rule, lookups, cmps, c.lookups, c.cmps)
		}
	}
}
