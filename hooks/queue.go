package hooks

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/pipeline"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/queue"
	"github.com/nfdproject/nfd/rules"
)

// headerCopy is how many bytes a queue copies when no rule of its chain
// needs payload: IPv4 with options, or IPv6 with over a hundred extension
// headers, and TCP with options. A packet whose IPv6 extension headers run
// past it is dropped (see decide): the kernel's rules would find its
// transport header, nfd cannot.
const headerCopy = 1024

// Queue readers: queue.ImplNfd and queue.ImplGoNfqueue.
const (
	ImplNfd       = queue.ImplNfd
	ImplGoNfqueue = queue.ImplGoNfqueue
)

// queueReader is one queue's goroutine: it owns the decoded packet, the
// evaluation context and the conntrack result, so a packet costs no
// allocation.
type queueReader struct {
	d      *Daemon
	num    uint16
	cancel context.CancelFunc
	done   chan struct{}

	pl   pipeline.Pipeline
	in   pipeline.Input
	cont rules.ContKey // in.Cont points here: no allocation per packet

	packets atomic.Uint64
}

func (d *Daemon) openQueue(num uint16, failOpen, payload bool) (*queueReader, error) {
	copyLen := uint32(headerCopy)
	if payload {
		copyLen = 0xffff
	}
	// Queue overflow follows the chain's policy (FailOpen): accept-policy
	// chains fail open, drop-policy chains fail closed.
	r, err := queue.Open(queue.Config{Impl: d.cfg.QueueImpl, Num: num, CopyLen: copyLen, MaxLen: d.cfg.QueueLen,
		FailOpen: failOpen, RcvBuf: int(d.cfg.QueueLen) * 2048, BusyPoll: d.cfg.BusyPoll})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	q := &queueReader{d: d, num: num, cancel: cancel, done: make(chan struct{})}
	q.pl = pipeline.Pipeline{CT: d.ct, Ifname: d.ifn.name}
	go func() {
		defer close(q.done)
		queue.Serve(ctx, r, q.decide, q.failed)
	}()
	return q, nil
}

// failed counts a queue's receive and verdict errors.
func (q *queueReader) failed(receive bool, err error) {
	if !receive {
		q.d.Stats.Verdict.Add(1)
		return
	}
	q.d.Stats.Errors.Add(1)
	if !queue.Overrun(err) {
		q.d.log.Warn("queue receive error", "queue", q.num, "err", err)
	}
}

func (q *queueReader) close() {
	q.cancel()
	select {
	case <-q.done:
	case <-time.After(2 * time.Second):
		q.d.log.Warn("queue reader did not stop in time", "queue", q.num)
	}
}

// decide classifies one packet: decode, conntrack, the chain's rules. It
// runs on the queue's goroutine and allocates nothing on its way.
func (q *queueReader) decide(qp *queue.Packet) queue.Verdict {
	payload, capLen, skbInfo := qp.Payload, qp.CapLen, qp.SkbInfo
	d := q.d
	var t0 time.Time
	if d.cfg.Observer != nil {
		t0 = time.Now()
	}
	st := d.st.Load()
	cs := st.byQueue[q.num]
	if cs == nil || payload == nil {
		return queue.Verdict{Verdict: queue.Accept}
	}
	wire := len(payload)
	if int(capLen) > wire {
		wire = int(capLen)
	}
	p := q.pl.Decode(payload, wire)
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
		return queue.Verdict{Verdict: queue.Drop}
	}
	if d.ctChecksum && skbInfo&queue.SkbCsumNotVerified != 0 && hook != parser.HookOutput &&
		hook != parser.HookPostrouting && !p.ChecksumOK() {
		// No device vouched for the checksum and no software check
		// passed (skb_csum_unnecessary() is false: the queue says
		// NOTVERIFIED), and it is bad: the kernel's conntrack, which
		// checks at prerouting (nf_conntrack_checksum), calls the
		// packet invalid. A checksum not computed yet (NOTREADY, local
		// traffic) or already found good (no flag) is left alone.
		p.Flags |= packet.BadChecksum
	}
	// Connection tracking happens once per packet, at the first hook of
	// its path where nfd queues it (nf_conntrack_in() runs at prerouting
	// and output; nfd tracks where it first sees the packet); later hooks
	// and later chains at the same hook only look up.
	// A continuation chain that queued the packet back marked it with the
	// point nfd resumes at; the bits are nfd's, not the rules': they are
	// cleared before any rule sees the mark, and by the verdict.
	looped := qp.HasInDev && qp.InDev == loopbackIfindex
	mark, resumed, resumedAt := qp.Mark, false, uint16(0)
	q.in = pipeline.Input{Engine: st.eng, Hook: hook, Base: cs.base, Start: cs.plan.Start, Looped: looped}
	if bits := mark & st.contMask; bits != 0 {
		mark &^= st.contMask
		resumed = true
		resumedAt = planner.ContID(bits, st.contMask)
		if cs.conts != nil {
			if k, ok := cs.conts.point[planner.ContID(bits, st.contMask)]; ok {
				q.cont = k
				q.in.Cont = &q.cont
			}
		}
	}
	// A packet queued back was tracked on its first trip.
	q.in.Track = !resumed && cs.first[fi] && d.firstSight(st, fi, hook, p, looped)
	q.in.Mark, q.in.InDev, q.in.OutDev, q.in.HasMark, q.in.HasInDev, q.in.HasOutDev = mark, qp.InDev, qp.OutDev, qp.HasMark, qp.HasInDev, qp.HasOutDev
	dec := q.pl.Decide(&q.in)
	c, ctr := &q.pl.C, &q.pl.R
	out := queue.Verdict{Verdict: queue.Accept}
	switch dec.Verdict {
	case rules.Continue:
		// Back to the kernel at the rule nfd cannot evaluate: NF_REPEAT
		// re-enters the base chain, whose dispatch rule reads the id.
		id, ok := uint16(0), cs.conts != nil
		if ok {
			id, ok = cs.conts.id[c.Cont]
		}
		if !ok || st.contMask == 0 {
			// Cannot happen: the planner lays out every point nfd can
			// reach. Failing closed beats deciding blind.
			d.Stats.ContMissing.Add(1)
			out.Verdict = queue.Drop
			break
		}
		d.Stats.Continued.Add(1)
		out.Verdict = queue.Repeat
		out.Mark, out.SetMark = c.Mark&^st.contMask|planner.ContValue(id, st.contMask), true
	case rules.Accept:
		if c.MarkChanged || resumed {
			out.Mark, out.SetMark = c.Mark, true
		}
		if bit := cs.plan.BypassBit; bit != 0 && dec.Rule != nil && dec.Rule.Table == cs.kc.Table &&
			dec.Rule.Chain == cs.kc.Chain && dec.Rule.Index < len(cs.plan.Bypass) && cs.plan.Bypass[dec.Rule.Index] &&
			!(cs.plan.EstablishedNative && p.L4Proto == packet.ProtoTCP) && c.KnowsNames(cs.plan.BypassNames[dec.Rule.Index]) {
			// The rest of this flow is decided: let the kernel take it.
			out.Mark, out.SetMark = c.Mark|bit, true
			d.Stats.Bypassed.Add(1)
		}
	case rules.Reject:
		if id, ok := cs.conts.rejectID(dec.RejectKind, dec.RejectCode); ok && st.contMask != 0 && !replyDropped(st, fi, ctr) {
			// The kernel sends the reply (planner/rejectcont.go): back
			// with NF_REPEAT to the chain of this reject's form. nfd's
			// own queues meet the reply later: record it as related to
			// the packet's connection, as nf_ct_attach() makes it.
			expectReply(p, dec.RejectKind, dec.RejectCode, d.ct, ctr)
			d.Stats.RejectedInKernel.Add(1)
			out.Verdict = queue.Repeat
			out.Mark, out.SetMark = c.Mark&^st.contMask|planner.ContValue(id, st.contMask), true
			break
		}
		if d.rej != nil {
			if err := d.rej.Send(p, dec.RejectKind, dec.RejectCode, d.ct, ctr); err != nil {
				d.log.Debug("reject reply not sent", "err", err)
			}
		}
		fallthrough
	default: // Decide forgot the connection the packet would have started
		out.Verdict = queue.Drop
		if d.log.Enabled(context.Background(), slog.LevelDebug) {
			d.log.Debug("drop", "hook", hook.String(), "chain", cs.kc.Chain, "ct", ctr.State, "len", wire,
				"flags", p.Flags, "sport", p.Sport, "dport", p.Dport, "tcpflags", p.TCPFlags)
		}
	}
	d.trace(q.num, c, p, cs, dec, resumedAt)
	d.Stats.Packets[fi][hook][dec.Verdict].Add(1)
	d.Stats.Bytes[fi][hook].Add(uint64(wire))
	q.packets.Add(1)
	if d.cfg.Observer != nil {
		d.cfg.Observer.ObserveVerdict(hook, time.Since(t0))
	}
	return out
}

// replyDropped reports whether a reply the kernel's nft_reject builds for
// this packet would be lost: it carries the packet's own conntrack entry
// (nf_ct_attach()), which is still unconfirmed for a connection's first
// packet and held by that packet as well, and the reply leaves through
// the output hook at once, inside the reject (and, sent to the host
// itself, prerouting and input through lo's netif_rx()); if nfd queues it
// there, the queue drops it (nfnetlink_queue's nf_ct_drop_unconfirmed():
// an unconfirmed entry with more than one user). A queued chain with a
// reply chain (planner/replychain.go) runs such replies natively instead;
// if one at a hook the reply takes has none, nfd sends the reply itself
// (hooks/reject.go).
func replyDropped(st *state, fi int, ctr *conntrack.Result) bool {
	if !ctr.Found || ctr.Status&conntrack.StatusConfirmed != 0 || ctr.State&(conntrack.StateInvalid|conntrack.StateUntracked) != 0 {
		return false
	}
	for _, cs := range st.chains {
		h := cs.base.Hook
		if h != parser.HookForward && cs.plan.ReplyChain == "" &&
			(cs.kc.Family == parser.FamilyInet || (cs.kc.Family == parser.FamilyIP) == (fi == 0)) {
			return true
		}
	}
	return false
}

// loopbackIfindex is lo's interface index in every network namespace
// (LOOPBACK_IFINDEX).
const loopbackIfindex = 1

// firstSight reports whether no earlier hook of the packet's path queued
// it to nfd. looped says the packet came in through lo: the host sent it
// (output, postrouting) to itself, and it kept the conntrack entry the
// kernel gave it at output, so nf_conntrack_in() at prerouting skips it
// (the loopback driver does not reset skb->_nfct, unlike veth's
// skb_scrub_packet()); its prerouting and input hooks see the state it
// had at output.
func (d *Daemon) firstSight(st *state, fi int, hook parser.Hook, p *packet.Parsed, looped bool) bool {
	q := &st.queued[fi]
	sent := q[parser.HookOutput] || q[parser.HookPostrouting]
	switch hook {
	case parser.HookOutput:
		return true
	case parser.HookPrerouting:
		return !(looped && sent)
	case parser.HookInput:
		return !q[parser.HookPrerouting] && !(looped && sent)
	case parser.HookForward:
		return !q[parser.HookPrerouting]
	case parser.HookPostrouting:
		if d.isLocal(&p.Src) {
			return !q[parser.HookOutput]
		}
		return !q[parser.HookPrerouting] && !q[parser.HookForward]
	}
	return true
}
