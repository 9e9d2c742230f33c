package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// equivCorpus is the integration corpus: rulesets written for the test
// topology, and the shipped examples.
func equivCorpus(t *testing.T) []string {
	var files []string
	for _, g := range []string{"testdata/equiv/*.nft", "../../deploy/examples/*.nft"} {
		m, err := filepath.Glob(g)
		must(t, err)
		files = append(files, m...)
	}
	if len(files) < 8 {
		t.Fatalf("integration corpus has %d files", len(files))
	}
	return files
}

// resetFW empties the firewall namespace's ruleset and connection table
// (the test's own namespace: nothing else lives there).
func resetFW(t *testing.T, tp *netns.Topology) {
	t.Helper()
	if out, err := tp.FW.Run("nft", "flush", "ruleset"); err != nil {
		t.Fatalf("nft flush ruleset in the test namespace: %v %s", err, out)
	}
	_, _ = tp.FW.Run("conntrack", "-F")
}

// nftOracle probes the traffic matrix with src loaded by plain nft -f
// (without nfd's own matches, which nft cannot load), from and back to an
// empty firewall namespace.
func nftOracle(t *testing.T, tp *netns.Topology, src []byte) map[string]string {
	t.Helper()
	resetFW(t, tp)
	oracleFile := filepath.Join(t.TempDir(), "oracle.nft")
	must(t, os.WriteFile(oracleFile, l7Line.ReplaceAll(l7Set.ReplaceAll(src, nil), nil), 0o644))
	if out, err := tp.FW.Run("nft", "-f", oracleFile); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	oracle := equivMatrix(tp)
	resetFW(t, tp)
	return oracle
}

// l7Set and l7Line are sets of nfd's own name types and rules using nfd's
// own matches, which nft cannot load; the oracle goes without them.
var (
	l7Set  = regexp.MustCompile(`(?m)^\s*set \w+ \{(?:[^{}]|\{[^{}]*\})*typeof (?:tls sni|http host|dns qname)(?:[^{}]|\{[^{}]*\})*\}\n`)
	l7Line = regexp.MustCompile(`(?m)^.*\b(tls sni|http host|dns qname)\b.*\n`)
)

// oracleDiffs lists, sorted, every key whose value nfd gives differently
// from the oracle ("nft" or "kernel" in the lines).
func oracleDiffs[V comparable](oracle, got map[string]V, name string) []string {
	var diffs []string
	for k, want := range oracle {
		if got[k] != want {
			diffs = append(diffs, fmt.Sprintf("%s: %s %v, nfd %v", k, name, want, got[k]))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// probe is one cell of the traffic matrix.
type probe struct {
	key  string
	ping bool // raw ICMP sockets see each other's replies: run these one at a time
	run  func() string
}

// equivMatrix probes every hook: TCP to open, closed, rejected and dropped
// ports, UDP, ICMP, IPv4 and IPv6; forwarded, to the firewall, from the
// firewall. TCP and UDP probes run concurrently, so the timeouts of
// dropped ones overlap.
func equivMatrix(tp *netns.Topology) map[string]string {
	var probes []probe
	add := func(key string, ping bool, run func() string) { probes = append(probes, probe{key, ping, run}) }
	for _, ip := range []string{netns.ServerIP4, netns.ServerIP6} {
		for _, p := range []int{80, 81, 82, 83} {
			addr := hostPort(ip, p)
			add(fmt.Sprintf("fwd tcp %s:%d", ip, p), false, func() string { return tcpTry(tp.Client, addr) })
			add(fmt.Sprintf("out tcp %s:%d", ip, p), false, func() string { return tcpTry(tp.FW, addr) })
		}
		for _, p := range []int{53, 54, 55} {
			addr := hostPort(ip, p)
			add(fmt.Sprintf("fwd udp %s:%d", ip, p), false, func() string { return udpTry(tp.Client, addr) })
			add(fmt.Sprintf("out udp %s:%d", ip, p), false, func() string { return udpTry(tp.FW, addr) })
		}
		add("fwd ping "+ip, true, func() string { return fmt.Sprint(tp.Client.Ping(ip, 500e6)) })
		add("out ping "+ip, true, func() string { return fmt.Sprint(tp.FW.Ping(ip, 500e6)) })
	}
	for _, ip := range []string{netns.FWClient4, netns.FWClient6} {
		for _, p := range []int{8080, 8081, 8082} {
			addr := hostPort(ip, p)
			add(fmt.Sprintf("in tcp %s:%d", ip, p), false, func() string { return tcpTry(tp.Client, addr) })
		}
		add("in ping "+ip, true, func() string { return fmt.Sprint(tp.Client.Ping(ip, 500e6)) })
	}
	out := make(map[string]string, len(probes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, p := range probes {
		if p.ping {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			r := p.run()
			<-sem
			mu.Lock()
			out[p.key] = r
			mu.Unlock()
		}()
	}
	for _, p := range probes {
		if p.ping {
			r := p.run()
			mu.Lock()
			out[p.key] = r
			mu.Unlock()
		}
	}
	wg.Wait()
	return out
}

// TestOffloadEquivalence runs the traffic matrix under every ruleset of
// the integration corpus loaded three ways: plain nft -f (the oracle; for
// files with nfd's own matches, the file without those rules, which the
// matrix never triggers), nfd --offload=none and nfd --offload=auto. The
// outcomes must be identical.
func TestOffloadEquivalence(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "conntrack")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81, 82, 83}, []int{53, 54, 55})
	servers(t, tp.FW, []int{8080, 8081, 8082}, nil)
	reset := func() { resetFW(t, tp) }
	total, distinct := 0, map[string]bool{}
	for _, file := range equivCorpus(t) {
		src, err := os.ReadFile(file)
		must(t, err)
		t.Run(filepath.Base(file), func(t *testing.T) {
			oracle := nftOracle(t, tp, src)
			for _, mode := range []string{"none", "auto"} {
				d := startDaemon(t, tp.FW, string(src), "--offload", mode)
				got := equivMatrix(tp)
				// nfd's own tables as programmed must look intact to its
				// watcher: a false alarm would restore them over and over.
				if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket); code != 0 {
					t.Errorf("--offload=%s: reload: %s", mode, errOut)
				}
				time.Sleep(400 * time.Millisecond)
				if s, err := d.status(); err != nil || s.Restores != 0 {
					t.Errorf("--offload=%s: %d restores of intact tables (%v)", mode, s.Restores, err)
				}
				if diffs := oracleDiffs(oracle, got, "nft"); len(diffs) > 0 {
					t.Errorf("--offload=%s differs from nft -f:\n%s", mode, strings.Join(diffs, "\n"))
				}
				must(t, d.stop(15))
				if out, _ := tp.FW.Run("nft", "list", "tables"); strings.TrimSpace(out) != "" {
					t.Errorf("tables left after stop: %s", out)
				}
				reset()
			}
			outcomes := map[string]int{}
			for k, v := range oracle {
				outcomes[v]++
				distinct[k+"="+v] = true
			}
			total += len(oracle)
			t.Logf("%d outcomes agree under nft -f, --offload=none and --offload=auto: %v", len(oracle), outcomes)
		})
	}
	t.Logf("corpus: %d outcomes in all, %d distinct (probe, outcome) pairs", total, len(distinct))
}
