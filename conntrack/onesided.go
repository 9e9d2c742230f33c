package conntrack

import "github.com/nfdproject/nfd/packet"

// One-sided tracking. A ruleset whose queued chains all sit on one side of
// the host (an input chain and no output chain: the most common host
// firewall) shows nfd a local connection's original direction only: the
// host's SYN/ACK, its UDP answer and its echo reply leave through output,
// which nfd does not queue. The kernel's table sees both directions, so
// its `ct state` of the client's next packet is established where nfd's
// own state machine, left alone, would say invalid (an ACK in SYN_SENT) or
// new. Track therefore asks the kernel (the Resolver, over ctnetlink) for
// an original-direction packet whenever the other direction could have
// changed the answer:
//
//   - the connection has seen no reply yet (new or established depends
//     on a packet nfd cannot see), and
//   - TCP, whenever the packet is not an ESTABLISHED-to-ESTABLISHED step:
//     handshake, teardown and anything nfd's state machine calls invalid
//     or ignores depend on the unseen direction's FIN, RST or SYN/ACK.
//
// Once the kernel reports the reply seen, an established connection's
// ordinary packets need no query: SEEN_REPLY never clears, and the
// kernel's destroy events (KernelSync) end nfd's entry with the kernel's.
// A TCP connection costs one query (the handshake ACK) plus its teardown;
// a UDP exchange one (its second datagram); a ping one (its second echo
// request). These queries are not budgeted: when nfd cannot know, it asks.
//
// Known limit: the kernel's entry is read when nfd handles the packet, not
// when the kernel's conntrack handled it. A reply that left while this
// packet waited in the queue (a client's second datagram sent before the
// first one's answer) is already counted; the kernel's own rules would
// have seen the older state.

// SetOneSided says whether some connections' reply directions reach no
// queue of nfd's (the daemon works this out from the hooks it queues).
func (t *Table) SetOneSided(on bool) { t.oneSided.Store(on) }

// mayDiffer reports whether an original-direction packet p moving entry e
// to TCP state next could have a different answer in the kernel, which saw
// the other direction too. A SYN is left to nfd's own view: the kernel's
// entry of a SYN that reopens the tuple is not confirmed yet, so there is
// nothing to read (an echo request, by contrast, belongs to the entry of
// the earlier requests of its ping, which the kernel may have seen
// answered).
func (t *Table) mayDiffer(e *entry, p *packet.Parsed, next TCPState) bool {
	if p.L4Proto == packet.ProtoTCP && startsConn(p) {
		return false
	}
	if e.status&StatusSeenReply == 0 {
		return true
	}
	return p.L4Proto == packet.ProtoTCP && (e.tcpState != sES || next != sES)
}
