package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// TestDNSSetsBench measures, in one run (bench/dnssets.sh sets
// NFD_BENCH_DNS=1): the round-trip time of DNS answers through the
// firewall namespace without nfd and with nfd filling a set from them
// (p50, p99; each lookup a fresh name, so every answer adds an address),
// and the TCP throughput (iperf3) of a flow allowed by a set filled from
// DNS against one allowed by a static set, alternating rounds.
func TestDNSSetsBench(t *testing.T) {
	if os.Getenv("NFD_BENCH_DNS") == "" {
		t.Skip("benchmark: run bench/dnssets.sh (NFD_BENCH_DNS=1)")
	}
	netns.SkipUnlessRoot(t, "nft", "iperf3")
	lookups := envInt("LOOKUPS", 1000)
	secs := envInt("SECS", 4)
	rounds := envInt("ROUNDS", 3)
	tp := dnsTopo(t, 3600, 2*lookups+2, false)
	srv := netns.ServerIP4
	measure := func(from int) []time.Duration {
		var out []time.Duration
		for i := from; i < from+lookups; i++ {
			t0 := time.Now()
			if _, err := dnsLookup(tp.Client, srv, fmt.Sprintf("n%d.ok.test", i)); err != nil {
				t.Fatal(err)
			}
			out = append(out, time.Since(t0))
		}
		slices.Sort(out)
		return out
	}
	pct := func(d []time.Duration, p float64) time.Duration { return d[int(float64(len(d)-1)*p)] }
	// without nfd (no firewall), then with it
	base := measure(1)
	args := []string{"--offload", "auto", "--dns-budget", "100000"}
	if bp := os.Getenv("BUSY_POLL"); bp != "" {
		args = append(args, "--busy-poll", bp)
	}
	d := startDaemon(t, tp.FW, dnsRules, args...)
	with := measure(lookups + 1)
	t.Logf("RESULT dns-latency without-nfd p50=%v p99=%v with-nfd p50=%v p99=%v added p50=%v p99=%v lookups=%d",
		pct(base, .5), pct(base, .99), pct(with, .5), pct(with, .99), pct(with, .5)-pct(base, .5), pct(with, .99)-pct(base, .99), lookups)
	if ds := dnsSetStatus(t, d, "ok4"); ds.Added == 0 {
		t.Fatalf("nothing learned: %+v", ds)
	}
	// throughput: 10.11.0.1 (n1, learned) vs 10.10.3.250 (static set)
	if _, err := dnsLookup(tp.Client, srv, "n1.ok.test"); err != nil {
		t.Fatal(err)
	}
	// One iperf3 server per address; each round runs both flows at the
	// same time, so load from elsewhere on the machine hits both alike,
	// and the round's ratio is what is compared.
	for _, a := range []string{"10.11.0.1", "10.10.3.250"} {
		iperf := tp.Server.Cmd("iperf3", "-s", "-B", a, "-p", "8080")
		if err := iperf.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = iperf.Process.Kill(); _ = iperf.Wait() })
	}
	time.Sleep(300 * time.Millisecond)
	run := func(addr string, res *float64, done chan<- error) {
		out, err := tp.Client.Run("iperf3", "-c", addr, "-p", "8080", "-t", strconv.Itoa(secs), "-J")
		if err != nil {
			done <- err
			return
		}
		var r struct {
			End struct {
				SumReceived struct {
					Bps float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			done <- err
			return
		}
		*res = r.End.SumReceived.Bps / 1e9
		done <- nil
	}
	var named, static, ratios []float64
	for i := 0; i < rounds; i++ {
		var n, st float64
		done := make(chan error, 2)
		go run("10.11.0.1", &n, done)
		go run("10.10.3.250", &st, done)
		for k := 0; k < 2; k++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		named, static, ratios = append(named, n), append(static, st), append(ratios, n/st)
	}
	med := func(x []float64) float64 { y := slices.Clone(x); slices.Sort(y); return y[len(y)/2] }
	st, err := d.status()
	must(t, err)
	var userspace uint64
	for _, h := range st.Hooks {
		userspace += h.Packets
	}
	t.Logf("RESULT tcp-throughput (concurrent flows) name-allowed=%.2f Gbit/s static-set=%.2f Gbit/s median-ratio=%.3f ratios=%.2f rounds=%d userspace-packets=%d",
		med(named), med(static), med(ratios), ratios, rounds, userspace)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
