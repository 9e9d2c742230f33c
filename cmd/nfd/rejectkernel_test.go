package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// rejectRules rejects with every form nft has (tcp reset, the default,
// icmpx, icmp and icmpv6 codes) at input, forward and output, for both
// families, each after a name rule, so nfd decides the reject. The
// postrouting and prerouting chains, without name rules, count how the
// replies are tracked: as the kernel's own (related, direction reply),
// never invalid. IPv6 neighbour discovery is untracked and depends on
// the neighbour cache, so untracked packets are counted for IPv4 only. The oracle is the file without the name rules under
// nft -f.
const rejectRules = `table inet r {
	chain input {
		type filter hook input priority 0; policy accept;
		tls sni "blocked.example" drop
		tcp dport 8081 counter reject with tcp reset
		udp dport 8081 counter reject
		udp dport 8082 counter reject with icmpx admin-prohibited
		meta nfproto ipv4 udp dport 8083 counter reject with icmp host-unreachable
		meta nfproto ipv6 udp dport 8083 counter reject with icmpv6 addr-unreachable
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		tls sni "blocked.example" drop
		tcp dport 82 counter reject with tcp reset
		udp dport 54 counter reject
		udp dport 57 counter reject with icmpx port-unreachable
	}
	chain output {
		type filter hook output priority 0; policy accept;
		tls sni "blocked.example" drop
		tcp dport 83 counter reject with tcp reset
		udp dport 56 counter reject with icmpx host-unreachable
	}
	chain post {
		type filter hook postrouting priority 0; policy accept;
		ct state related ct direction reply counter
		ct state related ct direction original counter
		ct state invalid counter
		meta nfproto ipv4 ct state untracked counter
		tcp flags rst counter
	}
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ct state related ct direction reply counter
		ct state invalid counter
		tcp flags rst counter
	}
}
`

func rejectTraffic(tp *netns.Topology) map[string]string {
	out := map[string]string{}
	for _, fam := range []struct{ fw, server string }{{netns.FWClient4, netns.ServerIP4}, {netns.FWClient6, netns.ServerIP6}} {
		out["in tcp 8081 "+fam.fw] = tcpTry(tp.Client, hostPort(fam.fw, 8081))
		out["in tcp 8080 "+fam.fw] = tcpTry(tp.Client, hostPort(fam.fw, 8080))
		for _, p := range []int{8081, 8082, 8083} {
			out["in udp "+hostPort(fam.fw, p)] = udpTry(tp.Client, hostPort(fam.fw, p))
		}
		out["fwd tcp 82 "+fam.server] = tcpTry(tp.Client, hostPort(fam.server, 82))
		for _, p := range []int{54, 57} {
			out["fwd udp "+hostPort(fam.server, p)] = udpTry(tp.Client, hostPort(fam.server, p))
		}
		out["out tcp 83 "+fam.server] = tcpTry(tp.FW, hostPort(fam.server, 83))
		out["out udp 56 "+fam.server] = udpTry(tp.FW, hostPort(fam.server, 56))
		time.Sleep(300 * time.Millisecond) // the ICMP rate limit's tokens
	}
	for k, v := range out {
		// "read udp A->B: read: no route to host": the errno, not the
		// ephemeral port
		if i := strings.LastIndex(v, ": "); i >= 0 {
			out[k] = v[i+2:]
		}
	}
	return out
}

// TestRejectByKernel: the rejects nfd decides are sent by the kernel
// (NF_REPEAT to a chain with the native reject), under --offload=none and
// --offload=auto: every form, at input, forward and output, in both
// families, gives nft -f's outcome (refused, or the ICMP error's own
// errno), and the replies are tracked as the kernel tracks its own
// (related, direction reply; none invalid), in chains nfd queues and in
// native ones, with the rule counters equal to nft's.
func TestRejectByKernel(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{82, 83}, []int{54, 56, 57})
	servers(t, tp.FW, []int{8080, 8081}, []int{8081, 8082, 8083})
	oracleFile := filepath.Join(t.TempDir(), "oracle.nft")
	must(t, os.WriteFile(oracleFile, l7Line.ReplaceAll([]byte(rejectRules), nil), 0o644))
	if out, err := tp.FW.Run("nft", "-f", oracleFile); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	want := rejectTraffic(tp)
	listing, err := tp.FW.Run("nft", "list", "table", "inet", "r")
	must(t, err)
	wantCounts := counterPackets(listing)
	if out, err := tp.FW.Run("nft", "flush", "ruleset"); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	t.Logf("nft -f: %v, counters %v", want, wantCounts)
	for _, mode := range []string{"none", "auto"} {
		t.Run(mode, func(t *testing.T) {
			time.Sleep(time.Second) // let the ICMP rate limit refill
			d := startDaemon(t, tp.FW, rejectRules, "--offload", mode)
			got := rejectTraffic(tp)
			matchesOracle(t, tp.FW, d, want, got, wantCounts)
			// every reject nfd decided was answered by the kernel
			st, err := d.status()
			must(t, err)
			if st.RejectedInKernel == 0 || st.Hooks["input"].Reject+st.Hooks["forward"].Reject+st.Hooks["output"].Reject != st.RejectedInKernel {
				t.Errorf("%d rejects handed to the kernel, of %+v", st.RejectedInKernel, st.Hooks)
			}
			must(t, d.stop(15))
		})
	}
}
