package rules

import (
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// flowRun sends packets of one TCP connection (client 10.0.0.1:40000 to
// 10.0.0.2:443, or back when reply) through Track, Eval and LearnNames,
// as the daemon does, and returns each verdict.
type flowStep struct {
	reply   bool
	flags   uint8
	payload []byte
}

func flowRun(t *testing.T, e *Engine, tb *conntrack.Table, steps []flowStep) []Verdict {
	t.Helper()
	var out []Verdict
	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, s := range steps {
		o := pktgen.Opts{Src: cli, Dst: srv, Proto: packet.ProtoTCP, Sport: 40000, Dport: 443, TCPFlags: s.flags, Payload: s.payload}
		if s.reply {
			o.Src, o.Dst, o.Sport, o.Dport = srv, cli, 443, 40000
		}
		var p packet.Parsed
		p.Decode(pktgen.Build(o))
		var c Ctx
		c.Reset(&p, parser.HookForward)
		tb.Track(&p, &c.CT)
		d := e.Eval(&c)
		c.LearnNames(e, tb)
		out = append(out, d.Verdict)
	}
	return out
}

const (
	fSYN = 0x02
	fACK = 0x10
	fPSH = 0x08
)

// TestNamesAreFlowProperties: once a connection's ClientHello named a
// server, every later packet of the connection matches `tls sni` by that
// name, and a second ClientHello cannot rename it.
func TestNamesAreFlowProperties(t *testing.T) {
	// Small packets pass by length; big ones only by their name. Without
	// flow names the data after the ClientHello would be dropped, and a
	// flow bypassed at the ClientHello would then be inexact.
	e := compile(t, `table inet f { chain fw {
		type filter hook forward priority 0; policy drop;
		tcp dport 443 tls sni "ok.example" accept comment "name"
		tcp sport 443 tls sni "ok.example" accept comment "name-reply"
		meta length < 100 accept comment "small"
	} }`)
	if e.NameKinds != 1<<conntrack.NameSNI {
		t.Fatalf("NameKinds %b", e.NameKinds)
	}
	big := make([]byte, 500)
	steps := []flowStep{
		{flags: fSYN}, {reply: true, flags: fSYN | fACK}, {flags: fACK},
		{flags: fACK | fPSH, payload: pktgen.ClientHello("ok.example")},
		{reply: true, flags: fACK | fPSH, payload: big},
		{flags: fACK | fPSH, payload: big},
		{flags: fACK | fPSH, payload: pktgen.ClientHello("evil.example")},
	}
	tb := conntrack.New(conntrack.Config{})
	got := flowRun(t, e, tb, steps)
	for i, want := range []Verdict{Accept, Accept, Accept, Accept, Accept, Accept, Accept} {
		if got[i] != want {
			t.Errorf("packet %d: %s, want %s", i, got[i], want)
		}
	}
	fl := tb.List()
	if len(fl) != 1 || string(fl[0].Names[conntrack.NameSNI]) != "ok.example" {
		t.Fatalf("flows: %+v", fl)
	}

	// A flow that first named another server is dropped whole.
	tb = conntrack.New(conntrack.Config{})
	steps[3].payload = pktgen.ClientHello("evil.example")
	steps[6].payload = pktgen.ClientHello("ok.example")
	got = flowRun(t, e, tb, steps)
	for i, want := range []Verdict{Accept, Accept, Accept, Drop, Drop, Drop, Drop} {
		if got[i] != want {
			t.Errorf("evil flow, packet %d: %s, want %s", i, got[i], want)
		}
	}
}

// TestLearnNamesAllocs: recording costs nothing for packets of flows
// that already have their name, and for flows without layer-7 payload.
func TestLearnNamesAllocs(t *testing.T) {
	e := compile(t, `table inet f { chain fw { type filter hook forward priority 0; policy accept;
		tcp dport 443 tls sni "x.example" drop } }`)
	tb := conntrack.New(conntrack.Config{})
	flowRun(t, e, tb, []flowStep{{flags: fSYN}, {reply: true, flags: fSYN | fACK}, {flags: fACK},
		{flags: fACK | fPSH, payload: pktgen.ClientHello("ok.example")}})
	var p packet.Parsed
	p.Decode(pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		Proto: packet.ProtoTCP, Sport: 40000, Dport: 443, TCPFlags: fACK, Payload: make([]byte, 300)}))
	var c Ctx
	n := testing.AllocsPerRun(1000, func() {
		c.Reset(&p, parser.HookForward)
		tb.Track(&p, &c.CT)
		e.Eval(&c)
		c.LearnNames(e, tb)
	})
	if n != 0 {
		t.Fatalf("track+eval+learn allocates %v times per packet", n)
	}
	if string(c.CT.Names[conntrack.NameSNI]) != "ok.example" {
		t.Fatalf("names %q", c.CT.Names)
	}
}

// TestKnowsNames: a flow knows a name once its connection recorded it or
// the packet carries it; names that cannot travel on the packet's
// transport are never waited for; an untracked packet knows none.
func TestKnowsNames(t *testing.T) {
	e := compile(t, `table inet f { chain fw { type filter hook forward priority 0; policy accept;
		tcp dport 443 tls sni "x.example" drop } }`)
	sni, qname := uint8(1)<<conntrack.NameSNI, uint8(1)<<conntrack.NameQname
	tb := conntrack.New(conntrack.Config{})
	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	ctx := func(o pktgen.Opts, track bool) *Ctx {
		var p packet.Parsed
		p.Decode(pktgen.Build(o))
		c := new(Ctx)
		c.Reset(&p, parser.HookForward)
		if track {
			tb.Track(&p, &c.CT)
		}
		return c
	}
	tcp := pktgen.Opts{Src: cli, Dst: srv, Proto: packet.ProtoTCP, Sport: 40000, Dport: 443}
	syn := tcp
	syn.TCPFlags = fSYN
	if c := ctx(syn, true); c.KnowsNames(sni) || !c.KnowsNames(0) || !c.KnowsNames(qname) {
		t.Errorf("SYN: knows SNI %v, nothing %v, a DNS name (not on TCP) %v", c.KnowsNames(sni), c.KnowsNames(0), c.KnowsNames(qname))
	}
	flowRun(t, e, tb, []flowStep{{reply: true, flags: fSYN | fACK}, {flags: fACK}}) // the handshake
	hello := tcp
	hello.TCPFlags, hello.Payload = fACK|fPSH, pktgen.ClientHello("ok.example")
	c := ctx(hello, true)
	if !c.KnowsNames(sni) {
		t.Errorf("the ClientHello's own packet does not know its name")
	}
	c.LearnNames(e, tb)
	ack := tcp
	ack.TCPFlags = fACK
	if !ctx(ack, true).KnowsNames(sni) {
		t.Errorf("a later packet of the named flow does not know the name")
	}
	if ctx(hello, false).KnowsNames(sni) {
		t.Errorf("an untracked packet knows a name")
	}
	udp := pktgen.Opts{Src: cli, Dst: srv, Proto: packet.ProtoUDP, Sport: 40001, Dport: 53}
	if c := ctx(udp, true); !c.KnowsNames(sni) || c.KnowsNames(qname) {
		t.Errorf("UDP without a query: knows SNI %v (want true), qname %v (want false)", c.KnowsNames(sni), c.KnowsNames(qname))
	}
}
