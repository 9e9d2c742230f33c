package rules

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

func compile(t testing.TB, src string) *Engine {
	t.Helper()
	rs, err := parser.Parse("test.nft", []byte(src))
	if err != nil {
		t.Fatalf("parse: %s", err.(parser.ErrorList).Pretty())
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type pk struct {
	src, dst     string
	proto        uint8
	sport, dport uint16
	flags        uint8
	icmpType     uint8
	payload      []byte
	ct           uint32
	mark         uint32
	iif, oif     string
	hook         parser.Hook
}

func (x pk) ctx() *Ctx {
	o := pktgen.Opts{Src: netip.MustParseAddr(x.src), Dst: netip.MustParseAddr(x.dst), Proto: x.proto,
		Sport: x.sport, Dport: x.dport, TCPFlags: x.flags, ICMPType: x.icmpType, Payload: x.payload}
	var p packet.Parsed
	p.Decode(pktgen.Build(o))
	c := &Ctx{}
	c.Reset(&p, x.hook)
	if x.ct != 0 {
		c.CT = conntrack.Result{State: x.ct, Found: x.ct != conntrack.StateInvalid}
	}
	c.Mark = x.mark
	if x.iif != "" {
		c.SetIif(x.iif)
		c.Iif, _ = parser.SystemInterfaces{}.Index(x.iif)
	}
	if x.oif != "" {
		c.SetOif(x.oif)
		c.Oif, _ = parser.SystemInterfaces{}.Index(x.oif)
	}
	return c
}

func expect(t *testing.T, e *Engine, x pk, want Verdict, wantRule string) {
	t.Helper()
	d := e.Eval(x.ctx())
	got := ""
	if d.Rule != nil {
		got = d.Rule.Label()
	}
	if d.Verdict != want || got != wantRule {
		t.Fatalf("%+v: got %s by %q, want %s by %q", x, d.Verdict, got, want, wantRule)
	}
}

const (
	tcpP  = packet.ProtoTCP
	udpP  = packet.ProtoUDP
	icmpP = packet.ProtoICMP
)

var input = parser.HookInput

func TestBasicVerdicts(t *testing.T) {
	e := compile(t, `table inet f {
	chain in {
		type filter hook input priority 0; policy drop;
		ct state established,related accept comment "est"
		ct state invalid drop comment "inv"
		iif "lo" accept comment "lo"
		ip saddr 10.0.0.0/8 tcp dport { 22, 80-90 } accept comment "ssh"
		tcp dport 23 reject with tcp reset comment "telnet"
		udp dport != 53 drop comment "not-dns"
		icmp type echo-request accept comment "ping"
	}
}`)
	expect(t, e, pk{src: "10.1.1.1", dst: "10.0.0.2", proto: tcpP, sport: 1, dport: 22, hook: input, ct: conntrack.StateNew}, Accept, "ssh")
	expect(t, e, pk{src: "10.1.1.1", dst: "10.0.0.2", proto: tcpP, sport: 1, dport: 85, hook: input, ct: conntrack.StateNew}, Accept, "ssh")
	expect(t, e, pk{src: "11.1.1.1", dst: "10.0.0.2", proto: tcpP, sport: 1, dport: 22, hook: input, ct: conntrack.StateNew}, Drop, "")
	expect(t, e, pk{src: "11.1.1.1", dst: "10.0.0.2", proto: tcpP, sport: 1, dport: 22, hook: input, ct: conntrack.StateEstablished}, Accept, "est")
	expect(t, e, pk{src: "11.1.1.1", dst: "10.0.0.2", proto: tcpP, sport: 1, dport: 22, hook: input, ct: conntrack.StateInvalid}, Drop, "inv")
	expect(t, e, pk{src: "11.1.1.1", dst: "10.0.0.2", proto: tcpP, sport: 1, dport: 22, hook: input, ct: conntrack.StateNew, iif: "lo"}, Accept, "lo")
	d := e.Eval(pk{src: "11.1.1.1", dst: "10.0.0.2", proto: tcpP, sport: 1, dport: 23, hook: input, ct: conntrack.StateNew}.ctx())
	if d.Verdict != Reject || d.RejectKind != parser.RejectTCPReset {
		t.Fatalf("reject: %+v", d)
	}
	expect(t, e, pk{src: "11.1.1.1", dst: "10.0.0.2", proto: udpP, sport: 1, dport: 54, hook: input, ct: conntrack.StateNew}, Drop, "not-dns")
	// `tcp dport != 22`-style negations never match another protocol: the
	// UDP dns packet falls through to the policy.
	expect(t, e, pk{src: "11.1.1.1", dst: "10.0.0.2", proto: udpP, sport: 1, dport: 53, hook: input, ct: conntrack.StateNew}, Drop, "")
	expect(t, e, pk{src: "11.1.1.1", dst: "10.0.0.2", proto: icmpP, icmpType: 8, hook: input, ct: conntrack.StateNew}, Accept, "ping")
	// No chain at this hook: accept.
	expect(t, e, pk{src: "11.1.1.1", dst: "10.0.0.2", proto: udpP, hook: parser.HookForward}, Accept, "")
}

func TestBaseChainOrder(t *testing.T) {
	e := compile(t, `table ip a {
	chain late { type filter hook input priority 10; policy accept; tcp dport 1 drop comment "late-drop"; }
	chain early { type filter hook input priority -10; policy accept; tcp dport 1 accept comment "early-accept"; tcp dport 2 drop comment "early-drop"; }
}
table ip6 b {
	chain c { type filter hook input priority 0; policy drop; }
}`)
	// accept in the first base chain moves on; the later chain drops.
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 1, hook: input}, Drop, "late-drop")
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 2, hook: input}, Drop, "early-drop")
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 3, hook: input}, Accept, "")
	// IPv6 packets only see the ip6 table.
	expect(t, e, pk{src: "2001:db8::1", dst: "2001:db8::2", proto: tcpP, dport: 1, hook: input}, Drop, "")
}

func TestJumpGotoReturn(t *testing.T) {
	e := compile(t, `table inet f {
	chain in {
		type filter hook input priority 0; policy drop;
		tcp dport 1 jump sub comment "j"
		tcp dport 1 accept comment "after-jump"
		tcp dport 2 goto sub comment "g"
		tcp dport 2 accept comment "after-goto"
		tcp dport 3 jump deep comment "jd"
	}
	chain sub {
		tcp sport 7 return
		tcp sport 8 drop comment "sub-drop"
		tcp sport 9 continue
		tcp sport 9 accept comment "after-continue"
	}
	chain deep {
		jump sub
		accept comment "deep-accept"
	}
}`)
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, sport: 7, dport: 1, hook: input}, Accept, "after-jump")
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, sport: 6, dport: 1, hook: input}, Accept, "after-jump")
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, sport: 8, dport: 1, hook: input}, Drop, "sub-drop")
	// goto does not come back: the base chain's policy decides.
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, sport: 7, dport: 2, hook: input}, Drop, "")
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, sport: 9, dport: 2, hook: input}, Accept, "after-continue")
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, sport: 7, dport: 3, hook: input}, Accept, "deep-accept")
}

func TestFlagsAndMasks(t *testing.T) {
	e := compile(t, `table inet f {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp flags & (syn | ack) == syn counter comment "syn-only"
		tcp flags == syn|ack drop comment "synack-exact"
		tcp flags fin drop comment "any-fin"
		meta mark & 0xff00 == 0x100 drop comment "mark-mask"
	}
}`)
	c := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 1, flags: packet.TCPSyn, hook: input}
	expect(t, e, c, Accept, "")
	if e.Rules[0].Counts.Packets.Load() != 1 {
		t.Fatal("syn-only rule did not count")
	}
	c.flags = packet.TCPSyn | packet.TCPAck
	expect(t, e, c, Drop, "synack-exact")
	c.flags = packet.TCPFin | packet.TCPAck
	expect(t, e, c, Drop, "any-fin")
	c.flags = packet.TCPAck
	c.mark = 0x1234
	expect(t, e, c, Accept, "")
	c.mark = 0x0199
	expect(t, e, c, Drop, "mark-mask")
}

func TestSetsMapsConcat(t *testing.T) {
	e := compile(t, `table inet f {
	set nets { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.1.10-192.168.1.20 } }
	set pairs { type ipv4_addr . inet_service; elements = { 1.1.1.1 . 53, 8.8.8.8 . 443 } }
	set ranges { type ipv4_addr . inet_service; flags interval; elements = { 172.16.0.0/12 . 1000-2000 } }
	set six { type ipv6_addr; flags interval; elements = { 2001:db8::/32 } }
	map ports { type inet_service : verdict; elements = { 22 : accept, 23 : drop, 25 : jump mail } }
	chain in {
		type filter hook input priority 0; policy accept;
		ip saddr . tcp dport @pairs accept comment "pairs"
		ip saddr . tcp dport @ranges accept comment "ranges"
		ip saddr @nets tcp dport vmap @ports
		ip saddr != @nets tcp dport 22 drop comment "outsider-ssh"
		ip6 saddr @six drop comment "six"
		iifname { "eth*", "wg0" } udp dport 9 drop comment "ifnames"
	}
	chain mail { drop comment "mail" }
}`)
	x := pk{src: "10.1.2.3", dst: "10.0.0.2", proto: tcpP, dport: 22, hook: input}
	expect(t, e, x, Accept, "3") // the vmap rule, labelled by its handle
	x.dport = 23
	d := e.Eval(x.ctx())
	if d.Verdict != Drop || d.Rule == nil || d.Rule.Handle != 3 {
		t.Fatalf("vmap drop: %+v", d)
	}
	x.dport = 25
	expect(t, e, x, Drop, "mail")
	x.src = "192.168.1.15"
	expect(t, e, x, Drop, "mail")
	x.src, x.dport = "192.168.1.21", 22
	expect(t, e, x, Drop, "outsider-ssh")
	x.src, x.dport = "8.8.8.8", 443
	expect(t, e, x, Accept, "pairs")
	x.src, x.dport = "172.20.1.1", 1500
	expect(t, e, x, Accept, "ranges")
	x.dport = 2500
	expect(t, e, x, Accept, "")
	expect(t, e, pk{src: "2001:db8:1::1", dst: "2001:db8::2", proto: udpP, dport: 1, hook: input}, Drop, "six")
	expect(t, e, pk{src: "10.9.9.9", dst: "10.0.0.2", proto: udpP, dport: 9, hook: input, iif: "eth7"}, Drop, "ifnames")
	expect(t, e, pk{src: "10.9.9.9", dst: "10.0.0.2", proto: udpP, dport: 9, hook: input, iif: "wg0"}, Drop, "ifnames")
	expect(t, e, pk{src: "10.9.9.9", dst: "10.0.0.2", proto: udpP, dport: 9, hook: input, iif: "wg1"}, Accept, "")
}

func TestMarks(t *testing.T) {
	e := compile(t, `table ip f {
	chain in {
		type filter hook input priority 0; policy accept;
		meta mark set 0x10
		meta mark 0x10 ct mark set meta mark
		ct mark 0x10 drop comment "marked"
	}
}`)
	c := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, hook: input, ct: conntrack.StateNew}.ctx()
	d := e.Eval(c)
	if d.Verdict != Drop || !c.MarkChanged || c.Mark != 0x10 || !c.CtMarkChanged || c.CtMark != 0x10 {
		t.Fatalf("%+v mark %#x ct %#x", d, c.Mark, c.CtMark)
	}
	// Without a conntrack entry `ct mark set` does nothing and the rule
	// goes on; reading `ct mark` fails the match.
	c = pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, hook: input, ct: conntrack.StateInvalid}.ctx()
	if d := e.Eval(c); d.Verdict != Accept || c.CtMarkChanged || e.Rules[1].Counts.Packets.Load() != 2 {
		t.Fatalf("invalid packet: %+v, rule 2 count %d", d, e.Rules[1].Counts.Packets.Load())
	}
}

func TestLimit(t *testing.T) {
	rs, _ := parser.Parse("l.nft", []byte(`table ip f { chain in { type filter hook input priority 0; policy drop;
		limit rate 2/second burst 2 packets accept comment "under"
		limit rate over 1/minute drop comment "over"
		accept comment "fallback"
	} }`))
	now := int64(0)
	e, err := Compile(rs, Options{Now: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	x := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, hook: input}
	expect(t, e, x, Accept, "under")
	expect(t, e, x, Accept, "under")
	// Bucket empty: the `over` limit (burst 5) lets 5 through as "not over".
	for i := 0; i < 5; i++ {
		expect(t, e, x, Accept, "fallback")
	}
	expect(t, e, x, Drop, "over")
	now += int64(500 * time.Millisecond)
	expect(t, e, x, Accept, "under")
}

func TestLayer7(t *testing.T) {
	e := compile(t, `table inet f {
	set names { typeof tls sni; elements = { "*.example.com", "exact.org" } }
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport 443 tls sni @names accept comment "sni-set"
		tcp dport 443 tls sni "blocked.net" drop comment "sni-one"
		tcp dport 80 http host != "ok.example" drop comment "host"
		udp dport 53 dns qname { "*.ads.example" } drop comment "dns"
	}
}`)
	out := parser.HookOutput
	tls := func(name string) pk {
		return pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 443, hook: out, payload: pktgen.ClientHello(name)}
	}
	expect(t, e, tls("WWW.Example.com"), Accept, "sni-set")
	expect(t, e, tls("example.com"), Accept, "") // the wildcard needs a label
	expect(t, e, tls("exact.org"), Accept, "sni-set")
	expect(t, e, tls("blocked.net"), Drop, "sni-one")
	// No ClientHello: no SNI, so neither == nor != match.
	expect(t, e, pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 443, hook: out}, Accept, "")
	http := func(host string) pk {
		return pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 80, hook: out, payload: []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")}
	}
	expect(t, e, http("ok.example"), Accept, "")
	expect(t, e, http("evil.example"), Drop, "host")
	dns := func(name string) pk {
		return pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, sport: 999, dport: 53, hook: out, payload: pktgen.DNSQuery(1, name)}
	}
	expect(t, e, dns("x.ads.example"), Drop, "dns")
	expect(t, e, dns("ads.example"), Accept, "")
	if !e.NeedsPayload[parser.HookOutput] || e.NeedsPayload[parser.HookInput] {
		t.Fatalf("payload needs %v", e.NeedsPayload)
	}
}

func TestCountersCarryOver(t *testing.T) {
	src := `table ip f { chain in { type filter hook input priority 0; policy accept;
		udp dport 1 counter accept comment "one"
		udp dport 2 accept comment "two"
	} }`
	e1 := compile(t, src)
	x := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, dport: 1, hook: input}
	e1.Eval(x.ctx())
	e1.Eval(x.ctx())
	rs, _ := parser.Parse("t.nft", []byte(strings.Replace(src, `udp dport 2 accept comment "two"`, `udp dport 3 accept comment "two"`, 1)))
	e2, err := Compile(rs, Options{Prev: e1})
	if err != nil {
		t.Fatal(err)
	}
	if n := e2.Rules[0].Counts.Packets.Load(); n != 2 {
		t.Fatalf("unchanged rule lost its count: %d", n)
	}
	if n := e2.StmtCounter(e2.Rules[0], 1).Packets.Load(); n != 2 {
		t.Fatalf("counter statement lost its count: %d", n)
	}
	e1.Eval(pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, dport: 2, hook: input}.ctx())
	if n := e2.Rules[1].Counts.Packets.Load(); n != 0 {
		t.Fatalf("changed rule kept a count: %d", n)
	}
}

func TestEvalAllocs(t *testing.T) {
	e := compile(t, manyRules(1000))
	c := pk{src: "10.0.3.7", dst: "10.0.0.2", proto: tcpP, dport: 1000 + 3*256 + 7, hook: input}.ctx()
	if n := testing.AllocsPerRun(1000, func() { e.Eval(c) }); n != 0 {
		t.Fatalf("Eval allocates %v times", n)
	}
	if d := e.Eval(c); d.Verdict != Accept || d.Rule == nil || d.Rule.Handle != 3*256+7+1 {
		t.Fatalf("indexed lookup found %+v", d.Rule)
	}
}
