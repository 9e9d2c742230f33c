package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// loopRules count, at every hook, the conntrack state of the host's
// traffic to itself (looped back through lo) and of the RSTs and ICMP
// errors its rejects send, with `ct state invalid drop` at output and
// input. In the kernel a packet looped back keeps the entry it got at
// output (tracked once), and a reject's reply carries the rejected
// packet's entry as related (nf_ct_attach()).
const loopRules = `table inet loop {
	chain output {
		type filter hook output priority 0; policy accept;
		meta l4proto { tcp, udp, icmp, ipv6-icmp } ct state related ct direction reply counter comment "out related reply"
		meta l4proto { tcp, udp, icmp, ipv6-icmp } ct state related ct direction original counter comment "out related original"
		meta l4proto { tcp, udp } ct state invalid counter drop comment "out invalid"
		tcp dport 81 counter reject with tcp reset comment "out reject rst"
		udp dport 55 counter reject comment "out reject icmp"
		meta l4proto { tcp, udp } ct state new counter comment "out new"
		meta l4proto { tcp, udp } ct state established counter comment "out est"
	}
	chain postrouting {
		type filter hook postrouting priority 0; policy accept;
		meta l4proto { tcp, udp, icmp, ipv6-icmp } ct state related counter comment "post related"
		meta l4proto { tcp, udp } ct state new counter comment "post new"
		meta l4proto { tcp, udp } ct state established counter comment "post est"
		meta l4proto { tcp, udp } ct state invalid counter comment "post invalid"
	}
	chain prerouting {
		type filter hook prerouting priority 0; policy accept;
		iifname "lo" meta l4proto { tcp, udp, icmp, ipv6-icmp } ct state related counter comment "pre lo related"
		iifname "lo" meta l4proto { tcp, udp } ct state new counter comment "pre lo new"
		iifname "lo" meta l4proto { tcp, udp } ct state new ct status confirmed counter comment "pre lo new confirmed"
		iifname "lo" meta l4proto { tcp, udp } ct state established counter comment "pre lo est"
		iifname "lo" meta l4proto { tcp, udp } ct state invalid counter comment "pre lo invalid"
	}
	chain input {
		type filter hook input priority 0; policy drop;
		meta l4proto { tcp, udp, icmp, ipv6-icmp } ct state related ct direction reply counter comment "in related reply"
		ct state established,related counter accept comment "in est"
		ct state invalid counter drop comment "in invalid"
		iifname "lo" meta l4proto { tcp, udp } ct status confirmed counter comment "in lo new confirmed"
		tcp dport 8080 counter accept comment "in tcp"
		tcp dport 8082 counter reject with tcp reset comment "in reject"
		udp dport 5300 counter accept comment "in udp"
		icmp type echo-request accept
		icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept
	}
}
`

// TestLoopbackConntrack: the host's own connections to itself through lo,
// and the replies of rejects at output and input (to the host itself and
// to the client), give the outcomes and per-rule counts of `nft -f` under
// nfd: each looped packet is tracked once, at output, and seen at
// prerouting and input with the state it had there (confirmed); each
// reject's reply is related to the rejected connection at every hook.
// Before nfd did so, a looped SYN/ACK tracked a second time at input was
// invalid and nfd's RSTs were tracked as strays (invalid): the connections
// below timed out where the kernel's were refused or answered.
func TestLoopbackConntrack(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "conntrack")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, nil)
	servers(t, tp.FW, []int{8080, 8082}, []int{5300})
	reset := func() {
		t.Helper()
		if out, err := tp.FW.Run("nft", "flush", "ruleset"); err != nil {
			t.Fatalf("nft flush ruleset in the test namespace: %v %s", err, out)
		}
		_, _ = tp.FW.Run("conntrack", "-F")
		time.Sleep(100 * time.Millisecond)
	}
	var ps []probe
	for _, ip := range []string{netns.FWClient4, netns.FWClient6} {
		ps = append(ps,
			probe{"self tcp " + ip + " 8080", false, func() string { return tcpTry(tp.FW, hostPort(ip, 8080)) }},
			probe{"self tcp " + ip + " 8082", false, func() string { return tcpTry(tp.FW, hostPort(ip, 8082)) }},
			probe{"self udp " + ip + " 5300", false, func() string { return udpExchange(tp.FW, hostPort(ip, 5300)) }},
			probe{"self tcp " + ip + " 81", false, func() string { return tcpTry(tp.FW, hostPort(ip, 81)) }},
			probe{"in tcp " + ip + " 8082", false, func() string { return tcpTry(tp.Client, hostPort(ip, 8082)) }})
	}
	for _, ip := range []string{netns.ServerIP4, netns.ServerIP6} {
		ps = append(ps,
			probe{"out tcp " + ip + " 80", false, func() string { return tcpTry(tp.FW, hostPort(ip, 80)) }},
			probe{"out tcp " + ip + " 81", false, func() string { return tcpTry(tp.FW, hostPort(ip, 81)) }},
			probe{"out udp " + ip + " 55", false, func() string { return udpTry(tp.FW, hostPort(ip, 55)) }})
	}
	run := func() map[string]string {
		out := map[string]string{}
		for _, p := range ps { // one at a time: the counts must not depend on timing
			out[p.key] = p.run()
		}
		time.Sleep(300 * time.Millisecond) // the last teardown
		return out
	}
	f := t.TempDir() + "/oracle.nft"
	must(t, os.WriteFile(f, []byte(loopRules), 0o644))
	reset()
	if out, err := tp.FW.Run("nft", "-f", f); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	oracle := run()
	listing, err := tp.FW.Run("nft", "list", "ruleset")
	must(t, err)
	oracleCounts := ruleCounts(t, listing, false)
	for _, k := range []string{"out related reply", "pre lo related", "in related reply", "pre lo new confirmed", "in lo new confirmed", "pre lo est"} {
		if oracleCounts[k] == "0" {
			t.Fatalf("the oracle counted nothing at %q: the probes do not exercise it\n%s", k, listing)
		}
	}
	reset()
	for _, mode := range []string{"none", "auto"} {
		d := startDaemon(t, tp.FW, loopRules, "--offload", mode)
		got := run()
		if diffs := oracleDiffs(oracle, got, "nft"); len(diffs) > 0 {
			t.Errorf("--offload=%s differs from nft -f:\n%s", mode, strings.Join(diffs, "\n"))
		}
		out, errOut, code := runIn(t, tp.FW, "rules", "--socket", d.socket)
		if code != 0 {
			t.Fatalf("nfd rules: %s", errOut)
		}
		if diffs := oracleDiffs(oracleCounts, ruleCounts(t, out, true), "nft"); len(diffs) > 0 {
			t.Errorf("--offload=%s: rule counts differ from nft -f:\n%s\n%s", mode, strings.Join(diffs, "\n"), out)
		}
		must(t, d.stop(15))
		reset()
	}
	t.Logf("%d outcomes equal to nft -f: %v; rule counts %v", len(oracle), oracle, oracleCounts)
}
