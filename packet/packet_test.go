package packet

import (
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
)

var (
	a4 = netip.MustParseAddr("10.0.0.1")
	b4 = netip.MustParseAddr("10.0.0.2")
	a6 = netip.MustParseAddr("2001:db8::1")
	b6 = netip.MustParseAddr("2001:db8::2")
)

func TestDecodeTable(t *testing.T) {
	tests := []struct {
		name  string
		opts  pktgen.Opts
		check func(t *testing.T, p *Parsed)
	}{
		{"tcp4", pktgen.Opts{Src: a4, Dst: b4, Proto: 6, Sport: 40000, Dport: 22, TCPFlags: TCPSyn, Seq: 7, Payload: []byte("x")}, func(t *testing.T, p *Parsed) {
			if p.Family != 4 || p.L4Proto != 6 || p.Sport != 40000 || p.Dport != 22 || p.TCPFlags != TCPSyn || p.Seq != 7 || p.Flags != 0 {
				t.Fatalf("%+v", p)
			}
			if string(p.Payload()) != "x" || p.TTL != 64 || p.IPLen != 41 {
				t.Fatalf("payload %q ttl %d len %d", p.Payload(), p.TTL, p.IPLen)
			}
			if netip.AddrFrom4([4]byte(p.SrcAddr())) != a4 {
				t.Fatal("src")
			}
		}},
		{"tcp4 options", pktgen.Opts{Src: a4, Dst: b4, Proto: 6, Sport: 1, Dport: 2, IPOptions: 8}, func(t *testing.T, p *Parsed) {
			if p.NetLen != 28 || p.L4Off != 28 || p.Dport != 2 {
				t.Fatalf("%+v", p)
			}
		}},
		{"udp6 ext", pktgen.Opts{Src: a6, Dst: b6, Proto: 17, Sport: 5353, Dport: 53, Ext6: []uint8{0, 43, 60}, Payload: []byte("q")}, func(t *testing.T, p *Parsed) {
			if p.Family != 6 || p.NetProto != 0 || p.L4Proto != 17 || p.Dport != 53 || p.L4Off != 64 || string(p.Payload()) != "q" {
				t.Fatalf("%+v", p)
			}
		}},
		{"icmp echo", pktgen.Opts{Src: a4, Dst: b4, Proto: 1, ICMPType: 8, ICMPID: 99}, func(t *testing.T, p *Parsed) {
			if p.ICMPType != 8 || p.ICMPID != 99 || p.IsICMPError() {
				t.Fatalf("%+v", p)
			}
		}},
		{"icmpv6 echo", pktgen.Opts{Src: a6, Dst: b6, Proto: 58, ICMPType: 128, ICMPID: 5}, func(t *testing.T, p *Parsed) {
			if p.L4Proto != 58 || p.ICMPType != 128 || p.ICMPID != 5 {
				t.Fatalf("%+v", p)
			}
		}},
		{"v4 first fragment", pktgen.Opts{Src: a4, Dst: b4, Proto: 17, Sport: 1, Dport: 2, MoreFrags: true}, func(t *testing.T, p *Parsed) {
			if p.Flags != Fragment || p.Dport != 2 {
				t.Fatalf("%+v", p)
			}
		}},
		{"v4 later fragment", pktgen.Opts{Src: a4, Dst: b4, Proto: 17, Sport: 1, Dport: 2, FragOff: 100}, func(t *testing.T, p *Parsed) {
			// The kernel's fast payload loads read the fragment's data at
			// thoff (laterFragment); no layer-7 payload.
			if p.Flags&NonFirstFragment == 0 || p.L4Off != 20 || p.Dport != 2 || !p.HasL4Proto || p.L4Proto != 17 || p.Payload() != nil {
				t.Fatalf("%+v", p)
			}
		}},
		{"v6 later fragment", pktgen.Opts{Src: a6, Dst: b6, Proto: 6, Sport: 1, Dport: 2, Ext6: []uint8{44}, FragOff: 10}, func(t *testing.T, p *Parsed) {
			// thoff stays 0: loads read the IPv6 header (0x6000 at 0).
			if p.Flags&NonFirstFragment == 0 || p.L4Off != 0 || p.L4Proto != 6 || p.Sport != 0x6000 || p.Payload() != nil {
				t.Fatalf("%+v", p)
			}
		}},
		{"v6 first fragment", pktgen.Opts{Src: a6, Dst: b6, Proto: 6, Sport: 1, Dport: 2, Ext6: []uint8{44}, MoreFrags: true}, func(t *testing.T, p *Parsed) {
			if p.Flags != Fragment || p.Dport != 2 {
				t.Fatalf("%+v", p)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Parsed
			p.Decode(pktgen.Build(tc.opts))
			tc.check(t, &p)
		})
	}
}

func TestMalformed(t *testing.T) {
	good := pktgen.Build(pktgen.Opts{Src: a4, Dst: b4, Proto: 6, Sport: 1, Dport: 2, TCPFlags: TCPAck})
	var p Parsed
	// Bad IHL.
	b := append([]byte(nil), good...)
	b[0] = 0x43
	p.Decode(b)
	if p.Flags&BadHeader == 0 || p.L4Len != 0 || p.HasL4Proto {
		t.Fatalf("bad IHL: %+v", p)
	}
	// Total length past the end.
	b = append([]byte(nil), good...)
	b[2], b[3] = 0x05, 0xdc
	p.Decode(b)
	if p.Flags&BadHeader == 0 || p.L4Len != 0 {
		t.Fatalf("long total length: %+v", p)
	}
	// Total length shorter than the header.
	b = append([]byte(nil), good...)
	b[2], b[3] = 0, 10
	p.Decode(b)
	if p.Flags&BadHeader == 0 {
		t.Fatalf("short total length: %+v", p)
	}
	// Truncated TCP: dport still readable, flags not.
	b = append([]byte(nil), good[:24]...)
	b[2], b[3] = 0, 24
	p.Decode(b)
	if p.Dport != 2 || p.HasTransport(14) || p.Flags&Truncated == 0 {
		t.Fatalf("short tcp: %+v", p)
	}
	// TCP data offset past the end.
	b = append([]byte(nil), good...)
	b[32] = 0xf0
	p.Decode(b)
	if p.Flags&BadHeader == 0 || p.PayloadOff != 0 {
		t.Fatalf("bad data offset: %+v", p)
	}
	// Captured prefix of a longer packet: headers usable, length from the wire.
	long := pktgen.Build(pktgen.Opts{Src: a4, Dst: b4, Proto: 6, Sport: 1, Dport: 2, Payload: make([]byte, 1000)})
	p.DecodeCaptured(long[:60], len(long))
	if p.Dport != 2 || p.Len() != len(long) || p.Flags&Truncated == 0 {
		t.Fatalf("captured prefix: %+v", p)
	}
}

func TestLongExtensionHeaderChains(t *testing.T) {
	// As ipv6_find_hdr(): any number of headers, as long as they fit.
	ext := make([]uint8, 200)
	for i := range ext {
		ext[i] = 60
	}
	var p Parsed
	full := pktgen.Build(pktgen.Opts{Src: a6, Dst: b6, Proto: 6, Sport: 1, Dport: 2, Ext6: ext})
	p.Decode(full)
	if p.Flags != 0 || p.Dport != 2 || p.L4Proto != 6 {
		t.Fatalf("200 headers: %+v", p)
	}
	// A captured prefix that ends inside the chain: no transport header.
	p.DecodeCaptured(full[:1024], len(full))
	if p.Flags&ExtHdrLimit == 0 || p.Flags&Truncated == 0 || p.L4Len != 0 || p.Dport != 0 || p.HasL4Proto {
		t.Fatalf("prefix ending in the chain: %+v", p)
	}
	// A chain whose last header claims more bytes than the packet has.
	bad := pktgen.Build(pktgen.Opts{Src: a6, Dst: b6, Proto: 6, Sport: 1, Dport: 2, Ext6: ext[:3]})
	bad[IPv6Size+2*8+1] = 200
	p.Decode(bad)
	// ipv6_find_hdr() does not read the transport header: it returns TCP
	// with thoff past the end, so `meta l4proto tcp` matches and loads fail.
	if p.Flags&ExtHdrLimit != 0 || !p.HasL4Proto || p.L4Proto != 6 || p.L4Len != 0 || p.Dport != 0 {
		t.Fatalf("overlong header: %+v", p)
	}
}

// TestEveryPrefix decodes every prefix of valid packets: no panic, no read
// past the end (the race detector and bounds checks would catch it).
func TestEveryPrefix(t *testing.T) {
	pkts := [][]byte{
		pktgen.Build(pktgen.Opts{Src: a4, Dst: b4, Proto: 6, Sport: 1, Dport: 443, Payload: pktgen.ClientHello("x.example")}),
		pktgen.Build(pktgen.Opts{Src: a6, Dst: b6, Proto: 17, Sport: 1, Dport: 53, Ext6: []uint8{0, 44}, Payload: pktgen.DNSQuery(1, "a.example")}),
		pktgen.ICMPError(b4, 3, 3, pktgen.Build(pktgen.Opts{Src: a4, Dst: b4, Proto: 17, Sport: 9, Dport: 10})),
	}
	var p, q Parsed
	var name [MaxNameLen + 2]byte
	for _, full := range pkts {
		for n := 0; n <= len(full); n++ {
			b := full[:n:n]
			p.Decode(b)
			p.DecodeInner(&q)
			TLSServerName(p.Payload())
			HTTPHost(p.Payload())
			DNSQueryName(p.Payload(), &name)
		}
	}
}

func TestICMPErrorInner(t *testing.T) {
	orig := pktgen.Build(pktgen.Opts{Src: a4, Dst: b4, Proto: 17, Sport: 5000, Dport: 53})
	var p, q Parsed
	p.Decode(pktgen.ICMPError(b4, 3, 3, orig))
	if !p.IsICMPError() || !p.DecodeInner(&q) {
		t.Fatal("not an error / no inner")
	}
	if q.Family != 4 || q.L4Proto != 17 || q.Sport != 5000 || q.Dport != 53 || netip.AddrFrom4([4]byte(q.SrcAddr())) != a4 {
		t.Fatalf("%+v", q)
	}
	orig6 := pktgen.Build(pktgen.Opts{Src: a6, Dst: b6, Proto: 6, Sport: 5000, Dport: 80})
	p.Decode(pktgen.ICMPError(b6, 1, 4, orig6))
	if !p.DecodeInner(&q) || q.Family != 6 || q.Dport != 80 {
		t.Fatalf("%+v", q)
	}
}

func TestDecodeAllocs(t *testing.T) {
	pkt := pktgen.Build(pktgen.Opts{Src: a6, Dst: b6, Proto: 17, Sport: 1, Dport: 53, Ext6: []uint8{0, 60}, Payload: pktgen.DNSQuery(7, "www.example.org")})
	var p Parsed
	var name [MaxNameLen + 2]byte
	n := testing.AllocsPerRun(1000, func() {
		p.Decode(pkt)
		DNSQueryName(p.Payload(), &name)
	})
	if n != 0 {
		t.Fatalf("decode allocates %v times", n)
	}
}

// TestConntrackView: behind AH, nft's rules see AH and conntrack the
// transport header (ipv6_find_hdr() with IP6_FH_F_AUTH against
// ipv6_skip_exthdr()); "no next header" has no connection. The kernel
// agrees: conntrack.TestKernelIPv6ExtHeaders.
func TestConntrackView(t *testing.T) {
	c, d := netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")
	cases := []struct {
		name      string
		o         pktgen.Opts
		same      bool
		proto     uint8
		has       bool
		sport     uint16
		truncated bool
	}{
		{"plain tcp", pktgen.Opts{Proto: 6, Sport: 7}, true, 6, true, 7, false},
		{"options tcp", pktgen.Opts{Proto: 6, Sport: 7, Ext6: []uint8{0, 60}}, true, 6, true, 7, false},
		{"ah tcp", pktgen.Opts{Proto: 6, Sport: 7, Ext6: []uint8{51}}, false, 6, true, 7, false},
		{"ah options udp", pktgen.Opts{Proto: 17, Sport: 8, Ext6: []uint8{60, 51, 43}}, false, 17, true, 8, false},
		{"ah tcp cut", pktgen.Opts{Proto: 6, Sport: 7, Ext6: []uint8{51}, Cut: 12}, false, 6, true, 7, true},
		{"ah esp", pktgen.Opts{Proto: 50, Ext6: []uint8{51}, Payload: make([]byte, 8)}, false, 50, true, 0, false},
		{"ah none", pktgen.Opts{Proto: 59, Ext6: []uint8{51}}, false, 0, false, 0, false},
		{"none", pktgen.Opts{Proto: 59}, false, 0, false, 0, false},
		{"ah later fragment", pktgen.Opts{Proto: 6, Ext6: []uint8{51, 44}, FragOff: 2}, false, 0, false, 0, false},
	}
	for _, tc := range cases {
		tc.o.Src, tc.o.Dst = c, d
		var p, q Parsed
		p.Decode(pktgen.Build(tc.o))
		v := p.ConntrackView(&q)
		if (v == &p) != tc.same || v.HasL4Proto != tc.has || v.L4Proto != tc.proto || v.Sport != tc.sport ||
			(v.Flags&Truncated != 0) != tc.truncated {
			t.Errorf("%s: view same=%v has=%v proto=%d sport=%d flags=%b", tc.name, v == &p, v.HasL4Proto, v.L4Proto, v.Sport, v.Flags)
		}
		if !tc.same && p.L4Proto == v.L4Proto && p.HasL4Proto == v.HasL4Proto {
			t.Errorf("%s: the rules' view changed too", tc.name)
		}
	}
	ah := pktgen.Build(pktgen.Opts{Src: c, Dst: d, Proto: 6, Ext6: []uint8{51}})
	var p, q Parsed
	if n := testing.AllocsPerRun(100, func() {
		p.Decode(ah)
		_ = p.ConntrackView(&q)
		_ = p.ChecksumOK()
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
