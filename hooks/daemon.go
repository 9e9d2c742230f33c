// Package hooks is the daemon: it runs a ruleset by swapping compiled
// states, programming them (kernel), reading their queues (queue) and
// deciding packets, and reports status, traces and marks.
package hooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/kernel"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/queue"
	"github.com/nfdproject/nfd/rules"
)

// Config configures a daemon.
type Config struct {
	RulesFile    string
	Queues       int    // queues per base chain; 0 means one per CPU
	QueueBase    uint16 // first queue number nfd uses
	QueueLen     uint32 // kernel queue length per queue
	ConntrackMax int
	Version      string
	Logger       *slog.Logger
	// NewConn opens an nftables netlink connection; nil means the current
	// network namespace.
	NewConn func() (*nftables.Conn, error)
	// Observer, when set, receives each verdict's latency.
	Observer VerdictObserver
	// QueueImpl is ImplNfd (default) or ImplGoNfqueue.
	QueueImpl string
	// BusyPoll keeps each queue's reader polling its socket this long
	// after a batch before it sleeps (ImplNfd only): lower latency for up
	// to one core per queue while packets keep coming.
	BusyPoll time.Duration
	// Offload is planner.OffloadAuto (default) or planner.OffloadNone.
	Offload string
	// MarkMask are the mark bits nfd may use for flow bypass, one per
	// queued chain; 0 disables bypass.
	MarkMask uint32
	// StateDir keeps what must outlive the daemon (a pending apply).
	StateDir string
	// Sets filled from DNS answers (dnsfill.Config; 0: its defaults):
	// lifetime clamps, the element limit of a set without `size`, the
	// kernel updates per set and second.
	DNSTTLMin, DNSTTLMax   time.Duration
	DNSMaxElems, DNSBudget int
	// Progress, when set, tracks loads (start, reload, apply) so that a
	// status asked before New returns can show the first one; New makes
	// one otherwise.
	Progress *Progress
}

// VerdictObserver records how long deciding a packet took.
type VerdictObserver interface {
	ObserveVerdict(hook parser.Hook, d time.Duration)
}

// chainState is one of the user's base chains that queues to nfd.
type chainState struct {
	base  *rules.Base
	kc    kernel.KernelChain
	plan  *planner.ChainPlan
	key   string
	first [2]bool // the first queueing chain at its hook, for IPv4 / IPv6
	conts *conts  // continuation points (hooks/continue.go), nil for none
}

// state is what a ruleset compiles to. It is immutable once published;
// a reload builds a new one and swaps the pointer.
type state struct {
	eng        *rules.Engine
	plans      []*planner.TablePlan
	placements *planner.Placements
	chains     []*chainState
	byQueue    map[uint16]*chainState
	queued     [2][parser.NumHooks]bool // [IPv4, IPv6][hook]: some chain queues there
	file       string
	checksum   string
	canon      *canon // hash of the canonical print: what the rules mean
	loaded     time.Time
	warnings   []string  // parser.Lint of the file
	dns        *dnsState // sets filled from DNS answers (dns.go)
	dnsQueue   uint16
	contMask   uint32 // mark bits of continuation ids (hooks/continue.go)
}

// Daemon runs a ruleset: nftables programmed, queues read, packets decided.
// It owns its goroutines, as wireguard-go's Device does: every goroutine
// Start launches is counted in wg, and Stop waits for them all.
type Daemon struct {
	// Set by New, read-only afterwards.
	cfg  Config
	log  *slog.Logger
	mode kernel.QueueMode
	ct   *conntrack.Table
	ifn  *ifnames
	// ctChecksum mirrors nf_conntrack_checksum, read at start.
	ctChecksum    bool
	closeResolver func()

	// Atomics, read on the hot path or by status without a lock.
	prog             *Progress                 // the load in progress, if any
	pendingDeadline  atomic.Pointer[time.Time] // mirrors pending's, for status
	st               atomic.Pointer[state]
	run              atomic.Int32                          // runState
	ctSync           atomic.Pointer[conntrack.KernelSync]  // set once, by Start or a reload
	ctErr            atomic.Pointer[string]                // why kernel sync is unavailable
	local            atomic.Pointer[map[[16]byte]struct{}] // the host's addresses
	decidedAtProgram atomic.Uint64                         // decisions made before the tables were last programmed
	monitorActive    atomic.Bool                           // nftables monitor events are subscribed
	reloads          atomic.Uint64
	reloadErr        atomic.Uint64
	lastFailed       atomic.Bool
	lastSuccess      atomic.Int64 // unix nanoseconds
	Stats            Stats

	// mu serializes Start, Reload, Stop, apply and the table watch: it
	// guards what follows.
	mu sync.Mutex
	// reloadGate admits one reload or apply at a time (see Reload).
	reloadGate sync.Mutex
	// ruleCtrs caches the kernel rule counts status shows (statuscounters.go).
	ruleCtrs ruleCounters
	queues   map[uint16]*queueReader
	groups   map[string]int // chain key → queue group index
	pending  *pendingApply  // an apply waiting for confirmation
	marks    markBits       // flow-bypass mark bits: in use, being revoked
	rollback *time.Timer
	ctx      context.Context // ends when Stop begins
	cancel   context.CancelFunc

	// Set by Start before it opens a queue or launches a goroutine, which
	// only read them.
	rej     *rejecter
	started time.Time

	// wg counts the goroutines Start launched (queue readers count their
	// own in their done channel).
	wg sync.WaitGroup

	tr tracers // its own lock

	// dnsMu serializes the DNS reader's set updates with the commits
	// that replace the sets (dns.go); dnsR is the DNS queue's reader.
	dnsMu sync.Mutex
	dnsR  atomic.Pointer[dnsReader]
}

// runState is where a daemon is in its life.
type runState int32

const (
	stateNew runState = iota
	stateStarting
	stateRunning
	stateStopping
	stateStopped
)

func (s runState) String() string {
	return [...]string{"new", "starting", "running", "stopping", "stopped"}[s]
}

// State says where the daemon is in its life: new, starting, running,
// stopping or stopped.
func (d *Daemon) State() string { return runState(d.run.Load()).String() }

// spawn runs f on a goroutine Stop waits for.
func (d *Daemon) spawn(f func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// New probes the kernel, parses and compiles the rule file. Nothing is
// programmed until Start.
func New(cfg Config) (*Daemon, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Queues <= 0 {
		cfg.Queues = runtime.NumCPU()
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 4096
	}
	if cfg.Offload == "" {
		cfg.Offload = planner.OffloadAuto
	}
	if cfg.NewConn == nil {
		cfg.NewConn = func() (*nftables.Conn, error) { return kernel.NewConn(-1) }
	}
	if cfg.Progress == nil {
		cfg.Progress = &Progress{}
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, ifn: newIfnames(), queues: map[uint16]*queueReader{}, groups: map[string]int{}, prog: cfg.Progress}
	d.prog.onPhase = func(l LoadProgress) {
		d.log.Debug("loading", "kind", l.Kind, "phase", l.Phase, "rules", l.Rules, "elapsed", l.Seconds)
	}
	// The load stays in progress until Start has programmed it.
	d.prog.begin("start", cfg.RulesFile)
	mode, err := kernel.ProbeQueue(cfg.NewConn)
	if err != nil {
		d.prog.end()
		return nil, err
	}
	d.mode = mode
	d.log.Info("kernel queue support", "mode", mode.String())
	st, err := d.load(context.Background(), cfg.RulesFile, nil)
	if err != nil {
		d.prog.end()
		return nil, err
	}
	d.st.Store(st)
	d.lastSuccess.Store(time.Now().UnixNano())
	ctcfg := conntrack.Config{Max: cfg.ConntrackMax}
	if resolve, closeFn, err := conntrack.KernelResolver(); err == nil {
		// Connections whose first packets took hooks nfd does not queue
		// (replies to outgoing traffic, say) are taken from the kernel.
		ctcfg.Resolve = resolve
		d.closeResolver = closeFn
	} else {
		d.log.Warn("kernel conntrack lookups unavailable; nfd tracks only what it sees", "err", err)
	}
	d.ct = conntrack.New(ctcfg)
	// nf_conntrack_checksum (default 1): whether the kernel's conntrack
	// verifies checksums at prerouting, which nfd then does too.
	d.ctChecksum = true
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_checksum"); err == nil && strings.TrimSpace(string(b)) == "0" {
		d.ctChecksum = false
	}
	return d, nil
}

// QueueMode reports how the kernel queues.
func (d *Daemon) QueueMode() kernel.QueueMode { return d.mode }

// Conntrack is the daemon's table.
func (d *Daemon) Conntrack() *conntrack.Table { return d.ct }

// Engine is the engine running now.
func (d *Daemon) Engine() *rules.Engine { return d.st.Load().eng }

// load parses, validates and compiles a rule file into a state. The
// engine it replaces lends its counters to unchanged rules.
func (d *Daemon) load(ctx context.Context, file string, prev *state) (*state, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	d.prog.phase(PhaseReading)
	src, err := parser.ReadRuleFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	d.prog.update(func(l *LoadProgress) { l.Bytes = len(src) })
	d.prog.phase(PhaseParsing)
	// Large named sets of plain values are read packed (parser.WithPackedSets);
	// rules unchanged since the running ruleset take its statements
	// (parser.ParseWith).
	var popts parser.ParseOptions
	if prev != nil && prev.eng != nil {
		popts.Prev = prev.eng.Ruleset
	}
	rs, err := parser.ParseWith(parser.WithPackedSets(ctx), file, src, popts)
	if err != nil {
		return nil, err
	}
	nr, ne := rulesetSize(rs)
	d.prog.update(func(l *LoadProgress) { l.Rules, l.Elements = nr, ne })
	d.prog.phase(PhaseCompiling)
	var warnings []string
	for _, w := range parser.Lint(rs) {
		d.log.Warn("rule file", "warning", w.String())
		warnings = append(warnings, w.String())
	}
	opts := rules.Options{Logger: d.log, KernelOnly: planner.KernelOnlyTest()}
	var prevPlans []*planner.TablePlan
	if prev != nil {
		opts.Prev = prev.eng
		prevPlans = prev.plans
	}
	eng, plans, placements, err := compileAndPlan(rs, opts, d.cfg.Offload, prevPlans, func() { d.prog.phase(PhasePlanning) })
	if err != nil {
		return nil, err
	}
	// Compiled and planned: the kept ruleset holds its sets' elements in
	// one flat form from here (parser.Ruleset.PackSets).
	rs.PackSets()
	if reused, made := planner.ReuseStats(plans); prev != nil {
		d.log.Debug("planned", "translations_reused", reused, "translations_made", made)
	}
	sum := sha256.Sum256(src)
	st := &state{eng: eng, plans: plans, placements: placements, file: file, checksum: hex.EncodeToString(sum[:]),
		canon: newCanon(rs), loaded: time.Now(), byQueue: map[uint16]*chainState{}, warnings: warnings}
	planOf := map[string]*planner.ChainPlan{}
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			planOf[tp.Family.String()+" "+tp.Name+" "+cp.Name] = cp
		}
	}
	for _, b := range eng.Bases {
		cp := planOf[b.Info.Family.String()+" "+b.Info.Table+" "+b.Info.Name]
		if cp == nil || !cp.Queue {
			continue // wholly native: no queue, nothing for nfd to decide
		}
		key := fmt.Sprintf("%s %s %s policy=%s payload=%v", b.Info.Family, b.Info.Table, b.Info.Name, b.Policy, b.NeedsPayload)
		cs := &chainState{base: b, key: key, plan: cp, kc: kernel.KernelChain{
			Family: b.Info.Family, Table: b.Info.Table, Chain: b.Info.Name, Hook: b.Hook, Priority: b.Priority,
			Policy: b.Policy, QueueTotal: uint16(d.cfg.Queues)}}
		if cs.conts, err = buildConts(eng, cs); err != nil {
			return nil, err
		}
		st.chains = append(st.chains, cs)
	}
	// The first chain at each hook (kernel order: priority, then newest
	// first) tracks connections; later ones only look them up.
	order := make([]int, len(st.chains))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ca, cb := st.chains[order[a]], st.chains[order[b]]
		if ca.kc.Priority != cb.kc.Priority {
			return ca.kc.Priority < cb.kc.Priority
		}
		return order[a] > order[b]
	})
	for _, c := range st.chains {
		for fi, fam := range []parser.Family{parser.FamilyIP, parser.FamilyIP6} {
			if c.kc.Family == fam || c.kc.Family == parser.FamilyInet {
				st.queued[fi][c.kc.Hook] = true
			}
		}
	}
	var seen [2][parser.NumHooks]bool
	for _, i := range order {
		c := st.chains[i]
		for fi, fam := range []parser.Family{parser.FamilyIP, parser.FamilyIP6} {
			if c.kc.Family == fam || c.kc.Family == parser.FamilyInet {
				if !seen[fi][c.kc.Hook] {
					seen[fi][c.kc.Hook] = true
					c.first[fi] = true
				}
			}
		}
	}
	return st, nil
}

// assignQueues gives each chain its queue group, keeping the numbers of
// chains that did not change. Called with d.mu held.
func (d *Daemon) assignQueues(st *state) {
	used := map[int]bool{}
	for _, c := range st.chains {
		if g, ok := d.groups[c.key]; ok {
			used[g] = true
		}
	}
	if g, ok := d.groups[dnsGroupKey]; ok && st.hasDNS() {
		used[g] = true
	}
	for _, c := range st.chains {
		g, ok := d.groups[c.key]
		if !ok {
			for g = 0; used[g]; g++ {
			}
			used[g] = true
		}
		c.kc.QueueNum = d.cfg.QueueBase + uint16(g*d.cfg.Queues)
		c.plan.QueueNum, c.plan.QueueTotal = c.kc.QueueNum, c.kc.QueueTotal
		for q := 0; q < d.cfg.Queues; q++ {
			st.byQueue[c.kc.QueueNum+uint16(q)] = c
		}
	}
	groups := map[string]int{}
	for _, c := range st.chains {
		groups[c.key] = int(c.kc.QueueNum-d.cfg.QueueBase) / d.cfg.Queues
	}
	if st.hasDNS() {
		// The DNS queue: one queue of a group of its own, kept while
		// rulesets fill sets from DNS.
		g, ok := d.groups[dnsGroupKey]
		if !ok {
			for g = 0; used[g]; g++ {
			}
		}
		groups[dnsGroupKey] = g
		st.dnsQueue = d.cfg.QueueBase + uint16(g*d.cfg.Queues)
	}
	d.groups = groups
}

// openQueues opens the queues st needs that are not open yet and returns
// the new ones. Called with d.mu held.
func (d *Daemon) openQueues(st *state) ([]uint16, error) {
	var opened []uint16
	for num, c := range st.byQueue {
		if _, ok := d.queues[num]; ok {
			continue
		}
		q, err := d.openQueue(num, c.kc.Policy == parser.VerdictAccept, c.base.NeedsPayload)
		if err != nil {
			for _, n := range opened {
				d.queues[n].close()
				delete(d.queues, n)
			}
			return nil, fmt.Errorf("opening queue %d: %w", num, err)
		}
		d.queues[num] = q
		opened = append(opened, num)
	}
	return opened, nil
}

// KernelCounters reads the counters of the running ruleset's rules in
// the kernel.
func (d *Daemon) KernelCounters() kernel.KernelCounters {
	return d.kernelCounters(d.st.Load())
}

func (d *Daemon) kernelCounters(st *state) kernel.KernelCounters {
	c, err := d.cfg.NewConn()
	if err != nil {
		return kernel.KernelCounters{Rules: map[planner.RuleRef][2]uint64{}}
	}
	return kernel.ReadKernelCounters(c, st.plans)
}

// NativeDecisions sums, per hook and verdict ({hook, verdict}), the
// packets the kernel decided: by native rules that end in a verdict and
// by chain policies.
func NativeDecisions(eng *rules.Engine, k kernel.KernelCounters) map[[2]string]uint64 {
	out := map[[2]string]uint64{}
	for _, r := range eng.Rules {
		if r.Final == 0 || !r.InBase {
			continue
		}
		if kc := k.Rules[planner.RuleRef{Family: r.Family, Table: r.Table, Chain: r.Chain, Index: r.Index}]; kc[0] > 0 {
			out[[2]string{r.Hook.String(), r.Final.String()}] += kc[0]
		}
	}
	for _, pc := range k.Policies {
		if pc.Packets > 0 {
			out[[2]string{pc.Hook.String(), pc.Policy.String()}] += pc.Packets
		}
	}
	return out
}

// ContinuationPoints lists, by the rule the kernel resumes at, the
// running ruleset's points where nfd hands packets back to the kernel.
func (d *Daemon) ContinuationPoints() map[planner.RuleRef][]*planner.ContPoint {
	st := d.st.Load()
	out := map[planner.RuleRef][]*planner.ContPoint{}
	for _, tp := range st.plans {
		for _, cp := range tp.Chains {
			for _, p := range cp.KernelPoints() {
				top := p.Frames[len(p.Frames)-1]
				ref := planner.RuleRef{Family: tp.Family, Table: tp.Name, Chain: top.Chain, Index: top.Index}
				out[ref] = append(out[ref], p)
			}
		}
	}
	return out
}

// RulePlacement tells where a rule of the running ruleset runs.
func (d *Daemon) RulePlacement(r *rules.RuleInfo) planner.Placement {
	return d.st.Load().placements.Get(planner.RuleRef{Family: r.Family, Table: r.Table, Chain: r.Chain, Index: r.Index})
}

// Start programs nftables and opens the queues: queues first, so that no
// packet meets a queue nobody reads (bypass would let it pass).
func (d *Daemon) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.run.CompareAndSwap(int32(stateNew), int32(stateStarting)) {
		return fmt.Errorf("nfd is %s: it starts only once", d.State())
	}
	defer d.prog.end() // the first load, begun by New, ends here
	d.ctx, d.cancel = context.WithCancel(ctx)
	rej, err := newRejecter()
	if err != nil {
		return err
	}
	d.rej = rej
	st := d.st.Load()
	d.assignQueues(st)
	if err := d.assignContMask(st, nil); err != nil {
		return err
	}
	d.startMarks(st)
	if _, err := d.openQueues(st); err != nil {
		return err
	}
	d.prepareDNS(st, nil)
	if err := d.syncDNSReader(st, true); err != nil {
		return err
	}
	conn, err := d.cfg.NewConn()
	if err != nil {
		return err
	}
	d.prog.phase(PhaseProgramming)
	d.dnsMu.Lock()
	err = kernel.ProgramPlans(conn, d.mode, st.plans)
	d.dnsMu.Unlock()
	if err != nil {
		return d.explain(st, err)
	}
	d.decidedAtProgram.Store(d.decidedTotal())
	d.ct.SetResync(hidesPackets(st))
	d.ct.SetOneSided(oneSided(st))
	d.started = time.Now()
	d.refreshLocal()
	d.spawn(func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-d.ctx.Done():
				return
			case <-t.C:
				d.refreshLocal()
			}
		}
	})
	d.spawn(func() { d.ct.RunReaper(d.ctx.Done(), time.Second) })
	d.startKernelSync(st)
	d.resumePending()
	d.spawn(func() { d.watchTables(d.ctx) })
	d.run.Store(int32(stateRunning))
	d.releaseMemory()
	d.log.Info("nfd running", "rules", st.file, "chains", len(st.chains), "queues_per_chain", d.cfg.Queues, "queue_mode", d.mode.String())
	return nil
}

// startKernelSync subscribes to the kernel's conntrack destroy events once
// some chain queues packets: a wholly native ruleset has nothing for nfd
// to track, and a listener makes the kernel build an event for every
// connection that ends. Called with d.mu held.
func (d *Daemon) startKernelSync(st *state) {
	if d.ctSync.Load() != nil || len(st.chains) == 0 {
		return
	}
	if ks, err := d.ct.StartKernelSync(d.ctx, d.log); err != nil {
		msg := err.Error()
		d.ctErr.Store(&msg)
		d.log.Warn("kernel conntrack sync unavailable", "err", err)
	} else {
		d.ctSync.Store(ks)
		d.ctErr.Store(nil)
		d.log.Info("kernel conntrack sync active")
	}
}

// refreshLocal reloads the set of the host's own addresses, which tells a
// locally sent packet from a forwarded one at postrouting.
func (d *Daemon) refreshLocal() {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return
	}
	m := make(map[[16]byte]struct{}, len(addrs))
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		var k [16]byte
		if v4 := ipn.IP.To4(); v4 != nil {
			copy(k[:], v4)
		} else {
			copy(k[:], ipn.IP.To16())
		}
		m[k] = struct{}{}
	}
	d.local.Store(&m)
}

func (d *Daemon) isLocal(a *[16]byte) bool {
	m := d.local.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[*a]
	return ok
}

// hidesPackets reports whether native rules in front of a queue (an
// offloaded prefix, flow bypass, or guarded queueing, which queues only
// the packets a userspace rule could match: `tcp dport 443` of an SNI rule
// takes the client's packets, not the server's replies) keep some packets
// of connections nfd tracks from reaching it; conntrack then resyncs with
// the kernel.
func hidesPackets(st *state) bool {
	for _, c := range st.chains {
		if len(c.plan.Rules) > 0 || c.plan.BypassBit != 0 || len(c.plan.Guards) > 0 {
			return true
		}
	}
	return false
}

// explain names what the kernel refused when a commit of st failed.
func (d *Daemon) explain(st *state, err error) error {
	var ce *kernel.CommitError
	if !errors.As(err, &ce) {
		return err
	}
	return kernel.ExplainCommit(d.cfg.NewConn, st.plans, st.eng.Ruleset, ce.Err)
}

func (d *Daemon) reload(file string) error { return d.reloadAs(file, file) }

// reloadAs loads file but remembers it as display (a rollback loads the
// saved copy of the previous file under that file's name).
func (d *Daemon) reloadAs(file, display string) error {
	old := d.st.Load()
	if file == "" {
		file, display = old.file, old.file
	}
	st, err := d.load(d.ctx, file, old)
	if err != nil {
		return err
	}
	return d.commit(old, st, file, display)
}

// commit programs a loaded state in place of old. Called with d.mu held.
func (d *Daemon) commit(old, st *state, file, display string) error {
	st.file = display
	if err := d.assignContMask(st, old); err != nil {
		return err
	}
	savedGroups := d.groups
	d.assignQueues(st)
	d.assignMarks(st, old)
	opened, err := d.openQueues(st)
	if err == nil {
		err = d.syncDNSReader(st, true)
	}
	if err != nil {
		d.groups = savedGroups
		for _, n := range opened {
			d.queues[n].close()
			delete(d.queues, n)
		}
		return err
	}
	// No DNS answer fills the old sets from here until the new ones are
	// in the kernel with what was learned (prepareDNS).
	d.dnsMu.Lock()
	d.prepareDNS(st, old)
	// Publish the new state before the kernel switches, so a packet from
	// a new queue finds its chain; old queues still map in the old state.
	for num, c := range old.byQueue {
		if _, ok := st.byQueue[num]; !ok {
			st.byQueue[num] = c
		}
	}
	d.st.Store(st)
	d.prog.phase(PhaseProgramming)
	conn, err := d.cfg.NewConn()
	var prog kernel.Programmed
	if err == nil {
		// Only what differs from old's plans changes: unchanged rules
		// keep their counters, kept sets the elements the kernel added.
		prog, err = kernel.ProgramDiff(conn, d.mode, old.plans, st.plans)
		err = d.explain(st, err)
	}
	if err == nil {
		d.decidedAtProgram.Store(d.decidedTotal())
	}
	if err != nil {
		d.st.Store(old)
	}
	d.dnsMu.Unlock()
	if err != nil {
		_ = d.syncDNSReader(old, false)
		d.groups = savedGroups
		for _, n := range opened {
			d.queues[n].close()
			delete(d.queues, n)
		}
		return err
	}
	// Close queues no chain uses any more, after the kernel stopped
	// queueing to them.
	final := &state{}
	*final = *st
	final.byQueue = map[uint16]*chainState{}
	for _, c := range st.chains {
		for q := 0; q < d.cfg.Queues; q++ {
			final.byQueue[c.kc.QueueNum+uint16(q)] = c
		}
	}
	for num, q := range d.queues {
		if _, ok := final.byQueue[num]; !ok {
			q.close()
			delete(d.queues, num)
		}
	}
	d.st.Store(final)
	_ = d.syncDNSReader(st, false)
	d.startKernelSync(st)
	d.ct.SetResync(hidesPackets(st))
	d.ct.SetOneSided(oneSided(st))
	d.revokeMarks(old, st)
	d.ifn.forget()
	d.releaseMemory()
	d.log.Info("ruleset reloaded", "rules", file, "chains", len(st.chains), "rules_reused", st.eng.Reuse().Reused, "batch_messages", prog.Messages, "tables_whole", prog.Full, "chains_dumped", prog.Dumped)
	return nil
}

// Stop removes nfd's tables in one batch, closes the queues, and returns
// once every goroutine Start launched has ended.
func (d *Daemon) Stop() error {
	d.mu.Lock()
	d.run.Store(int32(stateStopping))
	var errs []error
	if conn, err := d.cfg.NewConn(); err != nil {
		errs = append(errs, err)
	} else if err := kernel.Remove(conn); err != nil {
		errs = append(errs, fmt.Errorf("removing nfd's tables: %w", err))
	}
	for n, q := range d.queues {
		q.close()
		delete(d.queues, n)
	}
	if d.cancel != nil {
		d.cancel()
	}
	if d.rej != nil {
		d.rej.Close()
	}
	if d.rollback != nil {
		d.rollback.Stop()
	}
	d.mu.Unlock()
	// Outside the lock: the table watch takes it before it sees the
	// cancelled context.
	d.wg.Wait()
	if d.closeResolver != nil {
		d.closeResolver()
	}
	d.run.Store(int32(stateStopped))
	return errors.Join(errs...)
}

// ChainStatus describes one running chain.
type ChainStatus struct {
	Table    string `json:"table"`
	Chain    string `json:"chain"`
	Hook     string `json:"hook"`
	Priority int    `json:"priority"`
	Policy   string `json:"policy"`
	Queues   string `json:"queues"`
	Native   int    `json:"native_rules"`
	// BypassMark is the mark bit of the chain's flow bypass, if any.
	BypassMark string `json:"bypass_mark,omitempty"`
}

// HookStatus counts decisions at one hook.
type HookStatus struct {
	Packets uint64 `json:"packets"` // decided by nfd (queued)
	Bytes   uint64 `json:"bytes"`
	Accept  uint64 `json:"accept"`
	Drop    uint64 `json:"drop"`
	Reject  uint64 `json:"reject"`
	// Native are packets decided in the kernel at this hook, by offloaded
	// rules that end in a verdict and by chain policies.
	Native uint64 `json:"native"`
}

// Status is what `nfd status` shows.
type Status struct {
	Version string `json:"version"`
	// State is new, starting, running, stopping or stopped.
	State string `json:"state"`
	// Loading is the load in progress (start, reload, apply), if any:
	// while it runs, the kernel's per-rule counters are not read (a dump
	// of every rule), so the hooks' native counts are left out, and
	// neither is the kernel's table list.
	Loading       *LoadProgress `json:"loading,omitempty"`
	PID           int           `json:"pid"`
	Started       time.Time     `json:"started"`
	UptimeSeconds float64       `json:"uptime_seconds"`
	QueueMode     string        `json:"queue_mode"`
	BusyPoll      string        `json:"busy_poll,omitempty"`
	Offload       string        `json:"offload"`
	RulesFile     string        `json:"rules_file"`
	Checksum      string        `json:"checksum"`
	// Warnings are the loaded file's lint warnings (parser.Lint).
	Warnings      []string              `json:"warnings,omitempty"`
	Loaded        time.Time             `json:"loaded"`
	Reloads       uint64                `json:"reloads"`
	ReloadErrors  uint64                `json:"reload_errors"`
	KernelTables  []string              `json:"kernel_tables"`
	Chains        []ChainStatus         `json:"chains"`
	Hooks         map[string]HookStatus `json:"hooks"`
	Conntrack     conntrack.Stats       `json:"conntrack"`
	ConntrackSync string                `json:"conntrack_sync"`
	PendingApply  *time.Time            `json:"pending_apply_deadline,omitempty"`
	QueueErrors   uint64                `json:"queue_errors"`
	QueueDrops    uint64                `json:"queue_kernel_drops"` // queue full + user dropped, all queues
	Restores      uint64                `json:"table_restores"`
	// TableWatch is how nfd notices other tools removing its tables.
	TableWatch string `json:"table_watch"`
	// QueueFailOpen are packets the kernel accepted without asking nfd
	// because a fail-open queue was full (not counted in /proc).
	QueueFailOpen uint64 `json:"queue_fail_open"`
	Bypassed      uint64 `json:"flows_bypassed"`
	// NativeCountsAge is how old, in seconds, the kernel rule counts
	// behind the hooks' native decisions are: 0 when read for this
	// answer; with many rules they are read in the background
	// (statuscounters.go).
	NativeCountsAge float64 `json:"native_counts_age_seconds"`
	// Continued are packets nfd handed back to the kernel at a rule only
	// the kernel can evaluate; ContMask the mark bits of their ids.
	Continued   uint64 `json:"continued_in_kernel"`
	ContMissing uint64 `json:"continuation_missing,omitempty"`
	// RejectedInKernel are packets nfd rejected and handed back for the
	// kernel's reject to answer (planner/rejectcont.go).
	RejectedInKernel uint64 `json:"rejected_in_kernel"`
	ContMask         string `json:"continuation_mark_bits,omitempty"`
	// Unreadable are packets dropped because their transport header lay
	// beyond the bytes nfd copies from the queue.
	Unreadable uint64 `json:"unreadable_dropped"`
	// BypassRevoking are mark bits of an older ruleset still being cleared
	// from the kernel's connections; they are not handed out meanwhile.
	BypassRevoking string `json:"bypass_marks_revoking,omitempty"`
	Goroutines     int    `json:"goroutines"`
	HeapBytes      uint64 `json:"heap_bytes"`
	// DNS: sets filled from DNS answers, if any (dns.go).
	DNS *DNSStatus `json:"dns,omitempty"`
}

func (d *Daemon) decidedTotal() uint64 { return d.Stats.Decided() }

// ReloadState reports whether the last load succeeded and when one last did.
func (d *Daemon) ReloadState() (ok bool, lastSuccess time.Time, reloads, errs uint64) {
	return !d.lastFailed.Load(), time.Unix(0, d.lastSuccess.Load()), d.reloads.Load(), d.reloadErr.Load()
}

// QueuePackets returns the packets each open queue received.
func (d *Daemon) QueuePackets() map[uint16]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[uint16]uint64, len(d.queues))
	for n, q := range d.queues {
		out[n] = q.packets.Load()
	}
	return out
}

// Status reports the daemon's state.
func (d *Daemon) Status() Status {
	st := d.st.Load()
	s := Status{Version: d.cfg.Version, State: d.State(), Loading: d.prog.Current(), PID: os.Getpid(), Started: d.started, UptimeSeconds: time.Since(d.started).Seconds(),
		QueueMode: d.mode.String(), Offload: d.cfg.Offload, RulesFile: st.file, Checksum: st.checksum, Loaded: st.loaded, Warnings: st.warnings,
		Reloads: d.reloads.Load(), ReloadErrors: d.reloadErr.Load(), Hooks: map[string]HookStatus{},
		Conntrack: d.ct.Stats(), QueueErrors: d.Stats.Errors.Load(), Restores: d.Stats.Restores.Load(),
		Bypassed: d.Stats.Bypassed.Load(), Unreadable: d.Stats.Unreadable.Load(), Goroutines: runtime.NumGoroutine(),
		Continued: d.Stats.Continued.Load(), ContMissing: d.Stats.ContMissing.Load(), RejectedInKernel: d.Stats.RejectedInKernel.Load()}
	if st.contMask != 0 {
		s.ContMask = fmt.Sprintf("%#08x", st.contMask)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.HeapBytes = ms.HeapAlloc
	if d.cfg.BusyPoll > 0 && d.cfg.QueueImpl != ImplGoNfqueue {
		s.BusyPoll = d.cfg.BusyPoll.String()
	}
	s.TableWatch = "periodic check (300ms)"
	if d.monitorActive.Load() {
		s.TableWatch = "nftables monitor + periodic check (300ms)"
	}
	if b := d.marks.shown.Load(); b != 0 {
		s.BypassRevoking = fmt.Sprintf("%#08x", b)
	}
	for _, c := range queue.ProcDrops() {
		s.QueueDrops += c.Total()
	}
	var kc kernel.KernelCounters
	if s.Loading == nil {
		var age time.Duration
		kc, age = d.statusCounters(st)
		s.NativeCountsAge = age.Round(time.Millisecond).Seconds()
	}
	decided := d.decidedTotal() - d.decidedAtProgram.Load()
	if kc.Queued > decided+s.QueueDrops {
		s.QueueFailOpen = kc.Queued - decided - s.QueueDrops
	}
	if s.Loading == nil {
		// Not while a load commits: the listing would wait on the
		// kernel's nftables transaction.
		if conn, err := d.cfg.NewConn(); err == nil {
			s.KernelTables, _ = kernel.OwnedTables(conn)
		}
	}
	for _, tp := range st.plans {
		for _, cp := range tp.Chains {
			if cp.Base == nil {
				continue
			}
			cs := ChainStatus{Table: tp.Family.String() + " " + tp.Name, Chain: cp.Name, Hook: cp.Base.Hook.String(),
				Priority: cp.Base.Priority, Policy: cp.Base.Policy.String(), Native: len(cp.Rules) + len(cp.After), Queues: "none (native)"}
			if cp.Queue {
				cs.Queues = fmt.Sprintf("%d-%d", cp.QueueNum, cp.QueueNum+cp.QueueTotal-1)
			}
			if cp.BypassBit != 0 {
				cs.BypassMark = fmt.Sprintf("%#08x", cp.BypassBit)
			}
			s.Chains = append(s.Chains, cs)
		}
	}
	for _, h := range parser.Hooks {
		t := d.Stats.Totals(0, h).Add(d.Stats.Totals(1, h))
		s.Hooks[h.String()] = HookStatus{Packets: t.Packets(), Bytes: t.Bytes, Accept: t.Accept, Drop: t.Drop, Reject: t.Reject}
	}
	for k, n := range NativeDecisions(st.eng, kc) {
		hs := s.Hooks[k[0]]
		hs.Native += n
		s.Hooks[k[0]] = hs
	}
	if dl, ok := d.Pending(); ok {
		s.PendingApply = &dl
	}
	s.DNS = d.DNSStatus()
	switch {
	case d.ctSync.Load().Active():
		s.ConntrackSync = "active (kernel destroy events)"
	case d.ctErr.Load() != nil:
		s.ConntrackSync = "unavailable: " + *d.ctErr.Load()
	case len(st.chains) == 0:
		s.ConntrackSync = "not needed (no chain queues packets)"
	default:
		s.ConntrackSync = "inactive"
	}
	return s
}

// rulesetSize counts a parsed ruleset's rules and set elements.
func rulesetSize(rs *parser.Ruleset) (rules, elems int) {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			rules += len(c.Rules)
		}
		for _, s := range t.Sets {
			elems += s.NumElems()
		}
	}
	return rules, elems
}

// Loading is the load in progress (start, reload, apply, rollback), nil
// when none is.
func (d *Daemon) Loading() *LoadProgress { return d.prog.Current() }

// StartingStatus is what status shows before the daemon exists: the
// first load's progress (p is the Config.Progress it was given).
func StartingStatus(version string, p *Progress) Status {
	return Status{Version: version, State: stateStarting.String(), Loading: p.Current(), PID: os.Getpid(), Hooks: map[string]HookStatus{}}
}

// Brief is the status without what costs a kernel dump (counters, the
// table list): the answer to a reload or apply.
func (d *Daemon) Brief() Status {
	st := d.st.Load()
	return Status{Version: d.cfg.Version, State: d.State(), Loading: d.prog.Current(), PID: os.Getpid(), Started: d.started,
		UptimeSeconds: time.Since(d.started).Seconds(), QueueMode: d.mode.String(), Offload: d.cfg.Offload, RulesFile: st.file,
		Checksum: st.checksum, Loaded: st.loaded, Warnings: st.warnings, Reloads: d.reloads.Load(), ReloadErrors: d.reloadErr.Load()}
}

// releaseMemory returns to the system what a load used and no longer
// needs (the parse, the batch, the old state): the Go runtime otherwise
// keeps the pages of a load's peak mapped for minutes. It runs beside
// the caller, once per load.
func (d *Daemon) releaseMemory() {
	d.spawn(debug.FreeOSMemory)
}
