package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/dnsfill"
	"github.com/nfdproject/nfd/hooks"
	"github.com/nfdproject/nfd/internal/control"
	"github.com/nfdproject/nfd/internal/sdnotify"
	"github.com/nfdproject/nfd/metrics"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

type runFlags struct {
	rules, offload, socket, metrics, logLevel, queueImpl, stateDir, cpuProfile, heapProfile string
	queues, queueBase, ctMax                                                                int
	markMask, queueLen                                                                      uint32
	busyPoll                                                                                time.Duration
	dnsTTLMin, dnsTTLMax                                                                    time.Duration
	dnsMax, dnsBudget                                                                       int
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run --rules FILE",
		Short: "Run the firewall daemon",
		Long: `run starts the daemon: it probes the kernel's queue support, parses and
validates the rule file (on error it exits 1 and programs nothing), builds
the engine, programs nfd's own nftables tables, opens the queues, tells
systemd it is ready, and serves the control socket. SIGHUP reloads the
rule file; SIGTERM or SIGINT removes nfd's tables and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDaemon(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rules, "rules", "/etc/nfd/rules.nft", "rule file (nft syntax)")
	fl.StringVar(&f.offload, "offload", planner.OffloadAuto, "auto: kernel-expressible rules run in native nftables; none: every filter rule in nfd")
	fl.IntVar(&f.queues, "queues", 0, "queues per base chain, balanced by CPU fanout (0: one per CPU)")
	fl.IntVar(&f.queueBase, "queue-base", 1000, "first NFQUEUE number nfd uses")
	fl.IntVar(&f.ctMax, "conntrack-max", conntrack.DefaultMax, "maximum conntrack entries")
	fl.Uint32Var(&f.queueLen, "queue-len", 4096, "packets each kernel queue holds before it overflows (then fail-open or drop, per the chain's policy)")
	fl.Uint32Var(&f.markMask, "mark-mask", hooks.DefaultMarkMask, "mark bits nfd may use for flow bypass, one per queued chain (0 disables bypass)")
	fl.StringVar(&f.socket, "socket", control.DefaultSocket, "control socket path")
	fl.StringVar(&f.stateDir, "state-dir", "/var/lib/nfd", "directory for state that outlives the daemon (pending apply rollback)")
	fl.StringVar(&f.metrics, "metrics-addr", "127.0.0.1:9641", "Prometheus listen address (empty disables)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.cpuProfile, "cpu-profile", "", "write a CPU profile here until the daemon stops (for benchmarking)")
	_ = fl.MarkHidden("cpu-profile")
	fl.StringVar(&f.heapProfile, "heap-profile", "", "write a heap profile here once the first ruleset runs (for benchmarking)")
	_ = fl.MarkHidden("heap-profile")
	fl.StringVar(&f.queueImpl, "queue-reader", hooks.ImplNfd, "queue receive path: nfd (buffer reuse, batched verdicts) or go-nfqueue")
	fl.DurationVar(&f.dnsTTLMin, "dns-ttl-min", dnsfill.DefaultTTLMin, "shortest time an address learned from a DNS answer stays in its set (`dns names`), whatever its TTL")
	fl.DurationVar(&f.dnsTTLMax, "dns-ttl-max", dnsfill.DefaultTTLMax, "longest time an address learned from a DNS answer stays in its set")
	fl.IntVar(&f.dnsMax, "dns-set-max", dnsfill.DefaultMaxElems, "most addresses a set filled from DNS answers holds when it has no `size`")
	fl.IntVar(&f.dnsBudget, "dns-budget", dnsfill.DefaultBudget, "most additions per second to each set filled from DNS answers")
	fl.DurationVar(&f.busyPoll, "busy-poll", 0, "keep each queue's reader polling this long after a batch before it sleeps (0-1s): lower latency for up to one core per queue while packets keep coming")
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %v", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func runDaemon(cmd *cobra.Command, f runFlags) error {
	log, err := newLogger(f.logLevel)
	if err != nil {
		return usageError("%v", err)
	}
	if f.offload != planner.OffloadAuto && f.offload != planner.OffloadNone {
		return usageError("--offload must be auto or none")
	}
	if f.queueBase < 0 || f.queueBase > 65535 || f.queues < 0 || f.queues > 64 {
		return usageError("--queue-base must be 0-65535 and --queues 0-64")
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return &exitError{code: 1, msg: "nfd: " + err.Error()}
		}
		_ = pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	vd := metrics.NewVerdictDuration()
	cfg := hooks.Config{RulesFile: f.rules, Queues: f.queues, QueueBase: uint16(f.queueBase),
		ConntrackMax: f.ctMax, Version: version, Logger: log, QueueImpl: f.queueImpl, Offload: f.offload, MarkMask: f.markMask, StateDir: f.stateDir, QueueLen: f.queueLen}
	if f.queueImpl != hooks.ImplNfd && f.queueImpl != hooks.ImplGoNfqueue {
		return usageError("--queue-reader must be %s or %s", hooks.ImplNfd, hooks.ImplGoNfqueue)
	}
	if f.busyPoll < 0 || f.busyPoll > time.Second {
		return usageError("--busy-poll must be between 0 and 1s")
	}
	if f.busyPoll > 0 && f.queueImpl != hooks.ImplNfd {
		return usageError("--busy-poll needs --queue-reader %s", hooks.ImplNfd)
	}
	cfg.BusyPoll = f.busyPoll
	if f.dnsTTLMin <= 0 || f.dnsTTLMax < f.dnsTTLMin || f.dnsMax <= 0 || f.dnsBudget <= 0 {
		return usageError("--dns-ttl-min must be positive and at most --dns-ttl-max; --dns-set-max and --dns-budget positive")
	}
	cfg.DNSTTLMin, cfg.DNSTTLMax, cfg.DNSMaxElems, cfg.DNSBudget = f.dnsTTLMin, f.dnsTTLMax, f.dnsMax, f.dnsBudget
	if f.metrics != "" {
		cfg.Observer = vd
	}
	// The control socket answers status from the first moment: a large
	// ruleset takes seconds to load, and status shows how far it is.
	ln, err := control.Listen(f.socket)
	if err != nil {
		return &exitError{code: 1, msg: "nfd: control socket: " + err.Error()}
	}
	defer os.Remove(f.socket)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Progress = &hooks.Progress{}
	var daemon atomic.Pointer[hooks.Daemon]
	go control.Serve(ctx, ln, startingHandler(&daemon, cfg.Progress), log)
	// systemd's start timeout must not be what fails a large ruleset.
	stopExtend := sdnotify.ExtendWhile(extendEvery, extendBy)
	d, err := hooks.New(cfg)
	if err != nil {
		stopExtend()
		var el parser.ErrorList
		if errors.As(err, &el) {
			fmt.Fprintln(os.Stderr, el.Pretty())
			return &exitError{code: 1, msg: "nfd: the rule file has errors; nothing was programmed"}
		}
		return &exitError{code: 1, msg: "nfd: " + err.Error()}
	}
	daemon.Store(d)
	err = d.Start(ctx)
	stopExtend()
	if err != nil {
		_ = d.Stop()
		return &exitError{code: 1, msg: "nfd: " + err.Error()}
	}
	if f.metrics != "" {
		if err := serveMetrics(ctx, f.metrics, d, vd, log); err != nil {
			_ = d.Stop()
			return &exitError{code: 1, msg: "nfd: metrics: " + err.Error()}
		}
	}
	if f.heapProfile != "" {
		if pf, err := os.Create(f.heapProfile); err == nil {
			runtime.GC()
			_ = pprof.WriteHeapProfile(pf)
			pf.Close()
		}
	}
	// Signals are ours before systemd hears READY: a SIGHUP it sends
	// right after must reload, not kill (its default action).
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	if _, err := sdnotify.Notify("READY=1\nSTATUS=running " + f.rules); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}
	for s := range sig {
		if s == syscall.SIGHUP {
			// A reload runs beside this loop, so SIGTERM is obeyed
			// whatever the reload is doing.
			go func() {
				_, _ = sdnotify.Notify(sdnotify.Reloading())
				stop := sdnotify.ExtendWhile(extendEvery, extendBy)
				if err := d.Reload(ctx, ""); err != nil {
					logFileErrors(log, err)
				}
				stop()
				_, _ = sdnotify.Notify("READY=1")
			}()
			continue
		}
		log.Info("stopping", "signal", s.String())
		_, _ = sdnotify.Notify("STOPPING=1")
		cancel() // ends a reload in progress, the control socket and metrics
		done := make(chan error, 1)
		go func() { done <- d.Stop() }()
		select {
		case err := <-done:
			if err != nil {
				log.Error("stop", "err", err)
			}
		case <-time.After(2 * time.Second):
			log.Error("stop took longer than 2s; exiting anyway")
		}
		return nil
	}
	return nil
}

// rulesListing is the running ruleset in canonical form, each rule with
// its placement and, for rules nfd evaluates, its counts.
func rulesListing(d *hooks.Daemon) string {
	eng := d.Engine()
	kernel := d.KernelCounters().Rules
	conts := d.ContinuationPoints()
	var b strings.Builder
	i := 0
	for _, t := range eng.Ruleset.Tables {
		fmt.Fprintf(&b, "table %s %s {\n", t.Family, t.Name)
		objectsListing(&b, eng, t)
		dnsSetsListing(&b, d, t)
		for _, c := range t.Chains {
			fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
			if bs := c.Base; bs != nil {
				fmt.Fprintf(&b, "\t\ttype %s hook %s priority %s; policy %s;\n", bs.Type, bs.Hook, parser.FormatPriority(bs.Priority, bs.Hook), bs.Policy)
			}
			for _, r := range c.Rules {
				info := eng.Rules[i]
				i++
				pl := d.RulePlacement(info)
				ref := planner.RuleRef{Family: info.Family, Table: info.Table, Chain: info.Chain, Index: info.Index}
				kc := kernel[ref]
				// A native regular chain also runs in nfd when a rule nfd
				// evaluates jumps there: its rules count in both places
				// (disjoint packets), so the counts add up.
				up, ub := info.Counts.Packets.Load(), info.Counts.Bytes.Load()
				where, pk, by := "kernel", kc[0]+up, kc[1]+ub
				switch {
				case !pl.Kernel:
					where, pk, by = "userspace: "+pl.Reason, up, ub
				case pl.Both:
					where = "kernel for packets no userspace rule before it can match, nfd for the rest"
				case up > 0:
					where = "kernel, and nfd for packets a rule it evaluates sends here"
				}
				note := fmt.Sprintf("%s; packets %d bytes %d", where, pk, by)
				if ps := conts[ref]; len(ps) > 0 {
					var ids []string
					for _, p := range ps {
						ids = append(ids, fmt.Sprintf("%d (%s)", p.ID, p))
					}
					note = "continuation point " + strings.Join(ids, ", ") + ": nfd hands packets that reach it back to the kernel, which goes on from here; " + note
				}
				fmt.Fprintf(&b, "\t\t%s # handle %d, %s\n", formatRuleCounted(r, eng, info, pl, kc), info.Handle, note)
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func logFileErrors(log *slog.Logger, err error) {
	var el parser.ErrorList
	if errors.As(err, &el) {
		for _, e := range el {
			log.Error("rule file error", "at", e.Pos.String(), "msg", e.Msg)
		}
		return
	}
	log.Error("reload failed", "err", err)
}

// handler answers control-socket requests.
func handler(d *hooks.Daemon) control.Handler {
	return func(ctx context.Context, req control.Request, w *json.Encoder) (any, error) {
		switch req.Cmd {
		case "status":
			return d.Status(), nil
		case "reload":
			// systemd bounds ExecReload by TimeoutStartSec: extend it
			// while a large ruleset loads.
			stop := sdnotify.ExtendWhile(extendEvery, extendBy)
			defer stop()
			if err := d.Reload(ctx, req.Args["file"]); err != nil {
				var el parser.ErrorList
				if errors.As(err, &el) {
					return nil, errors.New(el.Pretty())
				}
				return nil, err
			}
			return d.Brief(), nil
		case "apply":
			dur, err := time.ParseDuration(req.Args["confirm"])
			if err != nil {
				return nil, fmt.Errorf("bad --confirm duration: %v", err)
			}
			stop := sdnotify.ExtendWhile(extendEvery, extendBy)
			defer stop()
			deadline, err := d.Apply(req.Args["file"], dur)
			if err != nil {
				var el parser.ErrorList
				if errors.As(err, &el) {
					return nil, errors.New(el.Pretty())
				}
				return nil, err
			}
			return deadline, nil
		case "confirm":
			if err := d.Confirm(); err != nil {
				return nil, err
			}
			return "confirmed", nil
		case "trace":
			n := 0
			limit := 0
			fmt.Sscan(req.Args["count"], &limit)
			tctx, cancel := context.WithCancel(ctx)
			defer cancel()
			err := d.Trace(tctx, req.Args["filter"], func(ev hooks.TraceEvent) {
				if limit > 0 && n >= limit {
					return // events that raced the cancel
				}
				if err := w.Encode(ev); err != nil {
					cancel()
				}
				if n++; limit > 0 && n >= limit {
					cancel()
				}
			})
			if err != nil {
				var el parser.ErrorList
				if errors.As(err, &el) {
					return nil, errors.New(el.Pretty())
				}
				return nil, err
			}
			return nil, nil
		case "rules":
			return rulesListing(d), nil
		case "conntrack-list":
			var lines []string
			for _, f := range d.Conntrack().List() {
				lines = append(lines, conntrack.FormatFlow(f))
			}
			return lines, nil
		case "conntrack-flush":
			d.Conntrack().Flush()
			return "flushed", nil
		case "conntrack-stats":
			return d.Conntrack().Stats(), nil
		}
		return nil, fmt.Errorf("unknown command %q", strings.TrimSpace(req.Cmd))
	}
}

// While a ruleset loads, nfd asks systemd every extendEvery for extendBy
// more (EXTEND_TIMEOUT_USEC): the unit's start and reload timeouts then
// bound how long nfd may go without progress, not how large a ruleset
// may be.
const (
	extendEvery = 5 * time.Second
	extendBy    = 20 * time.Second
)

// startingHandler answers the control socket while the daemon loads its
// first ruleset: status shows the load's progress, anything else is
// refused until the daemon runs, then d's handler answers.
func startingHandler(dp *atomic.Pointer[hooks.Daemon], p *hooks.Progress) control.Handler {
	var full atomic.Pointer[control.Handler]
	return func(ctx context.Context, req control.Request, w *json.Encoder) (any, error) {
		d := dp.Load()
		if d == nil || d.State() == "new" || d.State() == "starting" {
			if req.Cmd == "status" {
				if d != nil {
					return d.Brief(), nil
				}
				return hooks.StartingStatus(version, p), nil
			}
			return nil, errors.New("nfd is starting: it loads its ruleset; ask `nfd status` how far it is")
		}
		h := full.Load()
		if h == nil {
			hh := handler(d)
			full.CompareAndSwap(nil, &hh)
			h = full.Load()
		}
		return (*h)(ctx, req, w)
	}
}
