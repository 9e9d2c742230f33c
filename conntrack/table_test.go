package conntrack

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

var (
	cli  = netip.MustParseAddr("10.0.0.1")
	srv  = netip.MustParseAddr("10.0.0.2")
	cli6 = netip.MustParseAddr("2001:db8::1")
	srv6 = netip.MustParseAddr("2001:db8::2")
)

type clock struct{ t int64 }

func (c *clock) now() int64              { return c.t }
func (c *clock) advance(d time.Duration) { c.t += int64(d) }

func newTable(t *testing.T, cfg Config) (*Table, *clock) {
	c := &clock{t: int64(time.Hour)}
	cfg.Now = c.now
	return New(cfg), c
}

// tcp builds a TCP packet; toServer picks the direction.
func tcp(toServer bool, flags uint8) *packet.Parsed {
	o := pktgen.Opts{Src: cli, Dst: srv, Proto: 6, Sport: 40000, Dport: 22, TCPFlags: flags}
	if !toServer {
		o.Src, o.Dst, o.Sport, o.Dport = srv, cli, 22, 40000
	}
	var p packet.Parsed
	p.Decode(pktgen.Build(o))
	return &p
}

func udp(toServer bool) *packet.Parsed {
	o := pktgen.Opts{Src: cli6, Dst: srv6, Proto: 17, Sport: 5353, Dport: 53, Payload: []byte("q")}
	if !toServer {
		o.Src, o.Dst, o.Sport, o.Dport = srv6, cli6, 53, 5353
	}
	var p packet.Parsed
	p.Decode(pktgen.Build(o))
	return &p
}

func icmpEcho(req bool) *packet.Parsed {
	o := pktgen.Opts{Src: cli, Dst: srv, Proto: 1, ICMPType: 8, ICMPID: 77}
	if !req {
		o.Src, o.Dst, o.ICMPType = srv, cli, 0
	}
	var p packet.Parsed
	p.Decode(pktgen.Build(o))
	return &p
}

const (
	syn    = packet.TCPSyn
	ack    = packet.TCPAck
	fin    = packet.TCPFin
	rst    = packet.TCPRst
	synack = packet.TCPSyn | packet.TCPAck
	finack = packet.TCPFin | packet.TCPAck
	psh    = packet.TCPPsh
)

type step struct {
	toServer bool
	flags    uint8
	state    uint32   // expected ct state of the packet
	tcp      TCPState // expected entry state after it (sNO: no entry)
	status   uint32   // status bits that must be set after it
	dir      uint8
}

func runSteps(t *testing.T, tb *Table, steps []step) {
	t.Helper()
	for i, s := range steps {
		p := tcp(s.toServer, s.flags)
		var r, l Result
		tb.Track(p, &r)
		if r.State != s.state {
			t.Fatalf("step %d (flags %#x): state %d, want %d", i, s.flags, r.State, s.state)
		}
		if r.Found && r.Dir != s.dir {
			t.Fatalf("step %d: dir %d, want %d", i, r.Dir, s.dir)
		}
		// A later hook of the same packet sees the same thing.
		tb.Lookup(p, &l)
		if l.State != r.State || l.Dir != r.Dir {
			t.Fatalf("step %d: Lookup says state %d dir %d, Track said %d %d", i, l.State, l.Dir, r.State, r.Dir)
		}
		flows := tb.List()
		if s.tcp == sNO {
			if len(flows) != 0 {
				t.Fatalf("step %d: want no entry, have %s", i, FormatFlow(flows[0]))
			}
			continue
		}
		if len(flows) != 1 || flows[0].TCPState != s.tcp.String() || flows[0].Status&s.status != s.status {
			t.Fatalf("step %d: flows %v, want state %s status %#x", i, flows, s.tcp, s.status)
		}
	}
}

const (
	N  = StateNew
	E  = StateEstablished
	IV = StateInvalid
	o  = DirOriginal
	rp = DirReply
	SR = StatusSeenReply
	AS = StatusAssured
)

func TestTCPLifecycle(t *testing.T) {
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{
		{true, syn, N, sSS, 0, o},
		{true, syn, N, sSS, 0, o},             // retransmitted SYN
		{false, synack, E, sSR, SR, rp},       // standard open
		{false, synack, IV, sSR, SR, rp},      // retransmitted SYN/ACK: ignored, so invalid (tcp_packet's IGNORE case)
		{true, ack, E, sES, SR | AS, o},       // established, assured
		{true, ack | psh, E, sES, SR | AS, o}, // data
		{false, ack, E, sES, SR | AS, rp},
		{true, syn, E, sES, SR | AS, o},    // SYN in ESTABLISHED: ignored
		{true, finack, E, sFW, SR | AS, o}, // close started
		{false, ack, E, sCW, SR | AS, rp},
		{false, finack, E, sLA, SR | AS, rp},
		{true, ack, E, sTW, SR | AS, o},
		{true, ack, E, sTW, SR | AS, o}, // retransmitted last ACK
		{true, syn, N, sSS, 0, o},       // reopened from TIME_WAIT: a new connection
	})
}

func TestTCPInvalid(t *testing.T) {
	cases := []struct {
		name  string
		flags uint8
	}{
		{"syn+fin", syn | fin}, {"bare fin", fin}, {"null", 0}, {"xmas", fin | psh | packet.TCPUrg},
		{"syn+rst", syn | rst}, {"fin+rst", fin | rst | ack}, {"synack first", synack}, {"rst first", rst},
		{"psh only", psh},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb, _ := newTable(t, Config{})
			runSteps(t, tb, []step{{true, c.flags, IV, sNO, 0, o}})
			if tb.Stats().Invalid != 2 { // Track and Lookup each judged it
				if tb.Stats().Invalid != 1 {
					t.Fatalf("invalid counter %d", tb.Stats().Invalid)
				}
			}
		})
	}
	// Invalid transitions on a live connection leave it untouched.
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{
		{true, syn, N, sSS, 0, o},
		{true, ack, IV, sSS, 0, o},    // ACK before any SYN/ACK
		{true, finack, IV, sSS, 0, o}, // FIN in SYN_SENT
		{true, synack, IV, sSS, 0, o}, // client sends SYN/ACK
		{false, syn | fin, IV, sSS, 0, rp},
	})
}

func TestTCPPickupAndLoose(t *testing.T) {
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{
		{true, ack, N, sES, 0, o},       // mid-stream pickup: ct state new, as the kernel says
		{false, ack, E, sES, SR, rp},    // first reply: not yet assured
		{true, ack, E, sES, SR | AS, o}, // then assured
	})
	off := false
	tb2, _ := newTable(t, Config{Loose: &off})
	runSteps(t, tb2, []step{{true, ack, IV, sNO, 0, o}})
}

func TestTCPRefused(t *testing.T) {
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{
		{true, syn, N, sSS, 0, o},
		{false, rst | ack, E, sNO, 0, rp}, // connection refused: the entry dies at once
		{true, syn, N, sSS, 0, o},         // the retry is a new connection
	})
}

func TestTCPSimultaneousOpen(t *testing.T) {
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{
		{true, syn, N, sSS, 0, o},
		{false, syn, E, sS2, SR, rp},
		{true, synack, E, sSR, SR, o},
		{false, synack, IV, sSR, SR, rp}, // the peer's SYN/ACK crossing ours: ignored, invalid
		{true, ack, E, sES, SR | AS, o},
	})
}

func TestTCPRstCloses(t *testing.T) {
	tb, c := newTable(t, Config{})
	runSteps(t, tb, []step{
		{true, syn, N, sSS, 0, o},
		{false, synack, E, sSR, SR, rp},
		{true, ack, E, sES, SR | AS, o},
		{false, rst, E, sCL, SR | AS, rp},
	})
	c.advance(11 * time.Second) // nf_conntrack_tcp_timeout_close is 10 s
	if n := len(tb.List()); n != 0 {
		t.Fatalf("closed entry still listed after its timeout: %d", n)
	}
}

func TestTCPTimeouts(t *testing.T) {
	tb, c := newTable(t, Config{})
	runSteps(t, tb, []step{{true, syn, N, sSS, 0, o}})
	c.advance(119 * time.Second)
	if len(tb.List()) != 1 {
		t.Fatal("SYN_SENT expired before 120 s")
	}
	c.advance(2 * time.Second)
	if len(tb.List()) != 0 {
		t.Fatal("SYN_SENT alive after 120 s")
	}
	// An expired entry is a new connection again.
	runSteps(t, tb, []step{{true, syn, N, sSS, 0, o}, {false, synack, E, sSR, SR, rp}, {true, ack, E, sES, SR | AS, o}})
	c.advance(432000*time.Second - time.Second)
	if f := tb.List(); len(f) != 1 || f[0].Timeout != 1 {
		t.Fatalf("established timeout wrong: %v", f)
	}
	if n := tb.ReapShards(numShards); n != 0 {
		t.Fatalf("reaped %d live entries", n)
	}
	c.advance(2 * time.Second)
	if n := tb.ReapShards(numShards); n != 1 || tb.Len() != 0 {
		t.Fatalf("reaped %d, len %d", n, tb.Len())
	}
}

func TestUDP(t *testing.T) {
	tb, c := newTable(t, Config{})
	var r Result
	tb.Track(udp(true), &r)
	if r.State != N || !r.Created {
		t.Fatalf("first packet: %+v", r)
	}
	if f := tb.List(); len(f) != 1 || f[0].Timeout != 30 || f[0].Status&SR != 0 {
		t.Fatalf("unreplied: %v", f)
	}
	tb.Track(udp(false), &r)
	if r.State != E || r.Dir != rp || r.Status&SR == 0 || r.Status&AS != 0 {
		t.Fatalf("reply: %+v", r)
	}
	tb.Track(udp(true), &r)
	if r.State != E || r.Status&AS != 0 {
		t.Fatalf("within 2 s: %+v", r)
	}
	c.advance(3 * time.Second)
	tb.Track(udp(true), &r)
	if r.Status&AS == 0 {
		t.Fatalf("stream not assured: %+v", r)
	}
	if f := tb.List(); f[0].Timeout != 120 {
		t.Fatalf("stream timeout %d", f[0].Timeout)
	}
	c.advance(121 * time.Second)
	tb.Track(udp(false), &r)
	if !r.Created || r.State != N || r.Dir != o {
		t.Fatalf("after expiry the reply side starts a new flow: %+v", r)
	}
}

func TestICMP(t *testing.T) {
	tb, _ := newTable(t, Config{})
	var r Result
	tb.Track(icmpEcho(false), &r)
	if r.State != IV {
		t.Fatalf("lone echo reply: %+v", r)
	}
	tb.Track(icmpEcho(true), &r)
	if r.State != N {
		t.Fatalf("echo request: %+v", r)
	}
	tb.Track(icmpEcho(false), &r)
	if r.State != E || r.Dir != rp {
		t.Fatalf("echo reply: %+v", r)
	}
	line := FormatFlow(tb.List()[0])
	if !strings.Contains(line, "icmp     1 30 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=77") || !strings.Contains(line, "src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=77") {
		t.Fatalf("format: %s", line)
	}
}

func TestICMPErrorRelated(t *testing.T) {
	tb, _ := newTable(t, Config{})
	req := pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: 5000, Dport: 53})
	var p packet.Parsed
	p.Decode(req)
	var r Result
	tb.Track(&p, &r)
	// The server answers port unreachable, quoting the request.
	var e packet.Parsed
	e.Decode(pktgen.ICMPError(srv, 3, 3, req))
	tb.Track(&e, &r)
	if r.State != StateRelated || r.Dir != rp {
		t.Fatalf("error not related: %+v", r)
	}
	if f := tb.List(); len(f) != 1 || f[0].Status&SR != 0 {
		t.Fatalf("an ICMP error is not a reply: %v", f)
	}
	// An error quoting a flow nobody tracks is invalid.
	other := pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: 6000, Dport: 53})
	e.Decode(pktgen.ICMPError(srv, 3, 3, other))
	tb.Track(&e, &r)
	if r.State != IV {
		t.Fatalf("unknown flow's error: %+v", r)
	}
	if tb.Stats().Related != 1 {
		t.Fatalf("related counter %d", tb.Stats().Related)
	}
}

func TestFullTable(t *testing.T) {
	tb, _ := newTable(t, Config{Max: 4})
	for i := 0; i < 4; i++ {
		p := pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: uint16(1000 + i), Dport: 53})
		var q packet.Parsed
		q.Decode(p)
		var r Result
		tb.Track(&q, &r)
	}
	// A fifth flow evicts an unassured one (early drop).
	var q packet.Parsed
	var r Result
	q.Decode(pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: 2000, Dport: 53}))
	tb.Track(&q, &r)
	if !r.Created || tb.Len() != 4 || tb.Stats().Evictions != 1 {
		t.Fatalf("no early drop: %+v %+v", r, tb.Stats())
	}
	// With every entry assured, nothing can be evicted: the new flow is dropped.
	tb2, _ := newTable(t, Config{Max: 1})
	runSteps(t, tb2, []step{{true, syn, N, sSS, 0, o}, {false, synack, E, sSR, SR, rp}, {true, ack, E, sES, SR | AS, o}})
	q.Decode(pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: 2000, Dport: 53}))
	tb2.Track(&q, &r)
	if !r.Dropped || r.State != IV || tb2.Stats().Drops != 1 || tb2.Len() != 1 {
		t.Fatalf("full table: %+v %+v", r, tb2.Stats())
	}
	// The established flow keeps working.
	runSteps(t, tb2, []step{{true, ack, E, sES, SR | AS, o}})
}

func TestMarkForgetDeleteFlush(t *testing.T) {
	tb, _ := newTable(t, Config{})
	var r Result
	tb.Track(tcp(true, syn), &r)
	tb.SetMark(r.Key, 0x42)
	tb.Track(tcp(false, synack), &r)
	if r.Mark != 0x42 {
		t.Fatalf("mark %#x", r.Mark)
	}
	tb.Forget(r.Key) // two packets seen: not forgotten
	if tb.Len() != 1 {
		t.Fatal("forgot a confirmed connection")
	}
	if !tb.Delete(TupleOf(6, srv, cli, 22, 40000)) || tb.Len() != 0 {
		t.Fatal("delete by reply tuple failed")
	}
	tb.Track(tcp(true, syn), &r)
	tb.Forget(r.Key)
	if tb.Len() != 0 {
		t.Fatal("first packet dropped but entry kept")
	}
	tb.Track(tcp(true, syn), &r)
	tb.Track(udp(true), &r)
	tb.Flush()
	if tb.Len() != 0 || len(tb.List()) != 0 {
		t.Fatal("flush")
	}
}

func TestFormatFlow(t *testing.T) {
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{{true, syn, N, sSS, 0, o}, {false, synack, E, sSR, SR, rp}, {true, ack, E, sES, SR | AS, o}})
	got := FormatFlow(tb.List()[0])
	want := "ipv4     2 tcp      6 432000 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=22 packets=2 bytes=80 src=10.0.0.2 dst=10.0.0.1 sport=22 dport=40000 packets=1 bytes=40 [ASSURED] mark=0 use=1"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTrackAllocs(t *testing.T) {
	tb, _ := newTable(t, Config{})
	runSteps(t, tb, []step{{true, syn, N, sSS, 0, o}, {false, synack, E, sSR, SR, rp}, {true, ack, E, sES, SR | AS, o}})
	p := tcp(true, ack)
	var r Result
	if n := testing.AllocsPerRun(1000, func() { tb.Track(p, &r) }); n != 0 {
		t.Fatalf("Track of an existing flow allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { tb.Lookup(p, &r) }); n != 0 {
		t.Fatalf("Lookup allocates %v times", n)
	}
}

// TestConcurrent runs inserts, lookups, marks and reaping from several
// goroutines at once; run it with -race.
func TestConcurrent(t *testing.T) {
	tb := New(Config{Max: 5000})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go tb.RunReaper(stop, 50*time.Millisecond)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var p packet.Parsed
			var r Result
			for i := 0; i < 3000; i++ {
				toServer := i%2 == 0
				o := pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: uint16(g*10000 + i%500), Dport: 53}
				if !toServer {
					o.Src, o.Dst, o.Sport, o.Dport = srv, cli, 53, o.Sport
				}
				p.Decode(pktgen.Build(o))
				tb.Track(&p, &r)
				tb.Lookup(&p, &r)
				if r.Found {
					tb.SetMark(r.Key, uint32(i))
				}
				if i%1000 == 0 {
					tb.List()
					tb.ReapShards(3)
				}
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	if n := int64(len(tb.List())); n != tb.Len() || n > 5000 {
		t.Fatalf("count %d, listed %d", tb.Len(), n)
	}
}

// TestImportFromKernel: a flow whose first packets took a hook nfd does
// not queue is taken over from the kernel's table, not started anew.
func TestImportFromKernel(t *testing.T) {
	asked := 0
	resolve := func(tup Tuple) (KernelEntry, bool) {
		asked++
		if tup.Proto != 6 {
			return KernelEntry{}, false
		}
		return KernelEntry{Orig: TupleOf(6, cli, srv, 40000, 22), TCPState: uint8(sSR), Status: StatusSeenReply, Timeout: 60 * time.Second}, true
	}
	c := &clock{t: int64(time.Hour)}
	tb := New(Config{Resolve: resolve, Now: c.now})
	var r Result
	// The server's SYN/ACK is the first packet nfd sees: established, reply.
	tb.Track(tcp(false, synack), &r)
	if r.State != E || r.Dir != rp || !r.Found || tb.Stats().Imported != 1 {
		t.Fatalf("imported SYN/ACK: %+v %+v", r, tb.Stats())
	}
	tb.Track(tcp(true, ack), &r)
	if r.State != E || r.Dir != o || r.Status&AS == 0 {
		t.Fatalf("next packet: %+v", r)
	}
	if asked != 1 {
		t.Fatalf("kernel asked %d times", asked)
	}
	// Nothing in the kernel: a new flow as usual.
	tb.Track(udp(true), &r)
	if r.State != N || !r.Created || asked != 2 {
		t.Fatalf("unknown to the kernel: %+v", r)
	}
}

func TestNeighbourDiscoveryUntracked(t *testing.T) {
	tb, _ := newTable(t, Config{})
	var p packet.Parsed
	p.Decode(pktgen.Build(pktgen.Opts{Src: cli6, Dst: srv6, Proto: 58, ICMPType: 135}))
	var r Result
	tb.Track(&p, &r)
	if r.State != StateUntracked || r.Found {
		t.Fatalf("neighbour solicitation: %+v", r)
	}
	tb.Lookup(&p, &r)
	if r.State != StateUntracked {
		t.Fatalf("lookup: %+v", r)
	}
}

// TestConfirmedAfterFirstPacket: the packet that creates an entry sees it
// unconfirmed, at its first hook (Track) and later ones (Lookup); the next
// packet sees it confirmed, as nf_conntrack_confirm() has run in between.
// The first packet against the kernel: rules.TestMeaningNewConnStatus.
func TestConfirmedAfterFirstPacket(t *testing.T) {
	tb, _ := newTable(t, Config{})
	pk := func(src, dst netip.Addr, sp, dp uint16) *packet.Parsed {
		var p packet.Parsed
		p.Decode(pktgen.Build(pktgen.Opts{Src: src, Dst: dst, Proto: 17, Sport: sp, Dport: dp, Payload: []byte("x")}))
		return &p
	}
	var r Result
	tb.Track(pk(cli, srv, 1000, 53), &r)
	if r.State != StateNew || r.Status&StatusConfirmed != 0 {
		t.Fatalf("first packet: state %d status %#x", r.State, r.Status)
	}
	tb.Lookup(pk(cli, srv, 1000, 53), &r)
	if r.Status&StatusConfirmed != 0 {
		t.Fatalf("first packet at a later hook: status %#x", r.Status)
	}
	tb.Track(pk(srv, cli, 53, 1000), &r)
	if r.State != StateEstablished || r.Status&StatusConfirmed == 0 {
		t.Fatalf("reply: state %d status %#x", r.State, r.Status)
	}
	tb.Track(pk(cli, srv, 1000, 53), &r)
	if r.Status&StatusConfirmed == 0 {
		t.Fatalf("third packet: status %#x", r.Status)
	}
}
