package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

const equivRules = `table inet equiv {
	set web {
		type inet_service
		elements = { 80, 443 }
	}

	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		iifname "lo" accept
		tcp dport 8080 accept
		tcp dport 8081 reject with tcp reset
		icmp type echo-request accept
		icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept
	}

	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		tcp dport @web accept
		tcp dport 82 reject with tcp reset
		udp dport 53 accept
		udp dport 54 reject
		icmp type echo-request accept
		icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept
	}

	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport 81 reject with tcp reset
		udp dport 55 drop
	}
}
`

// TestOffloadEquivalence runs a traffic matrix through every hook (TCP to
// open, closed, rejected and dropped ports, UDP, ICMP, IPv4 and IPv6;
// forwarded, to the firewall, from the firewall) under the same file
// loaded three ways: plain nft -f (the oracle), nfd --offload=none and
// nfd --offload=auto. The outcomes must be identical.
func TestOffloadEquivalence(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81, 82, 83}, []int{53, 54, 55})
	servers(t, tp.FW, []int{8080, 8081, 8082}, nil)
	matrix := func() map[string]string {
		out := map[string]string{}
		for _, ip := range []string{netns.ServerIP4, netns.ServerIP6} {
			for _, p := range []int{80, 81, 82, 83} {
				out[fmt.Sprintf("fwd tcp %s:%d", ip, p)] = tcpTry(tp.Client, hostPort(ip, p))
				out[fmt.Sprintf("out tcp %s:%d", ip, p)] = tcpTry(tp.FW, hostPort(ip, p))
			}
			for _, p := range []int{53, 54, 55} {
				out[fmt.Sprintf("fwd udp %s:%d", ip, p)] = udpTry(tp.Client, hostPort(ip, p))
				out[fmt.Sprintf("out udp %s:%d", ip, p)] = udpTry(tp.FW, hostPort(ip, p))
			}
			out["fwd ping "+ip] = fmt.Sprint(tp.Client.Ping(ip, 500e6))
		}
		for _, ip := range []string{netns.FWClient4, netns.FWClient6} {
			for _, p := range []int{8080, 8081, 8082} {
				out[fmt.Sprintf("in tcp %s:%d", ip, p)] = tcpTry(tp.Client, hostPort(ip, p))
			}
			out["in ping "+ip] = fmt.Sprint(tp.Client.Ping(ip, 500e6))
		}
		return out
	}
	f := filepath.Join(t.TempDir(), "eq.nft")
	must(t, os.WriteFile(f, []byte(equivRules), 0o644))
	if _, err := tp.FW.Run("nft", "-f", f); err != nil {
		t.Fatal(err)
	}
	oracle := matrix()
	if _, err := tp.FW.Run("nft", "delete", "table", "inet", "equiv"); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"none", "auto"} {
		d := startDaemon(t, tp.FW, equivRules, "--offload", mode)
		got := matrix()
		var diffs []string
		for k, want := range oracle {
			if got[k] != want {
				diffs = append(diffs, fmt.Sprintf("%s: nft %s, nfd %s", k, want, got[k]))
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			t.Errorf("--offload=%s differs from nft -f:\n%s", mode, strings.Join(diffs, "\n"))
		}
		must(t, d.stop(15))
	}
	var keys []string
	for k := range oracle {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("%d outcomes agree under nft -f, --offload=none and --offload=auto", len(keys))
}
