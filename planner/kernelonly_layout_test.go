package planner

import (
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// TestKernelOnlyLayouts (issue 15): layouts once refused load in both
// modes: a kernel-only rule in a chain no base chain reaches (nft never
// runs it), and a kernel-only rule that jumps or goes to a chain only nfd
// runs (the kernel decides the match, then queues the packet back to nfd
// at the target's first rule, the jump's frame below it).
func TestKernelOnlyLayouts(t *testing.T) {
	for i, src := range []string{
		// unreachable regular chain with a kernel-only rule and a name rule
		`table inet f { chain dead { tls sni "a" drop; meta pkttype host drop } chain in { type filter hook input priority 0; tls sni "b" drop } }`,
		// unreachable regular chain, kernel-only only
		`table inet f { chain dead { meta pkttype host drop } chain in { type filter hook input priority 0; tls sni "b" drop } }`,
		// kernel-only rule jumping
		`table inet f { chain sub { counter } chain in { type filter hook input priority 0; tls sni "b" drop; meta pkttype host jump sub } }`,
		// reached only from native prefix, chain has name rule
		`table inet f { chain sub { tls sni "c" drop; meta pkttype host drop } chain in { type filter hook input priority 0; tcp dport 1 jump sub; tls sni "b" drop } }`,
		// regular chain reached only from a native base chain, kernel only
		`table inet f { chain sub { meta pkttype host drop } chain in { type filter hook input priority 0; tcp dport 1 jump sub } chain out { type filter hook output priority 0; tls sni "b" drop } }`,
		// kernel-only in chain jumped from kernel-only head rule
		`table inet f { chain sub { meta pkttype host drop; fib daddr type local drop } chain in { type filter hook input priority 0; meta pkttype host jump sub; tls sni "b" drop } }`,
		// vmap jump
		`table inet f { chain sub { meta pkttype host drop } chain in { type filter hook input priority 0; tls sni "b" drop; tcp dport vmap { 1 : jump sub } } }`,
		// goto from queued
		`table inet f { chain sub { meta pkttype host drop } chain in { type filter hook input priority 0; tls sni "b" drop; tcp dport 2 goto sub } }`,
	} {
		rs, err := parser.Parse("t.nft", []byte(src))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		for _, mode := range []string{OffloadAuto, OffloadNone} {
			plans, _, err := PlanRuleset(rs, mode)
			if err != nil {
				t.Errorf("%d %s: %v", i, mode, err)
				continue
			}
			if (i == 2 || i == 5) && mode == OffloadNone {
				// the jump-back: an nfd point at sub's first rule, under in's jump
				found := false
				for _, cp := range plans[0].Chains {
					for _, p := range cp.Conts {
						if n := len(p.Frames); !p.Kernel && n == 2 && p.Frames[1] == (ContFrame{"sub", 0}) {
							found = true
						}
					}
				}
				if !found {
					t.Errorf("%d: no point at sub's first rule", i)
				}
			}
		}
	}
}
