package hooks

import (
	"context"
	"errors"
	"sync/atomic"

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
	// Connection tracking: the first chain at prerouting or output tracks,
	// as nf_conntrack_in() runs there; elsewhere the first chain at a hook
	// tracks a packet no earlier hook saw; every other chain looks up.
	fi := 0
	if p.Family == 6 {
		fi = 1
	}
	ctr := &q.ctr
	switch {
	case cs.first[fi] && (hook == parser.HookPrerouting || hook == parser.HookOutput):
		d.ct.Track(p, ctr)
	case cs.first[fi]:
		d.ct.Lookup(p, ctr)
		if ctr.NoEntry {
			d.ct.Track(p, ctr)
		}
	default:
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
	}
	d.Stats.Packets[hook][dec.Verdict].Add(1)
	d.Stats.Bytes[hook].Add(uint64(wire))
	q.packets.Add(1)
	return 0
}

func (q *queueReader) verdict(id uint32, v int) {
	if err := q.nf.SetVerdict(id, v); err != nil {
		q.d.Stats.Verdict.Add(1)
	}
}
