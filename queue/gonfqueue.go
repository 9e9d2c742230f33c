package queue

import (
	"context"
	"encoding/binary"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
)

// goNfqueue adapts github.com/florianl/go-nfqueue/v2 to Reader. Its own
// goroutine reads the socket and hands each packet over a channel (its
// payload is a fresh allocation, so it stays valid); verdicts are sent one
// per packet.
type goNfqueue struct {
	nf     *nfqueue.Nfqueue
	cancel context.CancelFunc
	pkts   chan Packet
	errs   chan error
	timer  *time.Timer
}

func openGoNfqueue(cfg Config, flags uint32) (*goNfqueue, error) {
	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      cfg.Num,
		MaxPacketLen: cfg.CopyLen,
		MaxQueueLen:  cfg.MaxLen,
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        flags,
	})
	if err != nil {
		return nil, err
	}
	_ = nf.SetOption(netlink.NoENOBUFS, true)
	_ = nf.Con.SetReadBuffer(cfg.RcvBuf)
	ctx, cancel := context.WithCancel(context.Background())
	g := &goNfqueue{nf: nf, cancel: cancel, pkts: make(chan Packet, recvBatch), errs: make(chan error, recvBatch),
		timer: time.NewTimer(time.Hour)}
	err = nf.RegisterWithErrorFunc(ctx, func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		p := Packet{ID: *a.PacketID}
		if a.Hook != nil {
			p.Hook = *a.Hook
		}
		if a.Payload != nil {
			p.Payload = *a.Payload
		}
		if a.CapLen != nil {
			p.CapLen = *a.CapLen
		}
		if a.SkbInfo != nil && len(*a.SkbInfo) >= 4 {
			p.SkbInfo = binary.BigEndian.Uint32(*a.SkbInfo)
		}
		if a.Mark != nil {
			p.Mark, p.HasMark = *a.Mark, true
		}
		if a.InDev != nil {
			p.InDev, p.HasInDev = *a.InDev, true
		}
		if a.OutDev != nil {
			p.OutDev, p.HasOutDev = *a.OutDev, true
		}
		select {
		case g.pkts <- p:
		case <-ctx.Done():
			return 1
		}
		return 0
	}, func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		select {
		case g.errs <- err:
		default: // an error storm: the ones already waiting are enough to count
		}
		return 0
	})
	if err != nil {
		cancel()
		nf.Close()
		return nil, err
	}
	return g, nil
}

// Receive waits up to 250 ms (as nfd's reader's SO_RCVTIMEO) for a
// packet, then takes the others already waiting.
func (g *goNfqueue) Receive(fn func(p *Packet)) error {
	g.timer.Reset(250 * time.Millisecond)
	var p Packet
	select {
	case p = <-g.pkts:
	case err := <-g.errs:
		return err
	case <-g.timer.C:
		return nil
	}
	g.timer.Stop()
	fn(&p)
	for i := 1; i < recvBatch; i++ {
		select {
		case p = <-g.pkts:
			fn(&p)
		default:
			return nil
		}
	}
	return nil
}

func (g *goNfqueue) Verdict(id uint32, v Verdict) error {
	if v.SetMark {
		return g.nf.SetVerdictWithMark(id, int(v.Verdict), int(v.Mark))
	}
	return g.nf.SetVerdict(id, int(v.Verdict))
}

// Flush has nothing to do: every verdict was sent.
func (g *goNfqueue) Flush() error { return nil }

func (g *goNfqueue) Close() {
	g.cancel()
	g.nf.Close()
}
