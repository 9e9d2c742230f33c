package hooks

// Sets filled from DNS answers (`dns names`): the kernel queues DNS
// messages (planner.DNSChains) to one queue; its reader remembers queries,
// matches answers (dnsfill), adds the answers' addresses to the kernel's
// sets and waits for the kernel's acknowledgement before it lets the
// answers go, so a client that connects right after its answer finds the
// address in the set.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/dnsfill"
	"github.com/nfdproject/nfd/kernel"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/queue"
)

// dnsGroupKey reserves the DNS queue's group among the chains' groups.
const dnsGroupKey = "\x00dns"

// dnsState is a state's sets filled from DNS answers.
type dnsState struct {
	f      *dnsfill.Filler
	kernel map[*dnsfill.Set]*nftables.Set // the sets programmed natively
	queue  uint16
	// static is, per native set's plan, how many of its elements the file
	// gave (the learned ones follow, see learnedInPlans).
	static map[*planner.PendingSet]int
}

// dnsReader reads the DNS queue.
type dnsReader struct {
	num    uint16
	cancel context.CancelFunc
	done   chan struct{}

	packets      atomic.Uint64
	kernelErrors atomic.Uint64
	lastErr      atomic.Pointer[string]
}

// hasDNS reports whether a state has a set filled from DNS answers.
func (st *state) hasDNS() bool {
	for _, tp := range st.plans {
		if tp.DNS != nil {
			return true
		}
	}
	return false
}

// prepareDNS builds st's filler, carrying over the learned elements of
// old's unchanged sets: the engine's sets look them up, and they go back
// into the kernel's sets, with their remaining lifetime, in the batch
// that programs st. Called with d.mu held, after assignQueues, and with
// d.dnsMu held once the DNS reader runs.
func (d *Daemon) prepareDNS(st, old *state) {
	if !st.hasDNS() {
		return
	}
	var prev *dnsfill.Filler
	if old != nil && old.dns != nil {
		prev = old.dns.f
	}
	f := dnsfill.New(dnsfill.Config{TTLMin: d.cfg.DNSTTLMin, TTLMax: d.cfg.DNSTTLMax, MaxElems: d.cfg.DNSMaxElems,
		Budget: d.cfg.DNSBudget}, st.eng.Ruleset, prev)
	ds := &dnsState{f: f, kernel: map[*dnsfill.Set]*nftables.Set{}, queue: st.dnsQueue, static: map[*planner.PendingSet]int{}}
	for _, t := range st.eng.Ruleset.Tables {
		for _, ps := range t.Sets {
			if fs := f.Set(t.Family, t.Name, ps.Name); fs != nil {
				st.eng.SetDynamic(ps, fs)
			}
		}
	}
	for _, tp := range st.plans {
		if tp.DNS != nil {
			tp.DNS.Queue = st.dnsQueue
		}
		for i := range tp.Sets {
			ps := &tp.Sets[i]
			fs := f.Set(tp.Family, tp.Name, ps.Set.Name)
			if ps.Set.Anonymous || fs == nil {
				continue
			}
			ds.kernel[fs] = ps.Set
			ds.static[ps] = len(ps.Elems)
		}
	}
	st.dns = ds
	learnedInPlans(st)
}

// learnedInPlans makes the native sets' elements in st's plans the file's
// plus what was learned, with the time each has left, for a batch that
// (re)creates the sets: a reload, or a restore after another tool removed
// nfd's tables. Called with d.dnsMu held (or before the reader runs).
func learnedInPlans(st *state) {
	ds := st.dns
	if ds == nil {
		return
	}
	now := time.Now()
	for _, tp := range st.plans {
		for i := range tp.Sets {
			ps := &tp.Sets[i]
			n, ok := ds.static[ps]
			if !ok {
				continue
			}
			ps.Elems = ps.Elems[:n:n]
			for _, e := range ds.f.Set(tp.Family, tp.Name, ps.Set.Name).Elements(now) {
				ps.Elems = append(ps.Elems, nftables.SetElement{Key: addrKey(e.Addr), Timeout: e.Remaining, Comment: e.Name})
			}
		}
	}
}

func addrKey(a netip.Addr) []byte { return a.AsSlice() }

// syncDNSReader opens the DNS queue's reader when st needs one and none
// is open (before st is programmed: open true) and closes it when st
// needs none (after: open false). The queue's number stays while it is
// open (assignQueues keeps its group). Called with d.mu held.
func (d *Daemon) syncDNSReader(st *state, open bool) error {
	want := st.hasDNS()
	if !open {
		if r := d.dnsR.Load(); !want && r != nil {
			r.close()
			d.dnsR.Store(nil)
		}
		return nil
	}
	if !want || d.dnsR.Load() != nil {
		return nil
	}
	conn, err := d.cfg.NewConn()
	if err != nil {
		return err
	}
	// Fail open, with the rules' bypass flag: with the queue full or nfd
	// gone, answers pass unfilled rather than DNS failing.
	r, err := queue.Open(queue.Config{Impl: queue.ImplNfd, Num: st.dnsQueue, CopyLen: 0xffff, MaxLen: d.cfg.QueueLen,
		FailOpen: true, RcvBuf: int(d.cfg.QueueLen) * 2048, BusyPoll: d.cfg.BusyPoll})
	if err != nil {
		return fmt.Errorf("opening the DNS queue %d: %w", st.dnsQueue, err)
	}
	w, err := kernel.NewElemWriter(conn.NetNS)
	if err != nil {
		r.Close()
		return err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	dr := &dnsReader{num: st.dnsQueue, cancel: cancel, done: make(chan struct{})}
	d.dnsR.Store(dr)
	d.spawn(func() { d.serveDNS(ctx, r, dr, w) })
	return nil
}

func (r *dnsReader) close() {
	r.cancel()
	<-r.done
}

// dnsMsg is a DNS message of the batch being handled.
type dnsMsg struct {
	src, dst netip.AddrPort
	tcp      bool
	off, n   int
}

// serveDNS reads the DNS queue: each receive batch's messages are
// handled together, their addresses added in one transaction, and the
// batch's verdicts (all accept) given once the kernel acknowledged it.
func (d *Daemon) serveDNS(ctx context.Context, r queue.Reader, dr *dnsReader, w *kernel.ElemWriter) {
	defer close(dr.done)
	defer r.Close()
	defer w.Close()
	var (
		p      packet.Parsed
		ids    []uint32
		msgs   []dnsMsg
		arena  []byte
		adds   []dnsfill.Add
		groups []kernel.SetElems
		swept  = time.Now()
	)
	take := func(qp *queue.Packet) {
		ids = append(ids, qp.ID)
		dr.packets.Add(1)
		p.Decode(qp.Payload)
		if p.Family == 0 || (p.L4Proto != packet.ProtoUDP && p.L4Proto != packet.ProtoTCP) {
			return
		}
		pl := p.Payload()
		if len(pl) == 0 {
			return
		}
		src, _ := netip.AddrFromSlice(p.SrcAddr())
		dst, _ := netip.AddrFromSlice(p.DstAddr())
		msgs = append(msgs, dnsMsg{src: netip.AddrPortFrom(src, p.Sport), dst: netip.AddrPortFrom(dst, p.Dport),
			tcp: p.L4Proto == packet.ProtoTCP, off: len(arena), n: len(pl)})
		arena = append(arena, pl...)
	}
	for ctx.Err() == nil {
		ids, msgs, arena, adds = ids[:0], msgs[:0], arena[:0], adds[:0]
		if err := r.Receive(take); err != nil {
			if errors.Is(err, queue.ErrClosed) {
				return
			}
			d.Stats.Errors.Add(1)
			if !queue.Overrun(err) {
				time.Sleep(10 * time.Millisecond)
			}
		}
		d.dnsMu.Lock()
		ds := d.st.Load().dns
		if ds != nil {
			for _, m := range msgs {
				adds = ds.f.Message(m.src, m.dst, m.tcp, arena[m.off:m.off+m.n], adds)
			}
			if len(adds) > 0 {
				groups = kernelGroups(ds, adds, groups[:0])
				if len(groups) > 0 {
					if err := w.Add(groups); err != nil {
						// Not in the kernel: out of the copy too.
						ds.f.Forget(adds)
						dr.kernelErrors.Add(1)
						msg := err.Error()
						dr.lastErr.Store(&msg)
						d.log.Warn("adding learned addresses failed", "err", err)
					}
				}
			}
			if now := time.Now(); now.Sub(swept) >= time.Second {
				ds.f.Sweep()
				swept = now
			}
		}
		d.dnsMu.Unlock()
		for _, id := range ids {
			if err := r.Verdict(id, queue.Verdict{Verdict: queue.Accept}); err != nil {
				d.Stats.Verdict.Add(1)
			}
		}
		if err := r.Flush(); err != nil {
			d.Stats.Verdict.Add(1)
		}
	}
}

// kernelGroups groups adds by kernel set (sets not programmed natively,
// such as those only rules nfd runs use, have only the copy).
func kernelGroups(ds *dnsState, adds []dnsfill.Add, out []kernel.SetElems) []kernel.SetElems {
	for _, a := range adds {
		ks := ds.kernel[a.Set]
		if ks == nil {
			continue
		}
		i := 0
		for i < len(out) && out[i].Set != ks {
			i++
		}
		if i == len(out) {
			out = append(out, kernel.SetElems{Set: ks})
		}
		out[i].Elems = append(out[i].Elems, nftables.SetElement{Key: addrKey(a.Addr), Timeout: a.Timeout, Comment: a.Name})
	}
	return out
}

// DNSSetStatus is one set filled from DNS answers.
type DNSSetStatus struct {
	Table     string   `json:"table"`
	Set       string   `json:"set"`
	Names     []string `json:"names"`
	Kernel    bool     `json:"kernel"` // programmed natively (else only rules nfd runs use it)
	Elements  int      `json:"elements"`
	Limit     int      `json:"limit"`
	Answers   uint64   `json:"answers"`
	Added     uint64   `json:"added"`
	Refreshed uint64   `json:"refreshed"`
	Expired   uint64   `json:"expired"`
	Limited   uint64   `json:"refused_full"`
	Budgeted  uint64   `json:"refused_budget"`
}

// DNSStatus is what `nfd status` shows about sets filled from DNS.
type DNSStatus struct {
	Queue        uint16 `json:"queue"`
	Packets      uint64 `json:"packets"`
	KernelErrors uint64 `json:"kernel_errors"`
	LastError    string `json:"last_error,omitempty"`
	dnsfill.Stats
	Sets []DNSSetStatus `json:"sets"`
}

// DNSStatus reports the sets filled from DNS answers (nil: none).
func (d *Daemon) DNSStatus() *DNSStatus {
	ds := d.st.Load().dns
	if ds == nil {
		return nil
	}
	s := &DNSStatus{Queue: ds.queue, Stats: ds.f.Stats()}
	if r := d.dnsR.Load(); r != nil {
		s.Packets, s.KernelErrors = r.packets.Load(), r.kernelErrors.Load()
		if e := r.lastErr.Load(); e != nil {
			s.LastError = *e
		}
	}
	now := time.Now()
	for _, fs := range ds.f.Sets {
		s.Sets = append(s.Sets, DNSSetStatus{Table: fs.Family.String() + " " + fs.Table, Set: fs.Name, Names: fs.Names,
			Kernel: ds.kernel[fs] != nil, Elements: fs.Live(now), Limit: fs.Limit, Answers: fs.Answers.Load(),
			Added: fs.Added.Load(), Refreshed: fs.Refreshed.Load(), Expired: fs.Expired.Load(), Limited: fs.Limited.Load(),
			Budgeted: fs.Budgeted.Load()})
	}
	return s
}

// DNSElements lists a set's learned elements (nil if it has none or is
// not filled from DNS).
func (d *Daemon) DNSElements(fam parser.Family, table, set string) []dnsfill.Learned {
	ds := d.st.Load().dns
	if ds == nil {
		return nil
	}
	fs := ds.f.Set(fam, table, set)
	if fs == nil {
		return nil
	}
	return fs.Elements(time.Now())
}
