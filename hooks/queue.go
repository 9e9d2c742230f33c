package hooks

import (
	"context"
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
// needs payload: IPv4 or IPv6 with extension headers and TCP with options.
const headerCopy = 256

// queueReader reads one NFQUEUE queue. go-nfqueue runs one goroutine per
// queue that calls handle for every packet; that goroutine owns p, c and
// ctr, so decoding and evaluation reuse them and allocate nothing.
type queueReader struct {
	d      *Daemon
	num    uint16
	nf     *nfqueue.Nfqueue
	cancel context.CancelFunc

	p   packet.Parsed
	c   rules.Ctx
	ctr conntrack.Result

	packets atomic.Uint64
}

func (d *Daemon) openQueue(num uint16, failOpen, payload bool) (*queueReader, error) {
	flags := uint32(nfqueue.NfQaCfgFlagGSO)
	if failOpen {
		// Queue overflow follows the chain's policy: accept-policy chains
		// fail open, drop-policy chains fail closed.
		flags |= nfqueue.NfQaCfgFlagFailOpen
	}
	copyLen := uint32(headerCopy)
	if payload {
		copyLen = 0xffff
	}
	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      num,
		MaxPacketLen: copyLen,
		MaxQueueLen:  d.cfg.QueueLen,
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        flags,
	})
	if err != nil {
		return nil, err
	}
	_ = nf.SetOption(netlink.NoENOBUFS, true)
	_ = nf.Con.SetReadBuffer(int(d.cfg.QueueLen) * 2048)
	ctx, cancel := context.WithCancel(d.ctx)
	q := &queueReader{d: d, num: num, nf: nf, cancel: cancel}
	err = nf.RegisterWithErrorFunc(ctx, q.handle, func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var opErr *netlink.OpError
		if errors.As(err, &opErr) && errors.Is(opErr.Err, unix.ENOBUFS) {
			d.Stats.Errors.Add(1)
			return 0
		}
		d.Stats.Errors.Add(1)
		d.log.Warn("queue receive error", "queue", num, "err", err)
		return 0
	})
	if err != nil {
		cancel()
		nf.Close()
		return nil, err
	}
	return q, nil
}

func (q *queueReader) close() {
	q.cancel()
	q.nf.Close()
}

// handle decides one packet. It runs on the queue's goroutine.
func (q *queueReader) handle(a nfqueue.Attribute) int {
	if a.PacketID == nil {
		return 0
	}
	id := *a.PacketID
	d := q.d
	var t0 time.Time
	if d.cfg.Observer != nil {
		t0 = time.Now()
	}
	st := d.st.Load()
	cs := st.byQueue[q.num]
	if cs == nil || a.Payload == nil {
		q.verdict(id, nfqueue.NfAccept)
		return 0
	}
	payload := *a.Payload
	wire := len(payload)
	if a.CapLen != nil && int(*a.CapLen) > wire {
		wire = int(*a.CapLen)
	}
	p := &q.p
	p.DecodeCaptured(payload, wire)
	hook := cs.base.Hook
	c := &q.c
	c.Reset(p, hook)
	if a.InDev != nil {
		if n, ok := d.ifn.name(*a.InDev); ok {
			c.SetIif(n)
		}
	}
	if a.OutDev != nil {
		if n, ok := d.ifn.name(*a.OutDev); ok {
			c.SetOif(n)
		}
	}
	if a.Mark != nil {
		c.Mark = *a.Mark
	}
	// Connection tracking happens once per packet, at the first hook of
	// its path where nfd queues it (nf_conntrack_in() runs at prerouting
	// and output; nfd tracks where it first sees the packet); later hooks
	// and later chains at the same hook only look up.
	fi := 0
	if p.Family == 6 {
		fi = 1
	}
	ctr := &q.ctr
	if cs.first[fi] && d.firstSight(st, fi, hook, p) {
		d.ct.Track(p, ctr)
	} else {
		d.ct.Lookup(p, ctr)
	}
	c.CT = *ctr
	c.CtMark = ctr.Mark
	dec := st.eng.EvalBase(c, cs.base)
	if c.CtMarkChanged && ctr.Found {
		d.ct.SetMark(ctr.Key, c.CtMark)
	}
	switch dec.Verdict {
	case rules.Accept:
		if c.MarkChanged {
			if err := q.nf.SetVerdictWithMark(id, nfqueue.NfAccept, int(c.Mark)); err != nil {
				d.Stats.Verdict.Add(1)
			}
		} else {
			q.verdict(id, nfqueue.NfAccept)
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
		q.verdict(id, nfqueue.NfDrop)
		if d.log.Enabled(context.Background(), slog.LevelDebug) {
			d.log.Debug("drop", "hook", hook.String(), "chain", cs.kc.Chain, "ct", ctr.State, "len", wire, "cap", len(payload),
				"flags", p.Flags, "l4len", p.L4Len, "sport", p.Sport, "dport", p.Dport, "tcpflags", p.TCPFlags)
		}
	}
	d.Stats.Packets[fi][hook][dec.Verdict].Add(1)
	d.Stats.Bytes[fi][hook].Add(uint64(wire))
	q.packets.Add(1)
	if d.cfg.Observer != nil {
		d.cfg.Observer.ObserveVerdict(hook, time.Since(t0))
	}
	return 0
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

func (q *queueReader) verdict(id uint32, v int) {
	if err := q.nf.SetVerdict(id, v); err != nil {
		q.d.Stats.Verdict.Add(1)
	}
}
