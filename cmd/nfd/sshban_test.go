package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// The standard SSH brute-force guards: a meter that drops a source's new
// connections over a rate, and one that also bans the source in a set
// with a timeout.
const sshMeterRules = `table inet sshguard {
	chain forward_c {
		type filter hook forward priority 0; policy accept;
		tcp dport 22 ct state new meter ssh { ip saddr limit rate over 10/minute burst 10 packets } drop
	}
}
`

const sshBanRules = `table inet sshguard {
	set ban { type ipv4_addr; flags dynamic, timeout; timeout 5s; }
	chain forward_c {
		type filter hook forward priority 0; policy accept;
		ip saddr @ban tcp dport 22 drop
		tcp dport 22 ct state new add @ssh { ip saddr limit rate over 10/minute burst 10 packets } add @ban { ip saddr } drop
	}
	set ssh { type ipv4_addr; flags dynamic; }
}
`

// sshTries opens n new SSH connections one after the other and then,
// after wait, one more: the outcomes, in order.
func sshTries(tp *netns.Topology, n int, wait time.Duration) string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, tcpTry(tp.Client, hostPort(netns.ServerIP4, 22)))
	}
	time.Sleep(wait)
	out = append(out, tcpTry(tp.Client, hostPort(netns.ServerIP4, 22)))
	return strings.Join(out, " ")
}

// TestSSHBruteForce: with `limit rate over 10/minute`, the 11th new
// connection of a minute from one source is dropped (and, with the ban
// set, every later one until the ban times out); a token comes back after
// 6 s (one tenth of the minute), the ban after its 5 s timeout. nfd gives
// the outcomes nft -f gives, with --offload=none and auto.
func TestSSHBruteForce(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	for _, c := range []struct {
		name, rules string
		want        string
	}{
		{"meter", sshMeterRules, strings.Repeat(ok+" ", 10) + timeout + " " + timeout + " " + ok},
		{"ban", sshBanRules, strings.Repeat(ok+" ", 10) + timeout + " " + timeout + " " + ok},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rules := c.rules
			run := func(load func(tp *netns.Topology)) string {
				tp := netns.NewTopology(t)
				servers(t, tp.Server, []int{22}, nil)
				load(tp)
				return sshTries(tp, 12, 7*time.Second)
			}
			want := run(func(tp *netns.Topology) { nftLoad(t, tp.FW, rules) })
			if want != c.want {
				t.Fatalf("nft -f: %s, want %s", want, c.want)
			}
			for _, mode := range []string{"none", "auto"} {
				if got := run(func(tp *netns.Topology) { startDaemon(t, tp.FW, rules, "--offload", mode) }); got != want {
					t.Errorf("nfd --offload=%s: %s; nft -f: %s", mode, got, want)
				}
			}
		})
	}
}
