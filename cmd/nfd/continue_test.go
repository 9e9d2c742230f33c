package main

import (
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// contRules has rules only the kernel can evaluate (`meta pkttype`, `fib`,
// `meta skuid`) after a name rule nfd runs, at input, forward and output,
// in base chains and inside a jumped-to chain that returns. Every rule
// carries a counter. The name rules (no port guard, so they queue every
// packet) never match the traffic below; the oracle is the file without
// them under nft -f. IPv4 only, so no neighbour discovery adds packets.
const contRules = `table ip f {
	chain sub {
		counter
		meta pkttype broadcast counter return
		meta pkttype host counter return
		counter
	}
	chain sub2 {
		counter
		udp dport 8082 meta pkttype host counter drop
		counter
	}
	chain input {
		type filter hook input priority 0; policy accept;
		counter
		tls sni "blocked.example" drop
		icmp type echo-request counter
		meta pkttype host counter
		icmp type echo-request jump sub
		fib daddr type local icmp type echo-request counter
		udp dport 8081 meta pkttype host counter drop
		udp dport 8082 jump sub2
		counter
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		counter
		tls sni "blocked.example" drop
		ip protocol icmp counter
		fib saddr . iif oif missing counter drop
		udp dport 54 meta pkttype host counter drop
		counter
	}
	chain output {
		type filter hook output priority 0; policy accept;
		dns qname "blocked.example" drop
		udp dport 55 counter
		meta skuid 0 udp dport 55 counter drop
		counter
	}
}
`

var counterRE = regexp.MustCompile(`counter packets (\d+)`)

// counterPackets lists the packets of every counter statement, in order.
// matchesOracle compares what a daemon under test gave with what nft -f
// gave for the same traffic: the outcomes, and the per-rule packet counts
// `nfd rules` lists with nft's. It returns the listing.
func matchesOracle[V comparable](t *testing.T, fw *netns.NS, d *daemon, want, got map[string]V, wantCounts []string) string {
	t.Helper()
	if diffs := oracleDiffs(want, got, "nft"); len(diffs) > 0 {
		t.Errorf("outcomes differ from nft -f:\n%s", strings.Join(diffs, "\n"))
	}
	out, errOut, code := runIn(t, fw, "rules", "--socket", d.socket)
	if code != 0 {
		t.Fatalf("nfd rules: %s", errOut)
	}
	if gotCounts := counterPackets(out); strings.Join(gotCounts, " ") != strings.Join(wantCounts, " ") {
		t.Errorf("counters differ: nft %v, nfd %v\n%s", wantCounts, gotCounts, out)
	}
	return out
}

func counterPackets(out string) []string {
	var n []string
	for _, m := range counterRE.FindAllStringSubmatch(out, -1) {
		n = append(n, m[1])
	}
	return n
}

func contTraffic(tp *netns.Topology) map[string]string {
	out := map[string]string{}
	for i := 0; i < 3; i++ {
		out["in ping "+string(rune('0'+i))] = boolStr(tp.Client.Ping(netns.FWClient4, 500*time.Millisecond))
		out["fwd ping "+string(rune('0'+i))] = boolStr(tp.Client.Ping(netns.ServerIP4, 500*time.Millisecond))
	}
	out["fwd udp 53"] = udpTry(tp.Client, hostPort(netns.ServerIP4, 53))
	out["fwd udp 54"] = udpTry(tp.Client, hostPort(netns.ServerIP4, 54))
	out["in udp 8081"] = udpTry(tp.Client, hostPort(netns.FWClient4, 8081))
	out["in udp 8082"] = udpTry(tp.Client, hostPort(netns.FWClient4, 8082))
	out["in udp 8083"] = udpTry(tp.Client, hostPort(netns.FWClient4, 8083))
	out["out udp 53"] = udpTry(tp.FW, hostPort(netns.ServerIP4, 53))
	out["out udp 55"] = udpTry(tp.FW, hostPort(netns.ServerIP4, 55))
	return out
}

func boolStr(b bool) string {
	if b {
		return ok
	}
	return timeout
}

// TestContinuation: with a name rule first, kernel-only rules after it
// give nft's outcome and nft's per-rule counters under --offload=none
// and --offload=auto: nfd hands each packet back to the kernel at the
// first such rule (NF_REPEAT and a continuation chain), and the rules
// before that point count each packet once.
func TestContinuation(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, nil, []int{53, 54, 55})
	servers(t, tp.FW, nil, []int{8081, 8082, 8083})
	oracleFile := filepath.Join(t.TempDir(), "oracle.nft")
	must(t, os.WriteFile(oracleFile, l7Line.ReplaceAll([]byte(contRules), nil), 0o644))
	if out, err := tp.FW.Run("nft", "-f", oracleFile); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	want := contTraffic(tp)
	listing, err := tp.FW.Run("nft", "list", "table", "ip", "f")
	must(t, err)
	wantCounts := counterPackets(listing)
	if out, err := tp.FW.Run("nft", "flush", "ruleset"); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	t.Logf("nft -f: %v, counters %v", want, wantCounts)
	for _, mode := range []string{"none", "auto"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t, tp.FW, contRules, "--offload", mode)
			got := contTraffic(tp)
			out := matchesOracle(t, tp.FW, d, want, got, wantCounts)
			if !strings.Contains(out, "continuation") {
				t.Errorf("nfd rules shows no continuation point:\n%s", out)
			}
			s, err := d.status()
			must(t, err)
			if s.ContMissing != 0 || s.Continued == 0 {
				t.Errorf("%d packets continued in the kernel, %d dropped for want of a continuation id", s.Continued, s.ContMissing)
			}
			must(t, d.stop(15))
		})
	}
}

// insertNames puts nfd's own name rule, without a port (from it on every
// packet goes to nfd), at random positions in the file's filter base
// chains: right after the chain's `type` line or after any rule, each
// with probability 1/3, and at least once per chain.
func insertNames(src string, rng *rand.Rand) string {
	const name = "\t\ttls sni \"nfd-random.invalid\" drop"
	var out []string
	inBase, done := false, false
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if inBase && t == "}" {
			if !done {
				out = append(out, name)
			}
			inBase = false
		}
		out = append(out, line)
		switch {
		case strings.HasPrefix(t, "type filter hook"):
			inBase, done = true, false
		case !inBase || t == "" || strings.HasPrefix(t, "#"):
			continue
		}
		if inBase && rng.Intn(3) == 0 {
			out = append(out, name)
			done = true
		}
	}
	return strings.Join(out, "\n")
}

// TestContinuationRandomNames runs the equivalence corpus with a name rule
// inserted at random positions of every filter base chain (seeded), under
// --offload=none and --offload=auto, against the unchanged file under
// nft -f: kernel-only rules and everything else after a name rule keep
// the kernel's outcome (issue 15's equivalence matrix).
func TestContinuationRandomNames(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "conntrack")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81, 82, 83}, []int{53, 54, 55})
	servers(t, tp.FW, []int{8080, 8081, 8082}, nil)
	reset := func() { resetFW(t, tp) }
	for i, file := range equivCorpus(t) {
		src, err := os.ReadFile(file)
		must(t, err)
		t.Run(filepath.Base(file), func(t *testing.T) {
			oracle := nftOracle(t, tp, src)
			named := insertNames(string(src), rand.New(rand.NewSource(int64(i+1))))
			for _, mode := range []string{"none", "auto"} {
				d := startDaemon(t, tp.FW, named, "--offload", mode)
				got := equivMatrix(tp)
				if diffs := oracleDiffs(oracle, got, "nft"); len(diffs) > 0 {
					t.Errorf("--offload=%s differs from nft -f:\n%s\nfile:\n%s", mode, strings.Join(diffs, "\n"), named)
				}
				must(t, d.stop(15))
				reset()
			}
		})
	}
}
