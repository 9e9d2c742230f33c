package pipeline_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/pipeline"
	"github.com/nfdproject/nfd/queue"
	"github.com/nfdproject/nfd/rules"
)

const ruleset = `table inet t {
	chain in {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		tcp dport 22 meta mark set 0x7 accept
		tcp dport 443 tls sni "ok.example" accept
		udp dport 53 reject
	}
}
`

func compile(t testing.TB) *rules.Engine {
	t.Helper()
	rs, err := parser.Parse("t.nft", []byte(ruleset))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.Compile(rs, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var (
	client = netip.MustParseAddr("10.0.0.1")
	server = netip.MustParseAddr("10.0.0.2")
)

func tcp(dport uint16, flags uint8, fromServer bool) []byte {
	o := pktgen.Opts{Src: client, Dst: server, Proto: 6, Sport: 40000, Dport: dport, TCPFlags: flags}
	if fromServer {
		o.Src, o.Dst, o.Sport, o.Dport = server, client, dport, 40000
	}
	return pktgen.Build(o)
}

const (
	syn    = 0x02
	ack    = 0x10
	synack = syn | ack
)

// TestPipelineAllocs: deciding a packet, decode to forget, allocates
// nothing: a packet of an established flow, and a refused new one (whose
// conntrack entry is created and forgotten again).
func TestPipelineAllocs(t *testing.T) {
	e := compile(t)
	pl := &pipeline.Pipeline{CT: conntrack.New(conntrack.Config{}),
		Ifname: func(uint32) (string, bool) { return "eth0", true }}
	in := &pipeline.Input{Engine: e, Hook: parser.HookInput, Track: true, HasInDev: true, InDev: 2}
	for _, b := range [][]byte{tcp(22, syn, false), tcp(22, synack, true), tcp(22, ack, false)} {
		pl.Decode(b, len(b))
		if d := pl.Decide(in); d.Verdict != rules.Accept {
			t.Fatalf("handshake packet: %v", d.Verdict)
		}
	}
	est := tcp(22, ack, false)
	if n := testing.AllocsPerRun(1000, func() {
		pl.Decode(est, len(est))
		pl.Decide(in)
	}); n != 0 {
		t.Fatalf("an established packet allocates %v times", n)
	}
	refused := tcp(23, syn, false)
	if n := testing.AllocsPerRun(1000, func() {
		pl.Decode(refused, len(refused))
		if pl.Decide(in).Verdict != rules.Drop {
			t.Fatal("port 23 accepted")
		}
	}); n != 0 {
		t.Fatalf("a refused new packet allocates %v times", n)
	}
	if pl.CT.Len() != 1 {
		t.Fatalf("%d connections, want the one of port 22: refused packets must forget theirs", pl.CT.Len())
	}
}

// TestFakeReader drives the decision pipeline as a queue reader does,
// with no kernel: a fake reader hands out batches, queue.Serve answers
// each packet with the pipeline's verdict and flushes after every batch.
func TestFakeReader(t *testing.T) {
	e := compile(t)
	pl := &pipeline.Pipeline{CT: conntrack.New(conntrack.Config{})}
	in := &pipeline.Input{Engine: e, Hook: parser.HookInput, Track: true}
	decide := func(p *queue.Packet) queue.Verdict {
		pl.Decode(p.Payload, len(p.Payload))
		in.Mark, in.HasMark = p.Mark, p.HasMark
		d := pl.Decide(in)
		if d.Verdict != rules.Accept {
			return queue.Verdict{Verdict: queue.Drop}
		}
		if pl.C.MarkChanged {
			return queue.Verdict{Verdict: queue.Accept, Mark: pl.C.Mark, SetMark: true}
		}
		return queue.Verdict{Verdict: queue.Accept}
	}
	udp := pktgen.Build(pktgen.Opts{Src: client, Dst: server, Proto: 17, Sport: 5353, Dport: 53})
	f := &queue.Fake{Batches: [][]queue.Packet{
		{{ID: 1, Payload: tcp(22, syn, false)}, {ID: 2, Payload: tcp(23, syn, false)}},
		{{ID: 3, Payload: tcp(22, synack, true)}, {ID: 4, Payload: udp}},
		{{ID: 5, Payload: tcp(22, ack, false), HasMark: true, Mark: 0x7}},
	}}
	var errs []error
	queue.Serve(context.Background(), f, decide, func(_ bool, err error) { errs = append(errs, err) })
	want := []queue.Answer{
		{ID: 1, Verdict: queue.Verdict{Verdict: queue.Accept, Mark: 0x7, SetMark: true}},
		{ID: 2, Verdict: queue.Verdict{Verdict: queue.Drop}},
		{ID: 3, Verdict: queue.Verdict{Verdict: queue.Accept}}, // established: the reply
		{ID: 4, Verdict: queue.Verdict{Verdict: queue.Drop}},   // reject
		{ID: 5, Verdict: queue.Verdict{Verdict: queue.Accept}},
	}
	if len(f.Answers) != len(want) {
		t.Fatalf("answers %+v, want %+v", f.Answers, want)
	}
	for i := range want {
		if f.Answers[i] != want[i] {
			t.Errorf("answer %d: %+v, want %+v", i, f.Answers[i], want[i])
		}
	}
	if f.Flushes != 3 || !f.Closed || len(errs) != 0 {
		t.Fatalf("flushes %d (want 3), closed %v, errors %v", f.Flushes, f.Closed, errs)
	}
}

// TestPipelineIifByIndex: `iif`/`oif` compare the interface indexes the
// queue delivers (NFQA_IFINDEX_INDEV/OUTDEV), not names: nft resolved the
// name to an index at load, and an interface that has the name now but
// another index is another interface.
func TestPipelineIifByIndex(t *testing.T) {
	defer parser.SetInterfaces(parser.StaticInterfaces{"wan0": 7, "lan0": 8})()
	rs, err := parser.Parse("t.nft", []byte(`table inet t {
	chain fw {
		type filter hook forward priority 0; policy drop;
		iif wan0 oif lan0 accept
	}
}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.Compile(rs, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The names the interfaces have now do not matter to iif/oif.
	pl := &pipeline.Pipeline{CT: conntrack.New(conntrack.Config{}),
		Ifname: func(i uint32) (string, bool) { return map[uint32]string{7: "wan0", 8: "lan0", 9: "wan0"}[i], true }}
	for _, c := range []struct {
		in, out uint32
		want    rules.Verdict
	}{{7, 8, rules.Accept}, {9, 8, rules.Drop}, {7, 9, rules.Drop}, {8, 7, rules.Drop}} {
		b := tcp(22, syn, false)
		pl.Decode(b, len(b))
		d := pl.Decide(&pipeline.Input{Engine: e, Hook: parser.HookForward, Track: true,
			InDev: c.in, OutDev: c.out, HasInDev: true, HasOutDev: true})
		if d.Verdict != c.want {
			t.Errorf("in %d out %d: %v, want %v", c.in, c.out, d.Verdict, c.want)
		}
	}
}

const loopRuleset = `table inet t {
	chain out {
		type filter hook output priority 0; policy accept;
	}
	chain in {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		ct state invalid drop
		ct status confirmed tcp dport 23 drop
		tcp dport 22 accept
	}
}
`

// TestLooped: the host's connection to itself through lo, decided at
// output (tracked there) and again at input (looked up, Looped), as the
// daemon decides it when it queues both hooks. Each packet is tracked
// once: the SYN/ACK, tracked a second time, would be invalid (SYN_RECV
// ignores a SYN/ACK) and dropped. The looped SYN sees its connection
// confirmed at input, as the kernel confirmed it at postrouting, and a
// drop there does not forget it. A packet input finds no entry for (no
// earlier queue took it) is tracked at input.
func TestLooped(t *testing.T) {
	rs, err := parser.Parse("t.nft", []byte(loopRuleset))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.Compile(rs, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pl := &pipeline.Pipeline{CT: conntrack.New(conntrack.Config{})}
	out := &pipeline.Input{Engine: e, Hook: parser.HookOutput, Track: true}
	in := &pipeline.Input{Engine: e, Hook: parser.HookInput, Looped: true, HasInDev: true, InDev: 1}
	for i, b := range [][]byte{tcp(22, syn, false), tcp(22, synack, true), tcp(22, ack, false)} {
		pl.Decode(b, len(b))
		if d := pl.Decide(out); d.Verdict != rules.Accept {
			t.Fatalf("packet %d at output: %v", i, d.Verdict)
		}
		pl.Decode(b, len(b))
		if d := pl.Decide(in); d.Verdict != rules.Accept {
			t.Fatalf("packet %d at input: %v (ct state %d)", i, d.Verdict, pl.R.State)
		}
		if i == 0 && pl.R.Status&conntrack.StatusConfirmed == 0 {
			t.Fatalf("looped SYN at input: connection not confirmed (%+v)", pl.R)
		}
	}
	s23 := tcp(23, syn, false)
	pl.Decode(s23, len(s23))
	pl.Decide(out)
	pl.Decode(s23, len(s23))
	if d := pl.Decide(in); d.Verdict != rules.Drop {
		t.Fatalf("looped SYN to 23: %v, want dropped by `ct status confirmed`", d.Verdict)
	}
	if n := pl.CT.Len(); n != 2 {
		t.Fatalf("%d connections, want 2: a looped SYN dropped at input keeps its confirmed entry", n)
	}
	// Never seen at output (a native rule accepted it there): tracked at
	// input, once.
	s24 := tcp(24, syn, false)
	pl.Decode(s24, len(s24))
	pl.Decide(in)
	if pl.R.State != conntrack.StateNew || !pl.R.Created {
		t.Fatalf("SYN first seen at input: %+v, want new and created", pl.R)
	}
	est := tcp(22, ack, false)
	if n := testing.AllocsPerRun(1000, func() {
		pl.Decode(est, len(est))
		pl.Decide(out)
		pl.Decode(est, len(est))
		pl.Decide(in)
	}); n != 0 {
		t.Fatalf("a looped packet allocates %v times", n)
	}
}
