package hooks

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/rules"
)

// headerCopy is how many bytes a queue copies when no rule of its chain
// needs payload: IPv4 with options, or IPv6 with over a hundred extension
// headers, and TCP with options. A packet whose IPv6 extension headers run
// past it is dropped (see decide): the kernel's rules would find its
// transport header, nfd cannot.
const headerCopy = 1024

// Queue readers. nfd reads each queue on one goroutine, which owns the
// decoded packet, the evaluation context and the conntrack result, so a
// packet costs no allocation. Two implementations share the decision:
//   - "nfd" (default): hooks/nfq.go, buffers reused, recvmmsg, batched
//     accept verdicts flushed after every receive batch and whenever a
//     drop, reject or mark must be sent;
//   - "go-nfqueue": github.com/florianl/go-nfqueue/v2's receive path, one
//     verdict per packet (kept as the reference and a fallback).
const (
	ImplNfd       = "nfd"
	ImplGoNfqueue = "go-nfqueue"
)

type queueReader struct {
	d      *Daemon
	num    uint16
	cancel context.CancelFunc
	done   chan struct{}

	nf  *nfqueue.Nfqueue // go-nfqueue implementation
	own *nfq             // nfd implementation

	p   packet.Parsed
	c   rules.Ctx
	ctr conntrack.Result

	packets atomic.Uint64
}

// decision is what to answer for one packet.
type decision struct {
	verdict uint32 // nfAccept or nfDrop
	mark    uint32
	setMark bool
}

func (d *Daemon) openQueue(num uint16, failOpen, payload bool) (*queueReader, error) {
	flags := uint32(cfgFlagGSO)
	if failOpen {
		// Queue overflow follows the chain's policy: accept-policy chains
		// fail open, drop-policy chains fail closed.
		flags |= cfgFlagFailOpen
	}
	copyLen := uint32(headerCopy)
	if payload {
		copyLen = 0xffff
	}
	ctx, cancel := context.WithCancel(d.ctx)
	q := &queueReader{d: d, num: num, cancel: cancel, done: make(chan struct{})}
	if d.cfg.QueueImpl == ImplGoNfqueue {
		if err := q.openGoNfqueue(ctx, flags, copyLen); err != nil {
			cancel()
			return nil, err
		}
		close(q.done)
		return q, nil
	}
	own, err := openNFQ(num, copyLen, d.cfg.QueueLen, flags, int(d.cfg.QueueLen)*2048)
	if err != nil {
		cancel()
		return nil, err
	}
	own.busyPoll = d.cfg.BusyPoll
	q.own = own
	go q.run(ctx)
	return q, nil
}

// run is the queue's goroutine (nfd implementation).
func (q *queueReader) run(ctx context.Context) {
	defer close(q.done)
	defer q.own.close()
	d := q.d
	handle := q.handleOwn // one method value, not one per batch
	for ctx.Err() == nil {
		n, err := q.own.recv()
		if err != nil {
			d.Stats.Errors.Add(1)
			if !errors.Is(err, unix.ENOBUFS) {
				d.log.Warn("queue receive error", "queue", q.num, "err", err)
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		for i := 0; i < n; i++ {
			q.own.each(i, handle)
		}
		// Bound the wait of batched accepts to one receive batch.
		if err := q.own.flush(); err != nil {
			d.Stats.Verdict.Add(1)
		}
	}
}

func (q *queueReader) handleOwn(p *nfqPacket) {
	var mark, in, out *uint32
	if p.hasMark {
		mark = &p.mark
	}
	if p.hasIn {
		in = &p.indev
	}
	if p.hasOut {
		out = &p.outdev
	}
	dec := q.decide(p.payload, p.capLen, p.skbInfo, mark, in, out)
	var err error
	switch {
	case dec.verdict == nfAccept && !dec.setMark:
		q.own.accept(p.id)
	case dec.setMark:
		err = q.own.verdict(p.id, dec.verdict, &dec.mark)
	default:
		err = q.own.verdict(p.id, dec.verdict, nil)
	}
	if err != nil {
		q.d.Stats.Verdict.Add(1)
	}
}

func (q *queueReader) openGoNfqueue(ctx context.Context, flags, copyLen uint32) error {
	d := q.d
	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      q.num,
		MaxPacketLen: copyLen,
		MaxQueueLen:  d.cfg.QueueLen,
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        flags,
	})
	if err != nil {
		return err
	}
	_ = nf.SetOption(netlink.NoENOBUFS, true)
	_ = nf.Con.SetReadBuffer(int(d.cfg.QueueLen) * 2048)
	q.nf = nf
	err = nf.RegisterWithErrorFunc(ctx, func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		var payload []byte
		if a.Payload != nil {
			payload = *a.Payload
		}
		var capLen uint32
		if a.CapLen != nil {
			capLen = *a.CapLen
		}
		var skbInfo uint32
		if a.SkbInfo != nil && len(*a.SkbInfo) >= 4 {
			skbInfo = binary.BigEndian.Uint32(*a.SkbInfo)
		}
		dec := q.decide(payload, capLen, skbInfo, a.Mark, a.InDev, a.OutDev)
		if dec.setMark {
			err = nf.SetVerdictWithMark(*a.PacketID, int(dec.verdict), int(dec.mark))
		} else {
			err = nf.SetVerdict(*a.PacketID, int(dec.verdict))
		}
		if err != nil {
			d.Stats.Verdict.Add(1)
		}
		return 0
	}, func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		d.Stats.Errors.Add(1)
		var opErr *netlink.OpError
		if !(errors.As(err, &opErr) && errors.Is(opErr.Err, unix.ENOBUFS)) {
			d.log.Warn("queue receive error", "queue", q.num, "err", err)
		}
		return 0
	})
	if err != nil {
		nf.Close()
	}
	return err
}

func (q *queueReader) close() {
	q.cancel()
	if q.nf != nil {
		q.nf.Close()
	}
	select {
	case <-q.done:
	case <-time.After(2 * time.Second):
		q.d.log.Warn("queue reader did not stop in time", "queue", q.num)
	}
}

// decide classifies one packet: decode, conntrack, the chain's rules. It
// runs on the queue's goroutine and allocates nothing on its way.
func (q *queueReader) decide(payload []byte, capLen uint32, skbInfo uint32, mark, indev, outdev *uint32) decision {
	d := q.d
	var t0 time.Time
	if d.cfg.Observer != nil {
		t0 = time.Now()
	}
	st := d.st.Load()
	cs := st.byQueue[q.num]
	if cs == nil || payload == nil {
		return decision{verdict: nfAccept}
	}
	wire := len(payload)
	if int(capLen) > wire {
		wire = int(capLen)
	}
	p := &q.p
	p.DecodeCaptured(payload, wire)
	hook := cs.base.Hook
	fi := 0 // family index of the stats
	if p.Family == 6 {
		fi = 1
	}
	if p.Flags&packet.ExtHdrLimit != 0 && wire > len(payload) {
		// The transport header lies beyond the copied bytes, where the
		// kernel's rules would see it: rather than decide blind (a
		// `tcp dport 22 drop` would not match), nfd fails closed.
		d.Stats.Unreadable.Add(1)
		d.Stats.Packets[fi][hook][rules.Drop].Add(1)
		q.packets.Add(1)
		return decision{verdict: nfDrop}
	}
	if d.ctChecksum && skbInfo&skbCsumNotVerified != 0 && hook != parser.HookOutput &&
		hook != parser.HookPostrouting && !p.ChecksumOK() {
		// No device vouched for the checksum and no software check
		// passed (skb_csum_unnecessary() is false: the queue says
		// NOTVERIFIED), and it is bad: the kernel's conntrack, which
		// checks at prerouting (nf_conntrack_checksum), calls the
		// packet invalid. A checksum not computed yet (NOTREADY, local
		// traffic) or already found good (no flag) is left alone.
		p.Flags |= packet.BadChecksum
	}
	c := &q.c
	c.Reset(p, hook)
	if indev != nil {
		if n, ok := d.ifn.name(*indev); ok {
			c.SetIif(n)
		}
	}
	if outdev != nil {
		if n, ok := d.ifn.name(*outdev); ok {
			c.SetOif(n)
		}
	}
	if mark != nil {
		c.Mark = *mark
	}
	// Connection tracking happens once per packet, at the first hook of
	// its path where nfd queues it (nf_conntrack_in() runs at prerouting
	// and output; nfd tracks where it first sees the packet); later hooks
	// and later chains at the same hook only look up.
	ctr := &q.ctr
	if cs.first[fi] && d.firstSight(st, fi, hook, p) {
		d.ct.Track(p, ctr)
	} else {
		d.ct.Lookup(p, ctr)
	}
	if k := st.eng.NameKinds & (1<<conntrack.NameSNI | 1<<conntrack.NameHost); k != 0 {
		d.ct.AssembleNames(p, ctr, k) // a ClientHello or request head over several segments
	}
	c.CT = *ctr
	c.CtMark = ctr.Mark
	dec := st.eng.EvalBaseFrom(c, cs.base, cs.plan.Start)
	c.LearnNames(st.eng, d.ct)
	if c.CtMarkChanged && ctr.Found {
		d.ct.SetMark(ctr.Key, c.CtMark)
	}
	out := decision{verdict: nfAccept}
	switch dec.Verdict {
	case rules.Accept:
		if c.MarkChanged {
			out.mark, out.setMark = c.Mark, true
		}
		if bit := cs.plan.BypassBit; bit != 0 && dec.Rule != nil && dec.Rule.Table == cs.kc.Table &&
			dec.Rule.Chain == cs.kc.Chain && dec.Rule.Index < len(cs.plan.Bypass) && cs.plan.Bypass[dec.Rule.Index] &&
			!(cs.plan.EstablishedNative && p.L4Proto == packet.ProtoTCP) && c.KnowsNames(cs.plan.BypassNames[dec.Rule.Index]) {
			// The rest of this flow is decided: let the kernel take it.
			out.mark, out.setMark = c.Mark|bit, true
			d.Stats.Bypassed.Add(1)
		}
	case rules.Reject:
		if d.rej != nil {
			if err := d.rej.Send(p, dec.RejectKind, dec.RejectCode); err != nil {
				d.log.Debug("reject reply not sent", "err", err)
			}
		}
		fallthrough
	default:
		if ctr.Found {
			d.ct.Forget(ctr.Key)
		}
		out.verdict = nfDrop
		if d.log.Enabled(context.Background(), slog.LevelDebug) {
			d.log.Debug("drop", "hook", hook.String(), "chain", cs.kc.Chain, "ct", ctr.State, "len", wire,
				"flags", p.Flags, "sport", p.Sport, "dport", p.Dport, "tcpflags", p.TCPFlags)
		}
	}
	d.trace(q.num, c, p, cs, dec)
	d.Stats.Packets[fi][hook][dec.Verdict].Add(1)
	d.Stats.Bytes[fi][hook].Add(uint64(wire))
	q.packets.Add(1)
	if d.cfg.Observer != nil {
		d.cfg.Observer.ObserveVerdict(hook, time.Since(t0))
	}
	return out
}

// firstSight reports whether no earlier hook of the packet's path queued
// it to nfd.
func (d *Daemon) firstSight(st *state, fi int, hook parser.Hook, p *packet.Parsed) bool {
	q := &st.queued[fi]
	switch hook {
	case parser.HookPrerouting, parser.HookOutput:
		return true
	case parser.HookInput, parser.HookForward:
		return !q[parser.HookPrerouting]
	case parser.HookPostrouting:
		if d.isLocal(&p.Src) {
			return !q[parser.HookOutput]
		}
		return !q[parser.HookPrerouting] && !q[parser.HookForward]
	}
	return true
}
