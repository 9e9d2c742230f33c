package conntrack

import (
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// seg builds a client segment of a connection from port sport carrying
// data at TCP sequence number seq.
func seg(sport uint16, seq uint32, data []byte) *packet.Parsed {
	var p packet.Parsed
	p.Decode(pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 6, Sport: sport, Dport: 443,
		TCPFlags: 0x18, Seq: seq, Payload: data}))
	return &p
}

// TestAssembleHTTPHost: a request whose long request line pushes the Host
// header into the second segment names the connection when it arrives; a
// head that ends without a Host, or one whose Host is in the first
// segment, holds nothing.
func TestAssembleHTTPHost(t *testing.T) {
	tb, _ := newTable(t, Config{})
	req := []byte("GET /" + strings.Repeat("a", 1500) + " HTTP/1.1\r\nHost: late.example:8080\r\nAccept: */*\r\n\r\n")
	a, b := req[:1000], req[1000:]
	established(tb, 40010)
	if r := feed(tb, seg(40010, 100, a)); r.Names[NameHost] != nil || pendingNames(tb) != 1 {
		t.Fatalf("first segment: name %q, %d pending", r.Names[NameHost], pendingNames(tb))
	}
	if r := feed(tb, seg(40010, 1100, b)); string(r.Names[NameHost]) != "late.example" || pendingNames(tb) != 0 {
		t.Fatalf("completing segment: name %q, %d pending", r.Names[NameHost], pendingNames(tb))
	}
	// No Host at all: the blank line ends the attempt without a name.
	established(tb, 40011)
	noHost := []byte("GET /" + strings.Repeat("b", 1500) + " HTTP/1.0\r\nAccept: */*\r\n\r\n")
	feed(tb, seg(40011, 100, noHost[:1000]))
	if r := feed(tb, seg(40011, 1100, noHost[1000:])); r.Names[NameHost] != nil || pendingNames(tb) != 0 {
		t.Fatalf("no Host: name %q, %d pending", r.Names[NameHost], pendingNames(tb))
	}
	// The Host in the first segment: nothing held (LearnNames names it).
	established(tb, 40012)
	feed(tb, seg(40012, 100, []byte("GET / HTTP/1.1\r\nHost: early.example\r\n")))
	if n := pendingNames(tb); n != 0 {
		t.Fatalf("%d pending for a request that names itself", n)
	}
}

// established tracks a handshake from sport.
func established(tb *Table, sport uint16) {
	for _, o := range []pktgen.Opts{
		{Src: cli, Dst: srv, Proto: 6, Sport: sport, Dport: 443, TCPFlags: 0x02, Seq: 99},
		{Src: srv, Dst: cli, Proto: 6, Sport: 443, Dport: sport, TCPFlags: 0x12, Ack: 100},
		{Src: cli, Dst: srv, Proto: 6, Sport: sport, Dport: 443, TCPFlags: 0x10, Seq: 100},
	} {
		var p packet.Parsed
		p.Decode(pktgen.Build(o))
		var r Result
		tb.Track(&p, &r)
	}
}

// feed tracks p and hands it to AssembleNames, as the daemon does.
func feed(tb *Table, p *packet.Parsed) Result {
	var r Result
	tb.Track(p, &r)
	tb.AssembleNames(p, &r, 1<<NameSNI|1<<NameHost)
	return r
}

// TestAssembleHello: a ClientHello whose server name lies in its second
// segment names the connection when that segment arrives, for this and
// every later packet; retransmissions and the other direction do not
// disturb it; a gap abandons it; whole ClientHellos are left to the usual
// path; the number of reassemblies is bounded.
func TestAssembleHello(t *testing.T) {
	tb, _ := newTable(t, Config{})
	ch := pktgen.ClientHelloPadded("late.example", 1500)
	a, b := ch[:1000], ch[1000:]
	established(tb, 40001)
	if r := feed(tb, seg(40001, 100, a)); r.Names[NameSNI] != nil {
		t.Fatalf("named by the first segment: %q", r.Names[NameSNI])
	}
	feed(tb, seg(40001, 100, a)) // a retransmission
	var rep packet.Parsed
	rep.Decode(pktgen.Build(pktgen.Opts{Src: srv, Dst: cli, Proto: 6, Sport: 443, Dport: 40001, TCPFlags: 0x10, Seq: 1, Payload: []byte("x")}))
	feed(tb, &rep) // the other direction
	if r := feed(tb, seg(40001, 1100, b)); string(r.Names[NameSNI]) != "late.example" {
		t.Fatalf("completing segment: name %q", r.Names[NameSNI])
	}
	if r := feed(tb, seg(40001, 100+uint32(len(ch)), []byte("data"))); string(r.Names[NameSNI]) != "late.example" {
		t.Fatalf("later packet: name %q", r.Names[NameSNI])
	}

	// A gap: the name is never learnt.
	established(tb, 40002)
	feed(tb, seg(40002, 100, a))
	feed(tb, seg(40002, 1200, b[100:]))
	if r := feed(tb, seg(40002, 1100, b)); r.Names[NameSNI] != nil {
		t.Fatalf("a gap still named the flow %q", r.Names[NameSNI])
	}
	if tb.Stats().NamesAbandoned != 1 {
		t.Fatalf("abandoned %d, want 1", tb.Stats().NamesAbandoned)
	}

	// A whole ClientHello is not held: the usual path (LearnNames) names it.
	established(tb, 40003)
	feed(tb, seg(40003, 100, pktgen.ClientHello("small.example")))
	if n := pendingNames(tb); n != 0 {
		t.Fatalf("%d reassemblies pending after whole hellos", n)
	}

	// Bounded: past maxPendingPerShard in a shard, new ones are refused
	// until the old ones expire; an entry that leaves takes its own along.
	tb2, clk2 := newTable(t, Config{})
	for port := uint16(41000); port < 43000; port++ {
		established(tb2, port)
		feed(tb2, seg(port, 100, a))
	}
	started := pendingNames(tb2)
	if started > numShards*maxPendingPerShard || tb2.Stats().NamesAbandoned == 0 {
		t.Fatalf("%d reassemblies pending (bound %d), %d refused", started, numShards*maxPendingPerShard, tb2.Stats().NamesAbandoned)
	}
	clk2.t += int64(pendingTTL) + int64(time.Second)
	established(tb2, 43001)
	r := feed(tb2, seg(43001, 100, a))
	s := tb2.shardOf(&r.Key)
	s.mu.Lock()
	_, ok := s.pending[r.Key]
	s.mu.Unlock()
	if !ok {
		t.Fatalf("expired reassemblies did not make room")
	}
	tb2.Flush()
	if n := pendingNames(tb2); n != 0 {
		t.Fatalf("%d reassemblies left after flush", n)
	}
}

func pendingNames(tb *Table) int {
	return sumShards(tb, func(s *shard) int { return len(s.pending) })
}

// FuzzAssembleNames: any sequence of segments (sequence numbers, sizes and
// bytes from the fuzzer, after a ClientHello's first segment) leaves the
// table consistent: no panic, never more than one reassembly for the
// connection and none once it is named, a name of sane length, nothing
// held once the entry is gone.
func FuzzAssembleNames(f *testing.F) {
	ch := pktgen.ClientHelloPadded("f.example", 1500)
	f.Add(uint16(1000), []byte{0, 0, 0, 0}, ch[1000:])
	f.Add(uint16(10), []byte{0, 0, 0, 200}, ch[200:])
	f.Add(uint16(1400), []byte{0xff, 0xff, 0xff, 0xff}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, first uint16, seqs []byte, rest []byte) {
		tb, _ := newTable(t, Config{})
		established(tb, 40000)
		n := int(first)%len(ch) + 1
		r := feed(tb, seg(40000, 100, ch[:n]))
		seq := uint32(100 + n)
		for len(seqs) >= 4 && len(rest) > 0 {
			delta := uint32(seqs[0])<<24 | uint32(seqs[1])<<16 | uint32(seqs[2])<<8 | uint32(seqs[3])
			seqs = seqs[4:]
			k := int(delta%1500) + 1
			k = min(k, len(rest))
			r = feed(tb, seg(40000, seq+delta%3-1, rest[:k]))
			seq += uint32(k)
			rest = rest[k:]
			if p := pendingNames(tb); p > 1 || p == 1 && r.Names[NameSNI] != nil {
				t.Fatalf("%d reassemblies held for one connection (named %q)", p, r.Names[NameSNI])
			}
		}
		if name := r.Names[NameSNI]; name != nil && (len(name) > packet.MaxNameLen || len(name) == 0) {
			t.Fatalf("name of %d bytes", len(name))
		}
		tb.Flush()
		if pendingNames(tb) != 0 {
			t.Fatal("reassembly left after flush")
		}
	})
}
