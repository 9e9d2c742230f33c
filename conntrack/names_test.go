package conntrack

import (
	"encoding/binary"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"strings"
	"testing"
	"time"
)

func l7Len(tb *Table) int { return sumShards(tb, func(s *shard) int { return len(s.l7) }) }

// sumShards adds up f over every shard, each under its lock.
func sumShards(tb *Table, f func(*shard) int) int {
	n := 0
	for i := range tb.shards {
		s := &tb.shards[i]
		s.mu.Lock()
		n += f(s)
		s.mu.Unlock()
	}
	return n
}

// TestNames: a connection's first name of each kind stays, both
// directions see it, listing shows it, and every way an entry leaves the
// table takes its names along.
func TestNames(t *testing.T) {
	tb, clk := newTable(t, Config{})
	var r Result
	tb.Track(tcp(true, 0x02), &r)
	key := r.Key
	if !tb.SetName(key, NameSNI, []byte("a.example")) || tb.SetName(key, NameSNI, []byte("b.example")) {
		t.Fatal("first name not stored, or a second one replaced it")
	}
	if tb.SetName(key, 7, []byte("x")) || tb.SetName(key, NameHost, nil) {
		t.Fatal("bad kind or empty name stored")
	}
	tb.Track(tcp(false, 0x12), &r)
	if string(r.Names[NameSNI]) != "a.example" || r.Names[NameHost] != nil {
		t.Fatalf("reply sees %q", r.Names)
	}
	tb.Lookup(tcp(true, 0x10), &r)
	if string(r.Names[NameSNI]) != "a.example" {
		t.Fatalf("lookup sees %q", r.Names)
	}
	if l := FormatFlow(tb.List()[0]); !strings.HasSuffix(l, ` sni="a.example"`) {
		t.Fatalf("list: %s", l)
	}
	if !tb.Delete(key) || l7Len(tb) != 0 {
		t.Fatalf("delete left %d names", l7Len(tb))
	}
	if tb.SetName(key, NameSNI, []byte("a.example")) {
		t.Fatal("name stored for a connection that is gone")
	}

	// Expiry (reaper and lookup-time) and a SYN reopening a closed one.
	tb.Track(tcp(true, 0x02), &r)
	tb.SetName(r.Key, NameSNI, []byte("a.example"))
	clk.advance(time.Hour)
	tb.ReapShards(numShards)
	if tb.Len() != 0 || l7Len(tb) != 0 {
		t.Fatalf("reaped: %d entries, %d names", tb.Len(), l7Len(tb))
	}
	tb.Track(tcp(true, 0x02), &r)
	tb.SetName(r.Key, NameSNI, []byte("a.example"))
	tb.Track(tcp(false, 0x04), &r) // RST before any reply: dying
	clk.advance(3 * time.Second)
	tb.Track(tcp(true, 0x02), &r) // a new connection on the same tuple
	if r.Names[NameSNI] != nil || l7Len(tb) != 0 {
		t.Fatalf("new connection inherited %q (%d names)", r.Names, l7Len(tb))
	}
	tb.SetName(r.Key, NameSNI, []byte("a.example"))
	tb.Flush()
	if l7Len(tb) != 0 {
		t.Fatal("flush kept names")
	}
}

// TestResync: nfd's entry missed the replies (native rules accepted them
// before the queue); the next original-direction packet adopts the
// kernel's state instead of being judged invalid or new, within a bounded
// number of kernel queries.
func TestResync(t *testing.T) {
	kernel := map[Tuple]KernelEntry{}
	asked := 0
	resolve := func(tup Tuple) (KernelEntry, bool) {
		asked++
		ke, ok := kernel[tup]
		return ke, ok
	}
	c := &clock{t: int64(time.Hour)}
	tb := New(Config{Resolve: resolve, Now: c.now})
	tb.SetResync(true)
	var r Result
	tb.Track(tcp(true, 0x02), &r) // SYN: new, unknown to the kernel when asked
	if r.State != StateNew || asked != 0 {
		t.Fatalf("SYN: %+v, asked %d (a SYN starts a connection: nothing to ask)", r, asked)
	}
	// The SYN/ACK went by natively; without the kernel this ACK is invalid.
	tb.Track(tcp(true, 0x10), &r)
	if r.State != StateInvalid || asked != 1 {
		t.Fatalf("ACK, kernel knows nothing: %+v, asked %d", r, asked)
	}
	kernel[TupleOf(6, cli, srv, 40000, 22)] = KernelEntry{Orig: TupleOf(6, cli, srv, 40000, 22), TCPState: uint8(sES),
		Status: StatusSeenReply | StatusAssured, Timeout: 300 * time.Second}
	tb.Track(tcp(true, 0x10), &r)
	if r.State != StateEstablished || r.Dir != DirOriginal || !r.Found || tb.Stats().Resynced != 1 {
		t.Fatalf("ACK after resync: %+v %+v", r, tb.Stats())
	}
	tb.Lookup(tcp(true, 0x18), &r)
	if r.State != StateEstablished {
		t.Fatalf("lookup after resync: %+v", r)
	}
	// Seen a reply now: no more questions.
	before := asked
	for i := 0; i < 10; i++ {
		c.advance(2 * time.Second)
		tb.Track(tcp(true, 0x10), &r)
	}
	if asked != before {
		t.Fatalf("asked %d more times about an established connection", asked-before)
	}

	// A UDP flow whose replies nfd never sees is asked about at most once
	// per resyncEvery, and becomes established when the kernel says so.
	tb.Track(udp(true), &r)
	before = asked
	for i := 0; i < 100; i++ {
		c.advance(10 * time.Millisecond)
		tb.Track(udp(true), &r)
	}
	if asked-before != 1 || r.State != StateNew {
		t.Fatalf("unreplied UDP: asked %d times in 1 s, state %d", asked-before, r.State)
	}
	kernel[TupleOf(17, cli6, srv6, 5353, 53)] = KernelEntry{Orig: TupleOf(17, cli6, srv6, 5353, 53), Status: StatusSeenReply, Timeout: 120 * time.Second}
	c.advance(time.Second)
	tb.Track(udp(true), &r)
	if r.State != StateEstablished {
		t.Fatalf("UDP after resync: %+v (kernel has %v)", r, kernel)
	}

	// The table-wide budget bounds a flood of invalid packets.
	asked = 0
	for i := 0; i < 2*resyncPerSecond; i++ {
		tb.Track(tcp(true, 0x02), &r) // reopen attempts on an established flow: resync-free
		tb.Track(tcp(true, 0x12), &r) // a SYN/ACK from the client: invalid in ESTABLISHED, a question each
	}
	if asked == 0 || asked > resyncPerSecond {
		t.Fatalf("a flood of invalid packets caused %d kernel queries in one second (budget %d)", asked, resyncPerSecond)
	}
}

// TestKernelValidity: what nf_conntrack calls invalid besides the TCP
// state table: packets ignored in a state (only a SYN in the original
// direction passes), a SYN/ACK answering an ignored SYN resyncs, UDP
// lengths (udp_error()), SCTP shorter than its header (sctp_error()), and
// a bad checksum the caller found.
func TestKernelValidity(t *testing.T) {
	tb, _ := newTable(t, Config{})
	var r Result
	for i, st := range []struct {
		toServer bool
		flags    uint8
		want     uint32
	}{
		{true, syn, StateNew}, {false, synack, StateEstablished}, {true, ack, StateEstablished},
		{false, synack, StateInvalid},     // SYN/ACK in ESTABLISHED: ignored, so invalid
		{true, syn, StateEstablished},     // SYN in ESTABLISHED: ignored but let through
		{false, synack, StateEstablished}, // answers it: back in sync (SYN_RECV)
		{true, ack, StateEstablished},
	} {
		tb.Track(tcp(st.toServer, st.flags), &r)
		if r.State != st.want {
			t.Fatalf("step %d (flags %#x): state %d, want %d", i, st.flags, r.State, st.want)
		}
	}
	udpLen := func(n uint16) *packet.Parsed {
		b := pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: 1, Dport: 2, Payload: []byte("abcd")})
		binary.BigEndian.PutUint16(b[20+4:], n)
		var p packet.Parsed
		p.Decode(b)
		return &p
	}
	for n, want := range map[uint16]uint32{12: StateNew, 7: StateInvalid, 13: StateInvalid, 8: StateNew} {
		tb := New(Config{})
		tb.Track(udpLen(n), &r)
		if r.State != want {
			t.Errorf("UDP length %d in a 12-byte datagram: state %d, want %d", n, r.State, want)
		}
	}
	var p packet.Parsed
	p.Decode(pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: packet.ProtoSCTP, Payload: make([]byte, 3)})) // 8 + 3 bytes
	if tb.Track(&p, &r); r.State != StateInvalid {
		t.Errorf("11-byte SCTP: state %d", r.State)
	}
	p.Decode(pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: 9, Dport: 9}))
	p.Flags |= packet.BadChecksum
	if tb.Track(&p, &r); r.State != StateInvalid {
		t.Errorf("bad checksum: state %d", r.State)
	}
}

// TestResyncOverBudget: when native rules hide replies and the second's
// kernel queries are spent, a client's handshake ACK is taken as answered
// (the client saw the SYN/ACK) instead of invalid; other packets the state
// table refuses stay invalid, and without hidden replies nothing changes.
func TestResyncOverBudget(t *testing.T) {
	c := &clock{t: int64(time.Hour)}
	tb := New(Config{Resolve: func(Tuple) (KernelEntry, bool) { return KernelEntry{}, false }, Now: c.now})
	tb.SetResync(true)
	var r Result
	// Spend the budget on a connection the kernel does not know.
	tb.Track(udp(true), &r)
	tb.Track(tcp(true, 0x02), &r)
	for i := 0; i <= resyncPerSecond; i++ {
		tb.Track(tcp(true, 0x11), &r) // FIN/ACK in SYN_SENT: invalid, a query each while the budget lasts
	}
	if r.State != StateInvalid {
		t.Fatalf("FIN in SYN_SENT over budget: %+v, want invalid", r)
	}
	tb.Track(tcp(true, 0x10), &r)
	if r.State != StateEstablished || r.Status&StatusSeenReply == 0 {
		t.Fatalf("handshake ACK over budget: %+v, want established", r)
	}
	// Without hidden replies (resync off) the same ACK is invalid.
	tb2 := New(Config{Now: c.now})
	tb2.Track(tcp(true, 0x02), &r)
	tb2.Track(tcp(true, 0x10), &r)
	if r.State != StateInvalid {
		t.Fatalf("ACK without SYN/ACK, nothing hidden: %+v, want invalid", r)
	}
}
