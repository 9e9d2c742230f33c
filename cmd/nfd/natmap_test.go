package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// natMapRules forward the firewall's own address by port through a DNAT
// map to the server (8080 to a listening port, 8081 to a closed one), and
// mark forwarded packets through a mark map, dropping mark 2.
var natMapRules = fmt.Sprintf(`table ip nat {
	map ports {
		type inet_service : ipv4_addr . inet_service
		elements = { 8080 : %[1]s . 7001, 8081 : %[1]s . 7003, 8082 : %[1]s . 7002 }
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %[2]s dnat ip to tcp dport map @ports
	}
}
table ip filter {
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta mark set tcp dport map { 7001 : 1, 7002 : 2 }
		meta mark 2 drop
	}
}
`, netns.ServerIP4, netns.FWClient4)

// TestNATMapReachesBackend: a DNAT through a map sends each port to its
// backend, and a mark set from a map (evaluated by nfd) drops what it
// should, exactly as the same file loaded by `nft -f` does.
func TestNATMapReachesBackend(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{7001, 7002}, nil)
	want := map[int]string{8080: ok, 8081: refused, 8082: timeout}
	try := func(who string) {
		for port, w := range want {
			if got := tcpTry(tp.Client, hostPort(netns.FWClient4, port)); got != w {
				t.Errorf("%s: port %d: %s, want %s", who, port, got, w)
			}
		}
	}
	f := filepath.Join(t.TempDir(), "r.nft")
	must(t, os.WriteFile(f, []byte(natMapRules), 0o644))
	if out, err := tp.FW.Run("nft", "-f", f); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	try("nft -f")
	if out, err := tp.FW.Run("nft", "flush", "ruleset"); err != nil {
		t.Fatalf("nft flush: %v\n%s", err, out)
	}
	tp.FW.Run("conntrack", "-F")
	startDaemon(t, tp.FW, natMapRules)
	try("nfd")
}
