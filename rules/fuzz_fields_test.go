package rules

import (
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// fuzzFieldRules reads every kind of field nfd's generic loaders handle:
// header bit fields, options, extension headers, chunks, raw payloads,
// ICMP type dependencies, merged matches, operators.
const fuzzFieldRules = `table inet f {
	chain in {
		type filter hook input priority 0; policy accept;
		ip dscp cs1 ip ecn ce counter
		ip6 flowlabel 5 ip6 dscp af11 counter
		tcp option maxseg size 1460 tcp option sack-perm exists counter
		tcp option timestamp tsval > 1 tcp option sack1 right 7 counter
		tcp option @30,16,4 3 counter
		sctp chunk data tsn 1 sctp chunk init missing counter
		hbh nexthdr 6 frag more-fragments 1 counter
		rt0 addr[2] ::1 counter
		srh sid[3] ::2 counter
		mh type 5 dst hdrlength 1 counter
		exthdr frag exists exthdr rt missing counter
		@nh,4,20 5 @th,16,16 22 counter
		@th,0,64 1 counter
		icmp id 3 counter
		icmp mtu 1 counter
		icmpv6 max-delay 2 counter
		tcp sport != 22 tcp dport != 80 counter
		dccp type request counter
		ah spi 1 counter
		esp sequence 2 counter
		comp cpi 3 counter
		igmp group 1 counter
		udplite csumcov 8 counter
		meta mark & 0xff ^ 0x3 == 0x1 tcp flags ! syn counter
	}
}`

// FuzzEvalFields: any packet bytes through every kind of field: no panic,
// no allocation-free path broken into an error.
func FuzzEvalFields(f *testing.F) {
	a, b := netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.1.1.2")
	c, d := netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")
	f.Add(pktgen.Build(pktgen.Opts{Src: a, Dst: b, Proto: 6, Sport: 1, Dport: 443}))
	f.Add(pktgen.Build(pktgen.Opts{Src: c, Dst: d, Proto: 17, Sport: 1, Dport: 53, Ext6: []uint8{0, 43, 44}}))
	f.Add(pktgen.Build(pktgen.Opts{Src: c, Dst: d, Proto: 6, Sport: 1, Dport: 80, Ext6: []uint8{60, 51}, Cut: 12}))
	f.Add(pktgen.Build(pktgen.Opts{Src: a, Dst: b, Proto: 132, Sport: 1, Dport: 80, Payload: make([]byte, 40)}))
	f.Add(pktgen.Build(pktgen.Opts{Src: a, Dst: b, Proto: 1, ICMPType: 3, Payload: make([]byte, 8)}))
	rs, err := parser.Parse("f.nft", []byte(fuzzFieldRules))
	if err != nil {
		f.Fatal(err)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		var p packet.Parsed
		p.Decode(buf)
		var cx Ctx
		cx.Reset(&p, parser.HookInput)
		e.Eval(&cx)
	})
}
