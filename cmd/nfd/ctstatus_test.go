package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// ctStatusRules counts `ct status` in every form nft has (a flag, !=, a
// mask compared, a set of flags, per protocol) at forward and input,
// after a name rule so that nfd evaluates them in both offload modes.
const ctStatusRules = `table inet c {
	chain forward {
		type filter hook forward priority 0; policy accept;
		tls sni "blocked.example" drop
		ct status confirmed counter
		ct status != confirmed counter
		ct status seen-reply counter
		ct status assured counter
		ct status & (seen-reply | assured) == seen-reply counter
		ct status { assured, seen-reply } counter
		ct status seen-reply,assured counter
		ct status != { assured } counter
		ct status dnat counter
		ct status expected counter
		meta l4proto tcp ct status assured counter
		meta l4proto udp ct status seen-reply counter
		meta l4proto icmp ct status seen-reply counter
		meta l4proto ipv6-icmp ct status seen-reply counter
	}
	chain input {
		type filter hook input priority 0; policy accept;
		tls sni "blocked.example" drop
		ct status confirmed counter
		ct status seen-reply counter
		ct status assured counter
		ct status & (confirmed | seen-reply) == confirmed counter
	}
}
`

func ctStatusTraffic(tp *netns.Topology) map[string]string {
	out := map[string]string{}
	for _, fam := range []struct{ fw, server string }{{netns.FWClient4, netns.ServerIP4}, {netns.FWClient6, netns.ServerIP6}} {
		out["fwd tcp 80 "+fam.server] = tcpTry(tp.Client, hostPort(fam.server, 80))
		out["fwd udp 53 "+fam.server] = udpTry(tp.Client, hostPort(fam.server, 53))
		out["fwd udp 53 again "+fam.server] = udpTry(tp.Client, hostPort(fam.server, 53))
		out["fwd ping "+fam.server] = boolStr(tp.Client.Ping(fam.server, 500*time.Millisecond))
		out["in tcp 8080 "+fam.fw] = tcpTry(tp.Client, hostPort(fam.fw, 8080))
		out["in ping "+fam.fw] = boolStr(tp.Client.Ping(fam.fw, 500*time.Millisecond))
	}
	time.Sleep(200 * time.Millisecond) // the last FINs
	return out
}

// TestCtStatusOracle (issue 19): `ct status` forms count the same packets
// under nfd as under nft -f (the file without the name rules) for TCP,
// UDP and ICMP connections, forwarded and to the host, both families.
func TestCtStatusOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, []int{53})
	servers(t, tp.FW, []int{8080}, nil)
	oracleFile := filepath.Join(t.TempDir(), "oracle.nft")
	must(t, os.WriteFile(oracleFile, l7Line.ReplaceAll([]byte(ctStatusRules), nil), 0o644))
	if out, err := tp.FW.Run("nft", "-f", oracleFile); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	want := ctStatusTraffic(tp)
	listing, err := tp.FW.Run("nft", "list", "table", "inet", "c")
	must(t, err)
	wantCounts := counterPackets(listing)
	if out, err := tp.FW.Run("nft", "flush", "ruleset"); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	resetFW(t, tp)
	t.Logf("nft -f: %v, counters %v", want, wantCounts)
	for _, mode := range []string{"none", "auto"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t, tp.FW, ctStatusRules, "--offload", mode)
			got := ctStatusTraffic(tp)
			matchesOracle(t, tp.FW, d, want, got, wantCounts)
			must(t, d.stop(15))
			resetFW(t, tp)
		})
	}
}
