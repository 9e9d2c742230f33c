package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nfdproject/nfd/hooks"
	"github.com/nfdproject/nfd/metrics"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/queue"
)

// snapshot gathers the daemon's counters for one scrape.
func snapshot(d *hooks.Daemon) metrics.Snapshot {
	var s metrics.Snapshot
	for fi, fam := range []string{"ipv4", "ipv6"} {
		for _, h := range parser.Hooks {
			t := d.Stats.Totals(fi, h)
			s.Hooks = append(s.Hooks, metrics.HookCount{Family: fam, Hook: h.String(), Accept: t.Accept, Drop: t.Drop, Reject: t.Reject, Bytes: t.Bytes})
		}
	}
	s.RulesByPlacement = map[string]int{}
	kc := d.RecentKernelCounters()
	for _, r := range d.Engine().Rules {
		pl := d.RulePlacement(r).String()
		k := kc.Rules[planner.RuleRef{Family: r.Family, Table: r.Table, Chain: r.Chain, Index: r.Index}]
		s.Rules = append(s.Rules, metrics.RuleCount{Table: r.Family.String() + " " + r.Table, Chain: r.Chain, Rule: r.Label(),
			Placement: pl, Packets: r.Counts.Packets.Load() + k[0], Bytes: r.Counts.Bytes.Load() + k[1]})
		s.RulesByPlacement[pl]++
	}
	native := hooks.NativeDecisions(d.Engine(), kc) // hook, verdict → packets decided natively
	for k, v := range native {
		s.Kernel = append(s.Kernel, metrics.KernelCount{Hook: k[0], Verdict: k[1], Packets: v})
	}
	proc := queue.ProcDrops()
	for n, pk := range d.QueuePackets() {
		s.Queues = append(s.Queues, metrics.QueueCount{Queue: n, Packets: pk, QueueFull: proc[n].QueueFull, UserDropped: proc[n].UserDropped})
	}
	ct := d.Conntrack().Stats()
	s.ConntrackEntries, s.ConntrackLimit, s.ConntrackEvictions, s.ConntrackInvalid, s.ConntrackDrops = ct.Entries, ct.Max, ct.Evictions, ct.Invalid, ct.Drops
	s.ConntrackResyncs = ct.Resynced
	s.ConntrackNamesLost = ct.NamesAbandoned
	s.LastReloadOK, s.LastReloadSuccess, s.Reloads, s.ReloadErrs = d.ReloadState()
	s.Version, s.QueueMode = version, d.QueueMode().String()
	s.QueueErrors = d.Stats.Errors.Load()
	s.Continued, s.ContinuedReject = d.Stats.Continued.Load(), d.Stats.RejectedInKernel.Load()
	return s
}

// serveMetrics serves /metrics on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, d *hooks.Daemon, vd *metrics.VerdictDuration, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(func() metrics.Snapshot { return snapshot(d) }))
	reg.MustRegister(metrics.NewDNSCollector(func() metrics.DNSSnapshot { return dnsSnapshot(d) }))
	for _, c := range vd.Collectors() {
		reg.MustRegister(c)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("metrics", "addr", ln.Addr().String())
	return nil
}
