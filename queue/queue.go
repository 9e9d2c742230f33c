package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Verdicts (NF_DROP, NF_ACCEPT, NF_REPEAT in
// include/uapi/linux/netfilter.h). NF_REPEAT makes nf_reinject() run the
// same hook entry again, from its base chain's first rule, with the
// verdict's mark: how nfd hands a packet back to the kernel at a
// continuation point.
const (
	Drop   = 0
	Accept = 1
	Repeat = 4
)

// NFQA_SKB_INFO flags (nfqnl_put_packet_info()).
const (
	SkbCsumNotReady    = 0x1 // CHECKSUM_PARTIAL: not computed yet
	SkbCsumNotVerified = 0x4 // CHECKSUM_NONE: nobody verified it
)

// Reader implementations (Config.Impl). nfd reads each queue on one
// goroutine, which owns the decoded packet, so a packet costs no
// allocation:
//   - "nfd" (default): nfq.go, buffers reused, recvmmsg, batched accept
//     verdicts flushed after every receive batch and whenever a drop,
//     reject or mark must be sent;
//   - "go-nfqueue": github.com/florianl/go-nfqueue/v2's receive path, one
//     verdict per packet (kept as the reference and a fallback).
const (
	ImplNfd       = "nfd"
	ImplGoNfqueue = "go-nfqueue"
)

// ErrClosed is returned by Receive once a reader has nothing more to give.
var ErrClosed = errors.New("queue reader closed")

// Packet is one queued packet. Payload points into the reader's buffer:
// it is valid only until the callback that received it returns.
type Packet struct {
	ID      uint32
	Hook    uint8
	Payload []byte
	CapLen  uint32 // original length when truncated, else 0
	Mark    uint32
	InDev   uint32
	OutDev  uint32
	// The attributes the kernel sent: no mark, no input or no output
	// interface are different from zero.
	HasMark, HasInDev, HasOutDev bool
	// SkbInfo is NFQA_SKB_INFO (sent with NFQA_CFG_F_GSO), 0 when absent.
	SkbInfo uint32
}

// Verdict is the answer to one packet: Accept or Drop, and a new packet
// mark when SetMark.
type Verdict struct {
	Verdict uint32
	Mark    uint32
	SetMark bool
}

// Reader is the receive side of one queue. One goroutine owns it: it
// receives, answers and closes.
type Reader interface {
	// Receive waits a bounded time for a batch of packets and calls fn
	// for each, in order; an empty batch is no error.
	Receive(fn func(p *Packet)) error
	// Verdict answers packet id. A plain accept may be held back until
	// Flush, so that one message answers many packets.
	Verdict(id uint32, v Verdict) error
	// Flush sends verdicts held back.
	Flush() error
	// Close unbinds the queue.
	Close()
}

// Config says how to bind a queue.
type Config struct {
	Impl     string // ImplNfd (default) or ImplGoNfqueue
	Num      uint16
	CopyLen  uint32 // bytes of each packet copied to userspace
	MaxLen   uint32 // kernel queue length
	FailOpen bool   // accept packets the full queue cannot take
	RcvBuf   int    // socket receive buffer
	// BusyPoll keeps the reader polling this long after a batch before it
	// sleeps (ImplNfd only).
	BusyPoll time.Duration
}

// Open binds queue cfg.Num.
func Open(cfg Config) (Reader, error) {
	flags := uint32(cfgFlagGSO)
	if cfg.FailOpen {
		flags |= cfgFlagFailOpen
	}
	switch cfg.Impl {
	case ImplGoNfqueue:
		return openGoNfqueue(cfg, flags)
	case ImplNfd, "":
		q, err := openNFQ(cfg.Num, cfg.CopyLen, cfg.MaxLen, flags, cfg.RcvBuf)
		if err != nil {
			return nil, err
		}
		q.busyPoll = cfg.BusyPoll
		return q, nil
	}
	return nil, fmt.Errorf("unknown queue reader %q", cfg.Impl)
}

// Overrun reports whether err says the socket overflowed (ENOBUFS):
// packets were lost, which the caller counts but need not log.
func Overrun(err error) bool { return errors.Is(err, unix.ENOBUFS) }

// Serve runs r until ctx ends or r is closed, then closes it: each packet
// of a batch is answered with decide's verdict, and held-back verdicts
// are flushed after every batch, which bounds their wait. Receive and
// verdict errors go to onErr (nil: ignored); a receive error other than
// an overrun pauses the loop briefly.
func Serve(ctx context.Context, r Reader, decide func(p *Packet) Verdict, onErr func(receive bool, err error)) {
	defer r.Close()
	if onErr == nil {
		onErr = func(bool, error) {}
	}
	handle := func(p *Packet) { // one closure, not one per batch
		if err := r.Verdict(p.ID, decide(p)); err != nil {
			onErr(false, err)
		}
	}
	for ctx.Err() == nil {
		if err := r.Receive(handle); err != nil {
			if errors.Is(err, ErrClosed) {
				return
			}
			onErr(true, err)
			if !Overrun(err) {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		if err := r.Flush(); err != nil {
			onErr(false, err)
		}
	}
}
