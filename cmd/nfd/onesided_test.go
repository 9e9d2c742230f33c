package main

import (
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// The most common host firewall: an input chain, no output chain. nfd
// sees the client's packets and none of the host's answers; the kernel
// sees both.
const inputOnlyRules = `table inet host {
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related counter accept comment "est"
		ct state invalid counter drop comment "invalid"
		tcp dport 8080 counter accept comment "tcp"
		udp dport 5300 counter accept comment "udp"
		icmp type echo-request counter accept comment "ping4"
		icmpv6 type echo-request counter accept comment "ping6"
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
	}
}
`

// The host's own connections out, with no input chain: nfd sees the
// host's packets and none of the answers.
const outputOnlyRules = `table inet host {
	chain output {
		type filter hook output priority 0; policy drop;
		ct state established,related counter accept comment "est"
		ct state invalid counter drop comment "invalid"
		tcp dport 80 counter accept comment "tcp"
		udp dport 53 counter accept comment "udp"
		icmp type echo-request counter accept comment "ping4"
		icmpv6 type echo-request counter accept comment "ping6"
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
	}
}
`

// A router: both directions pass forward.
const forwardOnlyRules = `table inet router {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related counter accept comment "est"
		ct state invalid counter drop comment "invalid"
		tcp dport 80 counter accept comment "tcp"
		udp dport 53 counter accept comment "udp"
		icmp type echo-request counter accept comment "ping4"
		icmpv6 type echo-request counter accept comment "ping6"
	}
}
`

// udpExchange sends two datagrams on one socket, each waiting for its
// echo: the second is `established` to the kernel once the first was
// answered.
func udpExchange(ns *netns.NS, addr string) string {
	var res []string
	_ = ns.Do(func() error {
		c, err := net.Dial("udp", addr)
		if err != nil {
			res = append(res, classify(err))
			return nil
		}
		defer c.Close()
		buf := make([]byte, 16)
		for _, m := range []string{"first", "second"} {
			_ = c.SetDeadline(time.Now().Add(700 * time.Millisecond))
			_, _ = c.Write([]byte(m))
			_, err := c.Read(buf)
			res = append(res, classify(err))
		}
		return nil
	})
	return strings.Join(res, ",")
}

// pings runs ping(8) with three echo requests (one ICMP id: the later
// requests are `established` once the first was answered) and returns how
// many answers came back.
func pings(ns *netns.NS, ip string) string {
	out, _ := ns.Run("ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", ip)
	if m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(out); m != nil {
		return m[1] + " answers"
	}
	return "no ping output: " + out
}

type oneSidedCase struct {
	name, rules string
	probes      func(tp *netns.Topology) []probe
}

func oneSidedCases() []oneSidedCase {
	return []oneSidedCase{
		{"input-only", inputOnlyRules, func(tp *netns.Topology) []probe {
			var ps []probe
			for _, ip := range []string{netns.FWClient4, netns.FWClient6} {
				ps = append(ps,
					probe{"tcp 8080 " + ip, false, func() string { return tcpTry(tp.Client, hostPort(ip, 8080)) }},
					probe{"tcp 8081 " + ip, false, func() string { return tcpTry(tp.Client, hostPort(ip, 8081)) }},
					probe{"udp 5300 " + ip, false, func() string { return udpExchange(tp.Client, hostPort(ip, 5300)) }},
					probe{"udp 5301 " + ip, false, func() string { return udpExchange(tp.Client, hostPort(ip, 5301)) }},
					probe{"ping " + ip, true, func() string { return pings(tp.Client, ip) }})
			}
			return ps
		}},
		{"output-only", outputOnlyRules, func(tp *netns.Topology) []probe {
			var ps []probe
			for _, ip := range []string{netns.ServerIP4, netns.ServerIP6} {
				ps = append(ps,
					probe{"tcp 80 " + ip, false, func() string { return tcpTry(tp.FW, hostPort(ip, 80)) }},
					probe{"tcp 81 " + ip, false, func() string { return tcpTry(tp.FW, hostPort(ip, 81)) }},
					probe{"udp 53 " + ip, false, func() string { return udpExchange(tp.FW, hostPort(ip, 53)) }},
					probe{"udp 54 " + ip, false, func() string { return udpExchange(tp.FW, hostPort(ip, 54)) }},
					probe{"ping " + ip, true, func() string { return pings(tp.FW, ip) }})
			}
			// Into the host: its answers are the only packets nfd sees.
			ps = append(ps, probe{"in tcp 8080", false, func() string { return tcpTry(tp.Client, hostPort(netns.FWClient4, 8080)) }})
			return ps
		}},
		{"forward-only", forwardOnlyRules, func(tp *netns.Topology) []probe {
			var ps []probe
			for _, ip := range []string{netns.ServerIP4, netns.ServerIP6} {
				ps = append(ps,
					probe{"tcp 80 " + ip, false, func() string { return tcpTry(tp.Client, hostPort(ip, 80)) }},
					probe{"tcp 81 " + ip, false, func() string { return tcpTry(tp.Client, hostPort(ip, 81)) }},
					probe{"udp 53 " + ip, false, func() string { return udpExchange(tp.Client, hostPort(ip, 53)) }},
					probe{"udp 54 " + ip, false, func() string { return udpExchange(tp.Client, hostPort(ip, 54)) }},
					probe{"ping " + ip, true, func() string { return pings(tp.Client, ip) }})
			}
			return ps
		}},
	}
}

var (
	nftCounterRe = regexp.MustCompile(`counter packets (\d+) bytes \d+[^\n]*comment "([^"]+)"`)
	nfdCounterRe = regexp.MustCompile(`comment "([^"]+)" # [^\n]*packets (\d+)`)
)

// ruleCounts maps each rule's comment to its packet count: from `nft list
// ruleset` (oracle) or from `nfd rules`.
func ruleCounts(t *testing.T, text string, nfd bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	if nfd {
		for _, m := range nfdCounterRe.FindAllStringSubmatch(text, -1) {
			out[m[1]] = m[2]
		}
	} else {
		for _, m := range nftCounterRe.FindAllStringSubmatch(text, -1) {
			out[m[2]] = m[1]
		}
	}
	if len(out) == 0 {
		t.Fatalf("no rule counts in:\n%s", text)
	}
	return out
}

// TestOneSidedConntrack: rulesets whose queued chains see one direction of
// a connection (input only, output only) and one that sees both (forward
// only) give the outcomes and per-rule counts of `nft -f` under
// --offload=none and --offload=auto, with real TCP, UDP (a second
// datagram after an answer) and ping to and from the host.
func TestOneSidedConntrack(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "conntrack", "ping")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81}, []int{53, 54})
	servers(t, tp.FW, []int{8080, 8081}, []int{5300, 5301})
	reset := func() {
		t.Helper()
		if out, err := tp.FW.Run("nft", "flush", "ruleset"); err != nil {
			t.Fatalf("nft flush ruleset in the test namespace: %v %s", err, out)
		}
		_, _ = tp.FW.Run("conntrack", "-F")
		time.Sleep(100 * time.Millisecond)
	}
	run := func(ps []probe) map[string]string {
		out := map[string]string{}
		for _, p := range ps { // one at a time: the counts must not depend on timing
			out[p.key] = p.run()
		}
		return out
	}
	for _, c := range oneSidedCases() {
		t.Run(c.name, func(t *testing.T) {
			reset()
			f := t.TempDir() + "/oracle.nft"
			must(t, os.WriteFile(f, []byte(c.rules), 0o644))
			if out, err := tp.FW.Run("nft", "-f", f); err != nil {
				t.Fatalf("nft -f: %v\n%s", err, out)
			}
			oracle := run(c.probes(tp))
			listing, err := tp.FW.Run("nft", "list", "ruleset")
			must(t, err)
			oracleCounts := ruleCounts(t, listing, false)
			reset()
			for _, mode := range []string{"none", "auto"} {
				d := startDaemon(t, tp.FW, c.rules, "--offload", mode)
				got := run(c.probes(tp))
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
				if mode == "none" {
					s, err := d.status()
					must(t, err)
					t.Logf("--offload=none: conntrack %+v", s.Conntrack)
				}
				must(t, d.stop(15))
				reset()
			}
			t.Logf("%s: %d outcomes equal to nft -f: %v; rule counts %v", c.name, len(oracle), oracle, oracleCounts)
		})
	}
}
