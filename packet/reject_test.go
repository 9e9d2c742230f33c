package packet

import (
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet/checksum"
)

// TestRejectBuilders: the RST and the ICMP errors nfd sends decode as the
// answer the kernel's nf_reject_* would build, with valid checksums.
func TestRejectBuilders(t *testing.T) {
	for _, fam := range []struct{ a, b string }{{"10.0.0.1", "10.0.0.2"}, {"2001:db8::1", "2001:db8::2"}} {
		a, b := netip.MustParseAddr(fam.a), netip.MustParseAddr(fam.b)
		var p, r Parsed
		p.Decode(pktgen.Build(pktgen.Opts{Src: a, Dst: b, Proto: ProtoTCP, Sport: 40000, Dport: 23, TCPFlags: TCPSyn, Seq: 100}))
		r.Decode(BuildReset(&p))
		if r.L4Proto != ProtoTCP || r.Sport != 23 || r.Dport != 40000 || r.TCPFlags != TCPRst|TCPAck || r.Ack != 101 || !r.ChecksumOK() ||
			string(r.SrcAddr()) != string(p.DstAddr()) {
			t.Fatalf("%s: RST %+v", fam.a, r)
		}
		if a.Is4() && checksum.Fold(checksum.Sum(0, r.Bytes()[:IPv4MinSize])) != 0xffff {
			t.Fatalf("IPv4 header checksum")
		}
		if BuildReset(&r) != nil {
			t.Fatal("a RST answered with a RST")
		}
		p.Decode(pktgen.Build(pktgen.Opts{Src: a, Dst: b, Proto: ProtoUDP, Sport: 5000, Dport: 53, Payload: []byte("q")}))
		r.Decode(BuildUnreach(&p, 3))
		want := uint8(ProtoICMP)
		if a.Is6() {
			want = ProtoICMPv6
		}
		if r.L4Proto != want || r.ICMPCode != 3 || !r.IsICMPError() || !r.ChecksumOK() {
			t.Fatalf("%s: unreachable %+v", fam.a, r)
		}
		if BuildUnreach(&r, 3) != nil {
			t.Fatal("an ICMP error answered with an ICMP error")
		}
	}
}
