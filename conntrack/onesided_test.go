package conntrack

import (
	"testing"
	"time"
)

// TestOneSided: with SetOneSided, an original-direction packet whose
// answer depends on the unseen direction is answered from the kernel's
// entry every time (no budget, no once-per-second), and an established
// connection's ordinary packets cost no query.
func TestOneSided(t *testing.T) {
	kernel := map[Tuple]KernelEntry{}
	asked := 0
	resolve := func(tup Tuple) (KernelEntry, bool) {
		asked++
		ke, ok := kernel[tup]
		return ke, ok
	}
	tb, c := newTable(t, Config{Resolve: resolve})
	tb.SetOneSided(true)
	var r Result

	// TCP: the SYN/ACK left through an unqueued output hook.
	tcpTup := TupleOf(6, cli, srv, 40000, 22)
	tb.Track(tcp(true, syn), &r)
	if r.State != StateNew || asked != 0 {
		t.Fatalf("SYN: %+v, asked %d", r, asked)
	}
	kernel[tcpTup] = KernelEntry{Orig: tcpTup, TCPState: uint8(sES), Status: StatusSeenReply | StatusConfirmed, Timeout: time.Hour}
	tb.Track(tcp(true, ack), &r)
	if r.State != StateEstablished || asked != 1 {
		t.Fatalf("handshake ACK: %+v, asked %d (kernel: established)", r, asked)
	}
	for i := 0; i < 100; i++ {
		tb.Track(tcp(true, ack|psh), &r)
	}
	if r.State != StateEstablished || asked != 1 {
		t.Fatalf("data: %+v, asked %d times in all (want no more queries)", r, asked)
	}
	// Teardown: every step asks (the server's FIN is unseen).
	kernel[tcpTup] = KernelEntry{Orig: tcpTup, TCPState: uint8(sFW), Status: StatusSeenReply, Timeout: time.Minute}
	tb.Track(tcp(true, finack), &r)
	kernel[tcpTup] = KernelEntry{Orig: tcpTup, TCPState: uint8(sTW), Status: StatusSeenReply, Timeout: time.Minute}
	tb.Track(tcp(true, ack), &r)
	if r.State != StateEstablished || asked != 3 {
		t.Fatalf("teardown: %+v, asked %d", r, asked)
	}
	// A SYN reopening the tuple: TIME_WAIT (the kernel's state, not the
	// CLOSE_WAIT nfd's one-sided machine would have reached) gives a new
	// connection, as in the kernel.
	delete(kernel, tcpTup)
	tb.Track(tcp(true, syn), &r)
	if r.State != StateNew || !r.Created {
		t.Fatalf("SYN after TIME_WAIT: %+v", r)
	}

	// UDP: the second datagram is established once the kernel saw the
	// answer, new while it has not; asked every time until then.
	udpTup := TupleOf(17, cli6, srv6, 5353, 53)
	tb.Track(udp(true), &r)
	before := asked
	kernel[udpTup] = KernelEntry{Orig: udpTup, Status: StatusConfirmed, Timeout: 30 * time.Second}
	for i := 0; i < 3; i++ {
		c.advance(time.Millisecond)
		tb.Track(udp(true), &r)
		if r.State != StateNew {
			t.Fatalf("unanswered UDP: %+v", r)
		}
	}
	if asked-before != 3 {
		t.Fatalf("unanswered UDP: asked %d times for 3 datagrams", asked-before)
	}
	kernel[udpTup] = KernelEntry{Orig: udpTup, Status: StatusSeenReply | StatusConfirmed, Timeout: 30 * time.Second}
	tb.Track(udp(true), &r)
	tb.Track(udp(true), &r)
	if r.State != StateEstablished || asked-before != 4 {
		t.Fatalf("answered UDP: %+v, asked %d", r, asked-before)
	}

	// ICMP: the second echo request of a ping is established.
	tb.Track(icmpEcho(true), &r)
	icmpTup := TupleOf(1, cli, srv, 77, 0)
	kernel[icmpTup] = KernelEntry{Orig: icmpTup, Status: StatusSeenReply | StatusConfirmed, Timeout: 30 * time.Second}
	tb.Track(icmpEcho(true), &r)
	if r.State != StateEstablished {
		t.Fatalf("second echo request: %+v", r)
	}

	// Off: nfd's own view, no query (the SYN/ACK-less ACK is invalid).
	tb.SetOneSided(false)
	tb.Flush()
	before = asked
	tb.Track(tcp(true, syn), &r)
	tb.Track(tcp(true, ack), &r)
	if r.State != StateInvalid || asked != before {
		t.Fatalf("one-sided off: %+v, asked %d", r, asked-before)
	}
}
