package conntrack

import (
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// decoded decodes b into a fresh packet.
func decoded(b []byte) *packet.Parsed {
	var p packet.Parsed
	p.Decode(b)
	return &p
}

// A RST nfd sends for a rejected SYN is related to the SYN's connection,
// direction reply, at every hook it meets (Track at the first, Lookup at
// later ones), as the kernel's nf_ct_attach() makes it; the same RST not
// sent by nfd is a stray (invalid), and so is nfd's once it is old.
func TestAttachRejectedSyn(t *testing.T) {
	tb, clk := newTable(t, Config{})
	s := tcp(true, syn)
	var r Result
	tb.Track(s, &r)
	if r.State != StateNew || !r.Found {
		t.Fatalf("SYN: %+v", r)
	}
	rstBytes := packet.BuildReset(s)
	tb.Attach(rstBytes, &r)
	tb.Forget(r.Key) // the rejected SYN is dropped: its entry dies
	rst := decoded(rstBytes)
	for i, f := range []func(*packet.Parsed, *Result){tb.Track, tb.Lookup, tb.Track} {
		var got Result
		f(rst, &got)
		if got.State != StateRelated || got.Dir != DirReply || !got.Found {
			t.Fatalf("hook %d: nfd's RST is %+v, want related, reply", i, got)
		}
	}
	if tb.Len() != 0 {
		t.Fatalf("the RST created or kept %d entries", tb.Len())
	}
	clk.advance(ownReplyLinger)
	var got Result
	tb.Track(rst, &got)
	if got.State != StateInvalid {
		t.Fatalf("an old RST is %+v, want invalid", got)
	}
	// The same RST for another SYN, never attached: invalid.
	other := tcp(true, syn)
	other.Sport = 40001
	tb.Track(decoded(packet.BuildReset(other)), &got)
	if got.State != StateInvalid {
		t.Fatalf("a stray RST is %+v, want invalid", got)
	}
}

// A RST nfd sends into an established connection (a rejected request)
// leaves the connection as it was: the kernel's attached RST skips the
// TCP state machine.
func TestAttachKeepsState(t *testing.T) {
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{{true, syn, N, sSS, 0, o}, {false, synack, E, sSR, SR, rp}, {true, ack, E, sES, SR | AS, o}})
	// The server's answer is rejected: the RST goes to the server, in the
	// original direction.
	var r Result
	ans := tcp(false, ack|psh)
	tb.Track(ans, &r)
	tb.Attach(packet.BuildReset(ans), &r)
	var got Result
	tb.Track(decoded(packet.BuildReset(ans)), &got)
	if got.State != StateRelated || got.Dir != DirOriginal {
		t.Fatalf("RST for a reply: %+v, want related, original", got)
	}
	e, _ := tb.peek(r.Key)
	if e.tcpState != sES {
		t.Fatalf("the RST moved the connection to %v", e.tcpState)
	}
}

// An ICMP error nfd sends for a rejected first datagram is related,
// direction reply, although the datagram's entry died with it.
func TestAttachUnreach(t *testing.T) {
	tb, _ := newTable(t, Config{})
	q := udp(true)
	var r Result
	tb.Track(q, &r)
	errBytes := packet.BuildUnreach(q, 4)
	tb.Attach(errBytes, &r)
	tb.Forget(r.Key)
	var got Result
	tb.Lookup(decoded(errBytes), &got)
	if got.State != StateRelated || got.Dir != DirReply {
		t.Fatalf("nfd's ICMPv6 error: %+v, want related, reply", got)
	}
	// The kernel's own error about the same datagram, built elsewhere,
	// finds no connection.
	tb.Track(decoded(pktgen.ICMPError(srv6, 1, 3, q.Bytes())), &got)
	if got.State != StateInvalid {
		t.Fatalf("another ICMP error: %+v, want invalid", got)
	}
}

// A reject of a packet without a connection attaches nothing (the
// kernel's nf_ct_attach() has no entry to give): its RST is tracked.
func TestAttachInvalid(t *testing.T) {
	tb, _ := newTable(t, Config{})
	a := tcp(true, ack|fin|syn) // bad flags: invalid
	var r Result
	tb.Track(a, &r)
	if r.State != StateInvalid {
		t.Fatalf("%+v", r)
	}
	tb.Attach(packet.BuildReset(a), &r)
	if tb.own.until.Load() != 0 {
		t.Fatal("a reply to an invalid packet was recorded")
	}
}

// Track and Lookup of ordinary packets and of recorded replies allocate
// nothing, while replies are recent.
func TestAttachAllocs(t *testing.T) {
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{{true, syn, N, sSS, 0, o}, {false, synack, E, sSR, SR, rp}, {true, ack, E, sES, SR | AS, o}})
	s := tcp(true, syn)
	s.Sport = 41000
	var r Result
	tb.Track(s, &r)
	b := packet.BuildReset(s)
	tb.Attach(b, &r)
	rst, p := decoded(b), tcp(true, ack)
	for name, f := range map[string]func(){
		"Track": func() { tb.Track(p, &r) }, "Lookup": func() { tb.Lookup(p, &r) },
		"Track own RST": func() { tb.Track(rst, &r) }, "Lookup own RST": func() { tb.Lookup(rst, &r) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
	// The loop ran its functions in map order: look the reset up last.
	tb.Lookup(rst, &r)
	if r.State != StateRelated {
		t.Fatalf("own RST: %+v", r)
	}
}
