// Package metrics exports nfd's counters to Prometheus. The packet path
// only bumps atomics (and one histogram bucket); this collector reads them
// at scrape time, building every series from the current engine, so rules
// that a reload removed leave no stale series.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nfdproject/nfd/parser"
)

// HookCount is the traffic nfd decided at one hook for one family.
type HookCount struct {
	Family string // ipv4, ipv6
	Hook   string
	Accept uint64
	Drop   uint64
	Reject uint64
	Bytes  uint64
}

// RuleCount is one rule's counts.
type RuleCount struct {
	Table, Chain, Rule, Placement string
	Packets, Bytes                uint64
}

// KernelCount is packets that offloaded rules decided natively at a hook.
type KernelCount struct {
	Hook, Verdict string
	Packets       uint64
}

// QueueCount is one queue's counts, from the daemon and from
// /proc/net/netfilter/nfnetlink_queue.
type QueueCount struct {
	Queue       uint16
	Packets     uint64
	QueueFull   uint64 // dropped by the kernel: queue full
	UserDropped uint64 // dropped by the kernel: netlink socket full
}

// Snapshot is everything a scrape reports.
type Snapshot struct {
	Hooks               []HookCount
	Kernel              []KernelCount
	Rules               []RuleCount
	Queues              []QueueCount
	ConntrackEntries    int64
	ConntrackLimit      int64
	ConntrackEvictions  uint64
	ConntrackInvalid    uint64
	ConntrackDrops      uint64
	ConntrackResyncs    uint64
	ConntrackNamesLost  uint64
	LastReloadOK        bool
	LastReloadSuccess   time.Time
	Reloads, ReloadErrs uint64
	RulesByPlacement    map[string]int
	Version, QueueMode  string
	QueueErrors         uint64
	// Continued are packets nfd handed back to the kernel (NF_REPEAT to a
	// continuation chain) at a rule only the kernel runs; ContinuedReject
	// those it rejected and handed back for the kernel to send the reply.
	Continued, ContinuedReject uint64
}

// Collector turns snapshots into metrics.
type Collector struct {
	snap func() Snapshot

	packets, bytes, rulePkts, ruleBytes, queuePkts, queueDropped, ctEntries, ctLimit, ctEvict,
	ctInvalid, ctDrops, ctResyncs, ctNamesLost, reloadOK, reloadTS, reloads, reloadErrs, rules, build, queueErrs, continued *prometheus.Desc
}

// NewCollector makes a collector that calls snap once per scrape.
func NewCollector(snap func() Snapshot) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("nfd_"+name, help, labels, nil)
	}
	return &Collector{
		snap:         snap,
		packets:      d("packets_total", "Packets decided, by family, hook and verdict; family \"kernel\" counts what offloaded rules and chain policies decided natively (the kernel does not split it by family).", "family", "hook", "verdict"),
		bytes:        d("bytes_total", "Bytes of the packets nfd decided, by family and hook.", "family", "hook"),
		rulePkts:     d("rule_packets_total", "Packets that matched a rule, whatever ran it.", "table", "chain", "rule", "placement"),
		ruleBytes:    d("rule_bytes_total", "Bytes of the packets that matched a rule.", "table", "chain", "rule", "placement"),
		queuePkts:    d("queue_packets_total", "Packets received on an NFQUEUE queue.", "queue"),
		queueDropped: d("queue_dropped_total", "Packets the kernel dropped before nfd saw them, by queue and reason (queue_full, user_dropped).", "queue", "reason"),
		ctEntries:    d("conntrack_entries", "Connections in nfd's table."),
		ctLimit:      d("conntrack_entries_limit", "Maximum connections in nfd's table."),
		ctEvict:      d("conntrack_evictions_total", "Unassured connections evicted to make room."),
		ctInvalid:    d("conntrack_invalid_total", "Packets conntrack judged invalid."),
		ctDrops:      d("conntrack_drops_total", "New connections refused because the table was full."),
		ctResyncs:    d("conntrack_resyncs_total", "Connections brought up to date from the kernel's table because nfd did not see some of their packets."),
		ctNamesLost:  d("conntrack_names_abandoned_total", "ClientHellos and HTTP request heads spanning TCP segments that were not reassembled (out of order, too slow, too many at once); those connections have no name of that kind."),
		reloadOK:     d("config_last_reload_successful", "Whether the last ruleset load succeeded (1) or failed (0)."),
		reloadTS:     d("config_last_reload_success_timestamp_seconds", "When the ruleset was last loaded successfully."),
		reloads:      d("config_reloads_total", "Successful reloads."),
		reloadErrs:   d("config_reload_errors_total", "Failed reloads (the previous ruleset kept running)."),
		rules:        d("rules", "Rules loaded, by placement (kernel or userspace).", "placement"),
		build:        d("build_info", "nfd's version, Go version and queue mode.", "version", "goversion", "queue_mode"),
		queueErrs:    d("queue_receive_errors_total", "Errors reading the queues (ENOBUFS included)."),
		continued:    d("continued_packets_total", "Packets nfd handed back to the kernel (NF_REPEAT to a continuation chain), by reason: kernel_rule (evaluation reached a rule only the kernel runs), reject (nfd rejected the packet and the kernel sends the reply).", "reason"),
	}
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.bytes, c.rulePkts, c.ruleBytes, c.queuePkts, c.queueDropped, c.ctEntries,
		c.ctLimit, c.ctEvict, c.ctInvalid, c.ctDrops, c.ctResyncs, c.ctNamesLost, c.reloadOK, c.reloadTS, c.reloads, c.reloadErrs, c.rules, c.build, c.queueErrs, c.continued} {
		ch <- d
	}
}

// Collect reads one snapshot.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	for _, h := range s.Hooks {
		counter(c.packets, h.Accept, h.Family, h.Hook, "accept")
		counter(c.packets, h.Drop, h.Family, h.Hook, "drop")
		counter(c.packets, h.Reject, h.Family, h.Hook, "reject")
		counter(c.bytes, h.Bytes, h.Family, h.Hook)
	}
	for _, k := range s.Kernel {
		counter(c.packets, k.Packets, "kernel", k.Hook, k.Verdict)
	}
	for _, r := range s.Rules {
		counter(c.rulePkts, r.Packets, r.Table, r.Chain, r.Rule, r.Placement)
		counter(c.ruleBytes, r.Bytes, r.Table, r.Chain, r.Rule, r.Placement)
	}
	for _, q := range s.Queues {
		n := strconv.Itoa(int(q.Queue))
		counter(c.queuePkts, q.Packets, n)
		counter(c.queueDropped, q.QueueFull, n, "queue_full")
		counter(c.queueDropped, q.UserDropped, n, "user_dropped")
	}
	gauge(c.ctEntries, float64(s.ConntrackEntries))
	gauge(c.ctLimit, float64(s.ConntrackLimit))
	counter(c.ctEvict, s.ConntrackEvictions)
	counter(c.ctInvalid, s.ConntrackInvalid)
	counter(c.ctDrops, s.ConntrackDrops)
	counter(c.ctResyncs, s.ConntrackResyncs)
	counter(c.ctNamesLost, s.ConntrackNamesLost)
	ok := 0.0
	if s.LastReloadOK {
		ok = 1
	}
	gauge(c.reloadOK, ok)
	if !s.LastReloadSuccess.IsZero() {
		gauge(c.reloadTS, float64(s.LastReloadSuccess.UnixNano())/1e9)
	}
	counter(c.reloads, s.Reloads)
	counter(c.reloadErrs, s.ReloadErrs)
	for _, p := range []string{"kernel", "userspace"} {
		gauge(c.rules, float64(s.RulesByPlacement[p]), p)
	}
	gauge(c.build, 1, s.Version, goVersion(), s.QueueMode)
	counter(c.queueErrs, s.QueueErrors)
	counter(c.continued, s.Continued, "kernel_rule")
	counter(c.continued, s.ContinuedReject, "reject")
}

// VerdictDuration is the nfd_verdict_duration_seconds histogram, one child
// per hook resolved once, so observing costs a bucket increment.
type VerdictDuration struct {
	vec   *prometheus.HistogramVec
	hooks [parser.NumHooks]prometheus.Observer
}

// NewVerdictDuration makes the histogram.
func NewVerdictDuration() *VerdictDuration {
	v := &VerdictDuration{vec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "nfd_verdict_duration_seconds",
		Help:    "Time from receiving a queued packet to sending its verdict, by hook.",
		Buckets: []float64{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2},
	}, []string{"hook"})}
	for _, h := range parser.Hooks {
		v.hooks[h] = v.vec.WithLabelValues(h.String())
	}
	return v
}

// ObserveVerdict records one verdict's latency.
func (v *VerdictDuration) ObserveVerdict(hook parser.Hook, d time.Duration) {
	v.hooks[hook].Observe(d.Seconds())
}

// Collectors returns what to register.
func (v *VerdictDuration) Collectors() []prometheus.Collector { return []prometheus.Collector{v.vec} }
