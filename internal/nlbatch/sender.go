package nlbatch

import (
	"errors"
	"fmt"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Sender sends many small transactions over one socket, as Send does
// each on a socket of its own: for a caller on a latency path (the DNS
// reader adding learned addresses), where a socket, a receive buffer and
// a Batch per transaction would cost more than the kernel's commit.
type Sender struct {
	mu  sync.Mutex
	c   *netlink.Conn
	raw interface {
		Control(func(fd uintptr)) error
	}
	rb      []byte
	answers [][]byte
	b       *Batch
}

// NewSender opens the socket in the network namespace netnsFd (0: the
// current one).
func NewSender(netnsFd int) (*Sender, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFd})
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Sender{c: c, raw: raw, rb: make([]byte, 1<<20), b: New()}, nil
}

// Batch returns an empty batch to fill for the next Send (the same one
// each time: build and send one transaction at a time).
func (s *Sender) Batch() *Batch {
	b := s.b
	b.capture()
	b.msgs, b.tags, b.queued, b.err, b.pending = b.msgs[:0], b.tags[:0], 0, nil, b.pending[:0]
	return b
}

// Send commits b as one transaction, like Send.
func (s *Sender) Send(b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs, tags, err := b.Messages()
	if err != nil || len(msgs) == 0 {
		return err
	}
	buf, lastSeq, err := marshalBatch(msgs)
	if err != nil {
		return err
	}
	s.answers = s.answers[:0]
	var serr error
	cerr := s.raw.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			if nl, ok := sa.(*unix.SockaddrNetlink); ok {
				remember(nl.Pid)
			}
		}
		serr = sendAndCollect(int(fd), buf, &s.answers, s.rb)
	})
	if cerr != nil {
		return cerr
	}
	if serr != nil && !errors.Is(serr, unix.ENOBUFS) {
		return serr
	}
	return verdict(s.answers, msgs, tags, lastSeq, serr != nil)
}

// Close closes the socket.
func (s *Sender) Close() error { return s.c.Close() }
