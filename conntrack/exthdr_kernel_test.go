package conntrack

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// exthdrPackets is IPv6 traffic whose transport header lies behind
// extension headers, AH among them: nft's rules see AH as the transport
// protocol (ipv6_find_hdr() with IP6_FH_F_AUTH), the kernel's conntrack
// skips it (ipv6_get_l4proto() -> ipv6_skip_exthdr()). Every packet is
// of its own flow (its own ports or id), so none answers another.
func exthdrPackets() [][]byte {
	src, dst := netip.MustParseAddr("fd88::1"), netip.MustParseAddr("fd88::2")
	b := func(o pktgen.Opts) []byte {
		o.Src, o.Dst = src, dst
		return pktgen.Build(o)
	}
	tcp := func(sport uint16, flags uint8, ext ...uint8) []byte {
		return b(pktgen.Opts{Proto: 6, Sport: sport, Dport: 80, TCPFlags: flags, Seq: 1000, Ext6: ext, Payload: []byte("x")})
	}
	badsum := tcp(1009, packet.TCPSyn, 51)
	badsum[len(badsum)-1] ^= 0xff
	return [][]byte{
		tcp(1001, packet.TCPSyn, 51),
		tcp(1002, packet.TCPSyn, 51, 60),
		tcp(1003, packet.TCPSyn, 60, 51),
		tcp(1004, packet.TCPSyn, 0, 51, 43),
		tcp(1005, packet.TCPRst, 51),               // invalid: a RST opens nothing
		tcp(1006, packet.TCPAck, 51),               // picked up mid-stream (nf_conntrack_tcp_loose)
		tcp(1007, packet.TCPSyn|packet.TCPFin, 51), // invalid flags
		tcp(1008, packet.TCPSyn, 51, 44),           // AH, then an atomic fragment header
		badsum,                                     // bad checksum behind AH
		tcp(1001, packet.TCPSyn, 51),               // the first flow again
		b(pktgen.Opts{Proto: 6, Sport: 1010, Dport: 80, TCPFlags: packet.TCPSyn, Ext6: []uint8{51}, Cut: 10}), // TCP header cut short
		b(pktgen.Opts{Proto: 17, Sport: 2001, Dport: 53, Ext6: []uint8{51}, Payload: []byte("q")}),
		b(pktgen.Opts{Proto: 17, Sport: 2002, Dport: 53, Ext6: []uint8{60, 51, 60}, Payload: []byte("q")}),
		b(pktgen.Opts{Proto: 58, ICMPType: 128, ICMPID: 0x77, Ext6: []uint8{51}}),
		b(pktgen.Opts{Proto: 58, ICMPType: 129, ICMPID: 0x78, Ext6: []uint8{0}}), // a reply opens nothing
		b(pktgen.Opts{Proto: 59, Ext6: []uint8{51}}),                             // AH, then no next header
		b(pktgen.Opts{Proto: 59}), // no next header
		b(pktgen.Opts{Proto: 59, Ext6: []uint8{60}, Payload: make([]byte, 8)}), // options, then none
		b(pktgen.Opts{Proto: 50, Payload: make([]byte, 24)}),                   // ESP
		b(pktgen.Opts{Proto: 50, Ext6: []uint8{51}, Payload: make([]byte, 24)}),
		b(pktgen.Opts{Proto: 108, Ext6: []uint8{51}, Payload: make([]byte, 12)}), // IPComp
		b(pktgen.Opts{Proto: 132, Ext6: []uint8{51}, Cut: 4}),                    // SCTP cut to 4 bytes
		// ICMP errors quoting the flows above, sent back to this host:
		// related when conntrack finds the quoted flow.
		pktgen.ICMPError(router6, 2, 0, pktgen.Build(pktgen.Opts{Src: dst, Dst: src, Proto: 50, Payload: make([]byte, 24)})),
		pktgen.ICMPError(router6, 2, 0, pktgen.Build(pktgen.Opts{Src: dst, Dst: src, Proto: 6, Sport: 80, Dport: 1001,
			TCPFlags: packet.TCPSyn | packet.TCPAck, Ext6: []uint8{51}})),
		pktgen.ICMPError(router6, 1, 4, pktgen.Build(pktgen.Opts{Src: dst, Dst: src, Proto: 17, Sport: 53, Dport: 2002,
			Ext6: []uint8{60, 51, 60}})),
		pktgen.ICMPError(router6, 1, 4, pktgen.Build(pktgen.Opts{Src: dst, Dst: src, Proto: 17, Sport: 53, Dport: 2099})),
		// IPv4 conntrack does not skip AH (ipv4_get_l4proto()).
		pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 51, Payload: append([]byte{6, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 20)...)}),
		pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 50, Payload: make([]byte, 24)}),
		pktgen.ICMPError(router4, 3, 4, pktgen.Build(pktgen.Opts{Src: dst4, Dst: src4, Proto: 50, Payload: make([]byte, 24)})),
		pktgen.ICMPError(router4, 3, 4, pktgen.Build(pktgen.Opts{Src: dst4, Dst: src4, Proto: 47, Payload: make([]byte, 24)})),
	}
}

var (
	src4, dst4 = netip.MustParseAddr("10.88.0.1"), netip.MustParseAddr("10.88.0.2")
	router4    = netip.MustParseAddr("10.88.0.99")
	router6    = netip.MustParseAddr("fd88::99")
)

// TestKernelIPv6ExtHeaders sends exthdrPackets into a namespace whose
// conntrack is on, and compares the kernel's per-packet ct state (counted
// by rules at prerouting) and its table (`conntrack -L`) with nfd's.
func TestKernelIPv6ExtHeaders(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "conntrack")
	inj, k := netns.NewInjector(t, "cx", "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	states := []string{"new", "established", "related", "invalid", "untracked"}
	var rs strings.Builder
	rs.WriteString("table inet cx {\n chain pre {\n  type filter hook prerouting priority 0;\n")
	for _, s := range states {
		fmt.Fprintf(&rs, "  ct state %s counter\n", s)
	}
	// Accepted at input, so the kernel confirms its entries.
	rs.WriteString(" }\n chain in { type filter hook input priority 0; policy accept; }\n}\n")
	nft := k.Cmd("nft", "-f", "-")
	nft.Stdin = strings.NewReader(rs.String())
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	tb := New(Config{})
	ours := make([]uint64, len(states))
	want := map[uint32]int{StateNew: 0, StateEstablished: 1, StateRelated: 2, StateInvalid: 3, StateUntracked: 4}
	var perPacket strings.Builder
	for i, pk := range exthdrPackets() {
		before := k.NftCounters(t)["inet/cx/pre"]
		if err := inj.Send(pk); err != nil {
			t.Fatal(err)
		}
		var p packet.Parsed
		p.Decode(pk)
		if !p.ChecksumOK() { // a packet socket's packet: no device verified it
			p.Flags |= packet.BadChecksum
		}
		var r Result
		tb.Track(&p, &r)
		ours[want[r.State]]++
		time.Sleep(10 * time.Millisecond)
		after := k.NftCounters(t)["inet/cx/pre"]
		ks := "none"
		for j := range states {
			if after[j][0] != before[j][0] {
				ks = states[j]
			}
		}
		if ks != states[want[r.State]] {
			fmt.Fprintf(&perPacket, "  packet %d %x: kernel ct state %s, nfd %s\n", i, pk, ks, states[want[r.State]])
		}
	}
	if perPacket.Len() > 0 {
		t.Errorf("ct state differs:\n%s", perPacket.String())
	}
	out, err := k.Cmd("conntrack", "-L", "-o", "extended").Output()
	if err != nil {
		t.Fatalf("conntrack -L: %v", err)
	}
	kern := map[string]kernelView{}
	for k, v := range parseConntrackL(string(out)) {
		if strings.Contains(k, "fd88::1>") || strings.Contains(k, "10.88.0.1>") {
			kern[k] = v
		}
	}
	t.Logf("kernel:\n%s", out)
	if d := diffViews(kern, ourView(tb)); d != "" {
		t.Errorf("nfd's table differs from the kernel's:\n%s", d)
	}
	if len(kern) == 0 {
		t.Error("the kernel tracks nothing; the comparison proves nothing")
	}
}
