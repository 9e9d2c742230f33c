package conntrack

import (
	"time"

	"github.com/nfdproject/nfd/packet"
)

// Resync. nfd tracks what reaches its queues, and with offload some of a
// connection's packets never do: a native `ct direction reply accept` in
// front of the queue keeps the replies in the kernel. nfd's entry then
// lacks what only those packets tell (a SYN-ACK, any reply at all), and
// its next original-direction packet would look invalid (an ACK in
// SYN_SENT) or forever new. The kernel's table has seen every packet, and
// has already run nf_conntrack_in() on this one when it reaches nfd's
// hook, so in those two cases Track asks the kernel (the Resolver) and
// adopts its state:
//
//   - a TCP packet nfd's state machine calls invalid, and
//   - an original-direction packet of a connection nfd has seen no reply
//     on, at most once per resyncEvery per connection.
//
// A table-wide budget (resyncPerSecond) bounds the netlink queries a flood
// of such packets can cause; past it nfd goes by its own view, except
// for a client's handshake ACK in SYN_SENT: a client acknowledges only
// after the server's SYN/ACK, so the connection is taken as answered
// rather than every handshake of a burst of new connections being called
// invalid (TestResyncOverBudget).
//
// Resync is off until SetResync turns it on: when nfd sees every packet of
// the connections it tracks, its own view is the one to trust, and the
// kernel's may already be ahead of it (the packets still waiting in the
// queue have passed the kernel's conntrack).
const (
	resyncEvery     = time.Second
	resyncPerSecond = 4096
)

// SetResync says whether some packets of tracked connections may never
// reach nfd (native rules accept them before the queue).
func (t *Table) SetResync(on bool) { t.resyncOn.Store(on) }

func (t *Table) resyncAllowed(now int64) bool {
	sec := now / int64(time.Second)
	if t.stats.resyncWindow.Load() != sec {
		t.stats.resyncWindow.Store(sec)
		t.stats.resyncCount.Store(0)
	}
	return t.stats.resyncCount.Add(1) <= resyncPerSecond
}

// resync asks the kernel about tup, called with s locked (it unlocks
// around the query). When the kernel tracks the connection, the entry
// takes the kernel's state as of after this packet and the packet is
// counted; resync returns the entry, the packet's direction and state, and
// true, and the caller unlocks and fills the result. Otherwise the entry
// only records the attempt and the caller goes on by its own view.
func (t *Table) resync(s *shard, key Tuple, tup Tuple, p *packet.Parsed, now int64) (entry, uint8, uint32, bool) {
	if e, ok := s.m[key]; ok {
		e.synced = now
		s.m[key] = e
	}
	s.mu.Unlock()
	ke, found := t.resolve(tup)
	s.mu.Lock()
	e, ok := s.m[key]
	if !found || !ok {
		return e, 0, 0, false
	}
	e.status |= ke.Status & (StatusSeenReply | StatusAssured)
	if key.Proto == packet.ProtoTCP && ke.TCPState != 0 {
		e.tcpState = TCPState(ke.TCPState)
		if e.tcpState > sS2 {
			e.tcpState = sES
		}
	}
	if ke.Timeout > 0 {
		e.expires = now + int64(ke.Timeout)
	}
	_, swapped := tup.canonical()
	dir, state := dirState(&e, tup, swapped)
	e.pkts[dir]++
	e.bytes[dir] += uint64(p.Len())
	s.m[key] = e
	t.stats.resynced.Add(1)
	return e, dir, state, true
}
