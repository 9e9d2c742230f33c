package packet

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
)

func TestChecksumOK(t *testing.T) {
	v4s, v4d := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6s, v6d := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	for _, o := range []pktgen.Opts{
		{Src: v4s, Dst: v4d, Proto: ProtoTCP, Sport: 1, Dport: 2, TCPFlags: 2, Payload: []byte("hello")},
		{Src: v4s, Dst: v4d, Proto: ProtoUDP, Sport: 1, Dport: 2, Payload: []byte("odd")},
		{Src: v4s, Dst: v4d, Proto: ProtoICMP, ICMPType: 8, ICMPID: 7, Payload: []byte("ping")},
		{Src: v6s, Dst: v6d, Proto: ProtoTCP, Sport: 1, Dport: 2, TCPFlags: 2},
		{Src: v6s, Dst: v6d, Proto: ProtoUDP, Sport: 1, Dport: 2, Payload: []byte("x")},
		{Src: v6s, Dst: v6d, Proto: ProtoICMPv6, ICMPType: 128, ICMPID: 7, Payload: []byte("ping6")},
		{Src: v6s, Dst: v6d, Proto: ProtoTCP, Sport: 1, Dport: 2, TCPFlags: 2, Ext6: []uint8{0, 60}},
	} {
		b := pktgen.Build(o)
		var p Parsed
		p.Decode(b)
		if !p.ChecksumOK() {
			t.Errorf("%+v: valid packet judged bad", o)
		}
		bad := append([]byte(nil), b...)
		bad[len(bad)-1] ^= 0x40
		p.Decode(bad)
		if p.ChecksumOK() {
			t.Errorf("%+v: corrupted packet judged good", o)
		}
		// A captured prefix cannot be checked: assumed good.
		p.DecodeCaptured(bad[:len(bad)-1], len(bad))
		if !p.ChecksumOK() {
			t.Errorf("%+v: prefix judged bad", o)
		}
	}
	// IPv4 UDP without a checksum is fine; IPv6 UDP is not.
	for _, o := range []pktgen.Opts{{Src: v4s, Dst: v4d, Proto: ProtoUDP, Sport: 1, Dport: 2}, {Src: v6s, Dst: v6d, Proto: ProtoUDP, Sport: 1, Dport: 2}} {
		b := pktgen.Build(o)
		var p Parsed
		p.Decode(b)
		l4 := b[p.L4Off:]
		l4[6], l4[7] = 0, 0
		p.Decode(b)
		if got := p.ChecksumOK(); got != (p.Family == 4) {
			t.Errorf("IPv%d UDP with checksum 0: ok=%v", p.Family, got)
		}
	}
	// SCTP: CRC32c, little-endian (pktgen computes it over the common
	// header with the checksum zeroed, and the chunks).
	sctp := pktgen.Build(pktgen.Opts{Src: v6s, Dst: v6d, Proto: ProtoSCTP, Sport: 1, Dport: 2,
		Payload: []byte("\x00\x00\x00\x07\x00\x00\x00\x00\x01\x00\x00\x04")})
	var sp Parsed
	sp.Decode(sctp)
	l4 := sctp[sp.L4Off:]
	want := binary.LittleEndian.Uint32(l4[8:])
	binary.LittleEndian.PutUint32(l4[8:], 0)
	if got := crc32.Checksum(l4, crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Fatalf("pktgen's SCTP CRC32c %#x, want %#x", want, got)
	}
	binary.LittleEndian.PutUint32(l4[8:], want)
	if sp.Decode(sctp); !sp.ChecksumOK() {
		t.Error("SCTP with a good CRC32c judged bad")
	}
	l4[13] ^= 1
	if sp.Decode(sctp); sp.ChecksumOK() {
		t.Error("SCTP with a bad CRC32c judged good")
	}
	var p Parsed
	p.Decode(pktgen.Build(pktgen.Opts{Src: v4s, Dst: v4d, Proto: ProtoTCP, Sport: 1, Dport: 2, Payload: make([]byte, 1400)}))
	if n := testing.AllocsPerRun(100, func() { p.ChecksumOK() }); n != 0 {
		t.Fatalf("ChecksumOK allocates %v", n)
	}
}
