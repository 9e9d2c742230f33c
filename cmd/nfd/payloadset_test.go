package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// mangleRules rewrite forwarded packets: DSCP and TTL of IPv4, DSCP and hop
// limit of IPv6, and the MSS option of SYNs.
const mangleRules = `table inet mangle {
	chain forward_mangle {
		type filter hook forward priority 0; policy accept;
		tcp dport 80 ip dscp set af21 ip ttl set 33
		tcp dport 80 ip6 dscp set af21 ip6 hoplimit set 33
		tcp dport 80 tcp flags syn tcp option maxseg size set 1000
	}
}
`

// observeRules count, in the server's namespace, what arrives.
const observeRules = `table inet observe {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport 80 ip dscp af21 ip ttl 33 counter
		tcp dport 80 ip6 dscp af21 ip6 hoplimit 33 counter
		tcp dport 80 tcp flags syn tcp option maxseg size 1000 counter
	}
}
`

// TestPayloadSet: a mangled DSCP, TTL and MSS reach the receiver, whose
// kernel counts them (and accepts the packets: their checksums are
// valid, else TCP would not connect), the same under nfd as under nft -f.
func TestPayloadSet(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	counts := func(tp *netns.Topology) []int {
		out, err := tp.Server.Run("nft", "list", "table", "inet", "observe")
		must(t, err)
		var n []int
		for _, m := range regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(out, -1) {
			v, _ := strconv.Atoi(m[1])
			n = append(n, v)
		}
		return n
	}
	run := func(t *testing.T, load func(tp *netns.Topology)) []int {
		tp := netns.NewTopology(t)
		servers(t, tp.Server, []int{80}, nil)
		nftLoad(t, tp.Server, observeRules)
		load(tp)
		for i := 0; i < 3; i++ {
			for _, ip := range []string{netns.ServerIP4, netns.ServerIP6} {
				if got := tcpTry(tp.Client, hostPort(ip, 80)); got != ok {
					t.Fatalf("tcp %s:80: %s", ip, got)
				}
			}
		}
		return counts(tp)
	}
	want := run(t, func(tp *netns.Topology) {
		nftLoad(t, tp.FW, mangleRules)
	})
	if len(want) != 3 || want[0] == 0 || want[1] == 0 || want[2] != 6 {
		t.Fatalf("nft -f: receiver counts %v; want IPv4 and IPv6 packets rewritten and 6 SYNs with MSS 1000", want)
	}
	got := run(t, func(tp *netns.Topology) { startDaemon(t, tp.FW, mangleRules) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("receiver counts under nfd %v, under nft -f %v", got, want)
	}
}

// nftLoad loads rules with nft -f in ns.
func nftLoad(t *testing.T, ns *netns.NS, rules string) {
	t.Helper()
	cmd := ns.Cmd("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
}
