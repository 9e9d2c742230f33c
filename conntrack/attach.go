package conntrack

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfdproject/nfd/packet"
)

// Own replies. When the kernel rejects a packet (nf_send_reset(),
// nf_send_unreach()) it ties the TCP RST or ICMP error it builds to the
// rejected packet's connection before sending it (nf_ct_attach() →
// nf_conntrack_attach()): the reply carries that conntrack entry with
// ctinfo IP_CT_RELATED_REPLY (the rejected packet went in the original
// direction) or IP_CT_RELATED, and nf_conntrack_in() skips a packet that
// already has an entry. So at every hook the reply takes — output,
// postrouting and, looped back to the host through lo, prerouting and
// input — rules see `ct state related` with the direction opposite to the
// rejected packet's, and the reply changes no connection state (a RST sent
// this way does not close the entry). Checked on Linux 6.18 with `reject
// with tcp reset` and `reject` at output: related, direction reply, at
// output, postrouting, prerouting and input.
//
// nfd sends its replies through a raw socket, so they come back to its
// queues as packets like any other. Attach records each reply before it
// is sent, and Track and Lookup give a packet identical to a recorded
// reply the recorded state, for ownReplyLinger. A reply to a packet that
// had no connection (invalid, untracked) is not recorded: the kernel's
// has none attached either and is tracked as it goes.

const (
	// ownReplySlots is how many replies are remembered at once, indexed by
	// a hash of the reply: a later reply whose hash lands on a slot still
	// in use replaces the earlier one.
	ownReplySlots = 1024
	// ownReplyLinger is how long a reply is recognised after it is sent:
	// long enough to cross every hook, looped back included.
	ownReplyLinger = 2 * time.Second
	// ownKeyL4 is how many bytes of the transport header identify a reply:
	// ports, sequence and acknowledgment numbers and flags of a RST, type,
	// code, checksum (over the quoted packet) and the quote's start of an
	// ICMP error.
	ownKeyL4 = 16
)

// ownKey identifies one reply packet: what no hook of its path changes.
type ownKey struct {
	family, proto uint8
	src, dst      [16]byte
	l4            [ownKeyL4]byte
}

type ownReply struct {
	key     ownKey
	expires int64
	res     Result
}

// ownReplies is the table's record of the replies nfd sent.
type ownReplies struct {
	until atomic.Int64 // latest expiry: none is live after it
	mu    sync.Mutex
	slots [ownReplySlots]ownReply
}

// slot is the index of k's slot (FNV-1a over the addresses and the
// transport bytes).
func (k *ownKey) slot() int {
	h := uint32(2166136261)
	mix := func(b []byte) {
		for _, c := range b {
			h = (h ^ uint32(c)) * 16777619
		}
	}
	mix(k.src[:])
	mix(k.dst[:])
	mix(k.l4[:])
	h = (h ^ uint32(k.proto)) * 16777619
	return int(h % ownReplySlots)
}

// ownKeyOf fills k from p; false for a packet that cannot be an own reply.
func ownKeyOf(p *packet.Parsed, k *ownKey) bool {
	if p.Family == 0 || p.Flags&packet.NonFirstFragment != 0 {
		return false
	}
	switch {
	case p.L4Proto == packet.ProtoTCP && p.HasTransport(packet.TCPMinSize) && p.TCPFlags&packet.TCPRst != 0:
	case p.IsICMPError():
	default:
		return false
	}
	*k = ownKey{family: p.Family, proto: p.L4Proto, src: p.Src, dst: p.Dst}
	copy(k.l4[:], p.Transport())
	return true
}

// Attach records reply, a RST or ICMP error nfd is about to send for a
// rejected packet whose connection Track or Lookup reported as r, so that
// wherever nfd meets reply it is related to that connection, as the
// kernel's nf_ct_attach() makes it. Call it before sending reply.
func (t *Table) Attach(reply []byte, r *Result) {
	if !r.Found || r.State&(StateInvalid|StateUntracked) != 0 {
		return
	}
	var p packet.Parsed
	p.Decode(reply)
	var k ownKey
	if !ownKeyOf(&p, &k) {
		return
	}
	res := *r
	res.State = StateRelated
	res.Dir = DirOriginal
	if r.Dir == DirOriginal {
		res.Dir = DirReply // IP_CT_RELATED_REPLY
	}
	res.Created, res.Dropped, res.NoEntry, res.pending = false, false, false, false
	exp := t.now() + int64(ownReplyLinger)
	o := &t.own
	o.mu.Lock()
	o.slots[k.slot()] = ownReply{key: k, expires: exp, res: res}
	if exp > o.until.Load() {
		o.until.Store(exp)
	}
	o.mu.Unlock()
}

// ownReply fills r and returns true when p is a reply nfd recorded with
// Attach. Packets that cannot be one, and every packet while no reply is
// recent, cost a comparison.
func (t *Table) ownReply(p *packet.Parsed, r *Result) bool {
	o := &t.own
	until := o.until.Load()
	if until == 0 {
		return false
	}
	var k ownKey
	if !ownKeyOf(p, &k) {
		return false
	}
	now := t.now()
	if now >= until {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s := &o.slots[k.slot()]; s.expires > now && s.key == k {
		*r = s.res
		return true
	}
	return false
}
