package packet

import (
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
)

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"tcp4", pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, Sport: 40000, Dport: 443, TCPFlags: TCPAck, Payload: make([]byte, 100)})},
		{"udp6-ext", pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: 17, Sport: 4000, Dport: 53, Ext6: []uint8{0, 43, 60}, Payload: make([]byte, 100)})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var p Parsed
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p.Decode(c.pkt)
			}
		})
	}
}

func BenchmarkTLSServerName(b *testing.B) {
	ch := pktgen.ClientHello("www.example.com")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		TLSServerName(ch)
	}
}

// BenchmarkBaselineCopy is the floor for decoding: copying the 20+20
// header bytes a decoder must at least read.
func BenchmarkBaselineCopy(b *testing.B) {
	pkt := pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, Sport: 40000, Dport: 443, Payload: make([]byte, 100)})
	var dst [40]byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		copy(dst[:], pkt)
	}
}
