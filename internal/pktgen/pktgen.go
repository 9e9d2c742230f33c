// Package pktgen builds IPv4 and IPv6 packets for tests and benchmarks.
// Checksums are computed so the packets are also valid on a wire.
package pktgen

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"

	"github.com/nfdproject/nfd/packet/checksum"
)

// Opts describes one packet.
type Opts struct {
	Src, Dst     netip.Addr
	Proto        uint8 // 6 tcp, 17 udp, 1 icmp, 58 icmpv6, 132 sctp, 136 udp-lite, or any other
	Sport, Dport uint16
	TCPFlags     uint8
	Seq, Ack     uint32
	ICMPType     uint8
	ICMPCode     uint8
	ICMPID       uint16
	Payload      []byte
	TTL          uint8  // default 64
	Coverage     uint16 // UDP-Lite (136) checksum coverage, 0 for all
	TOS          uint8  // IPv4 type of service, IPv6 traffic class (DSCP and ECN)
	FlowLabel    uint32 // IPv6 only, 20 bits
	// IPv4 only.
	IPOptions int    // bytes of NOP options (multiple of 4)
	FragOff   uint16 // in 8-byte units
	MoreFrags bool
	// IPv6 only: extension headers to insert before the transport header
	// (0 hop-by-hop, 43 routing, 60 destination options, 44 fragment,
	// 51 AH, or any number: an 8-byte header).
	Ext6 []uint8
	// Cut removes this many bytes from the end of the packet and fixes the
	// IP length field (and IPv4 header checksum) to match, so the stack
	// takes the cut-short packet as whole: a truncated transport or
	// extension header that still reaches the hooks.
	Cut int
}

// Build returns the packet bytes, starting at the IP header.
func Build(o Opts) []byte {
	if o.TTL == 0 {
		o.TTL = 64
	}
	l4 := transport(o)
	if o.Src.Is4() {
		ihl := 20 + o.IPOptions
		b := make([]byte, ihl+len(l4))
		b[0] = 0x40 | byte(ihl/4)
		b[1] = o.TOS
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		binary.BigEndian.PutUint16(b[4:], 0x1234)
		ff := o.FragOff & 0x1fff
		if o.MoreFrags {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(b[6:], ff)
		b[8] = o.TTL
		b[9] = o.Proto
		s, d := o.Src.As4(), o.Dst.As4()
		copy(b[12:], s[:])
		copy(b[16:], d[:])
		for i := 20; i < ihl; i++ {
			b[i] = 1 // NOP
		}
		binary.BigEndian.PutUint16(b[ipv4ChecksumOffset:], checksum.Checksum(0, b[:ihl]))
		copy(b[ihl:], l4)
		fixL4Checksum(o, b[ihl:])
		if o.Cut > 0 && o.Cut <= len(b)-ihl {
			b = b[:len(b)-o.Cut]
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
			b[10], b[11] = 0, 0
			binary.BigEndian.PutUint16(b[10:], checksum.Checksum(0, b[:ihl]))
		}
		return b
	}
	var ext []byte
	next := o.Proto
	for i := len(o.Ext6) - 1; i >= 0; i-- {
		h := make([]byte, 8)
		h[0] = next
		if o.Ext6[i] == 44 {
			binary.BigEndian.PutUint16(h[2:], o.FragOff<<3|map[bool]uint16{true: 1, false: 0}[o.MoreFrags])
		} else {
			h[2], h[3] = 1, 4 // PadN option filling the header
		}
		ext = append(h, ext...)
		next = o.Ext6[i]
	}
	b := make([]byte, 40+len(ext)+len(l4))
	binary.BigEndian.PutUint32(b, 6<<28|uint32(o.TOS)<<20|o.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:], uint16(len(ext)+len(l4)))
	b[6] = next
	b[7] = o.TTL
	s, d := o.Src.As16(), o.Dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], ext)
	copy(b[40+len(ext):], l4)
	fixL4Checksum(o, b[40+len(ext):])
	if o.Cut > 0 && o.Cut <= len(b)-40 {
		b = b[:len(b)-o.Cut]
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	}
	return b
}

func transport(o Opts) []byte {
	switch o.Proto {
	case 6:
		t := make([]byte, 20+len(o.Payload))
		binary.BigEndian.PutUint16(t[0:], o.Sport)
		binary.BigEndian.PutUint16(t[2:], o.Dport)
		binary.BigEndian.PutUint32(t[4:], o.Seq)
		binary.BigEndian.PutUint32(t[8:], o.Ack)
		t[12] = 5 << 4
		t[13] = o.TCPFlags
		binary.BigEndian.PutUint16(t[14:], 65535)
		copy(t[20:], o.Payload)
		return t
	case 17, 136:
		t := make([]byte, 8+len(o.Payload))
		binary.BigEndian.PutUint16(t[0:], o.Sport)
		binary.BigEndian.PutUint16(t[2:], o.Dport)
		if o.Proto == 17 {
			binary.BigEndian.PutUint16(t[4:], uint16(len(t)))
		} else {
			binary.BigEndian.PutUint16(t[4:], o.Coverage)
		}
		copy(t[8:], o.Payload)
		return t
	case 132:
		// The common header (ports, then the verification tag and
		// chunks from the payload's first bytes on).
		t := make([]byte, 8+len(o.Payload))
		binary.BigEndian.PutUint16(t[0:], o.Sport)
		binary.BigEndian.PutUint16(t[2:], o.Dport)
		copy(t[4:], o.Payload)
		return t
	case 1, 58:
		t := make([]byte, 8+len(o.Payload))
		t[0], t[1] = o.ICMPType, o.ICMPCode
		binary.BigEndian.PutUint16(t[4:], o.ICMPID)
		binary.BigEndian.PutUint16(t[6:], 1)
		copy(t[8:], o.Payload)
		return t
	}
	return append([]byte(nil), o.Payload...)
}

// ipv4ChecksumOffset is where an IPv4 header's checksum is (packet's
// IPv4ChecksumOffset: packet's tests use this package, so it cannot be
// imported here).
const ipv4ChecksumOffset = 10

// fixL4Checksum fills the transport checksum: at byte 16 of TCP, 6 of UDP,
// 2 of ICMP and ICMPv6.
func fixL4Checksum(o Opts, t []byte) {
	var off int
	switch o.Proto {
	case 6:
		off = 16
	case 17:
		off = 6
	case 1:
		binary.BigEndian.PutUint16(t[2:], checksum.Checksum(0, t))
		return
	case 58:
		off = 2
	case 132:
		// CRC32c, stored little-endian as sctp_compute_cksum() leaves it.
		if len(t) >= 12 {
			t[8], t[9], t[10], t[11] = 0, 0, 0, 0
			binary.LittleEndian.PutUint32(t[8:], crc32.Checksum(t, crc32.MakeTable(crc32.Castagnoli)))
		}
		return
	case 136:
		// RFC 3828: over the coverage (0: all).
		n := int(o.Coverage)
		if n == 0 || n > len(t) {
			n = len(t)
		}
		src, dst := o.Src.AsSlice(), o.Dst.AsSlice()
		binary.BigEndian.PutUint16(t[6:], checksum.Checksum(checksum.Pseudo(src, dst, o.Proto, len(t)), t[:n]))
		return
	default:
		return
	}
	if len(t) < off+2 {
		return
	}
	src, dst := o.Src.AsSlice(), o.Dst.AsSlice()
	binary.BigEndian.PutUint16(t[off:], checksum.Checksum(checksum.Pseudo(src, dst, o.Proto, len(t)), t))
}

// FixIPv4Checksum recomputes the checksum of an IPv4 header whose fields
// a test edited, over the 20 bytes of the base header whatever its IHL
// says (so a bogus IHL stays bogus but is not refused for its checksum).
func FixIPv4Checksum(b []byte) {
	b[ipv4ChecksumOffset], b[ipv4ChecksumOffset+1] = 0, 0
	binary.BigEndian.PutUint16(b[ipv4ChecksumOffset:], checksum.Checksum(0, b[:20]))
}

// ICMPError builds the ICMP (or ICMPv6) error that router `from` sends back
// to the source of orig, quoting orig's first bytes as RFC 792 does.
func ICMPError(from netip.Addr, typ, code uint8, orig []byte) []byte {
	quote := orig
	if len(quote) > 548 {
		quote = quote[:548]
	}
	var src netip.Addr
	var proto uint8 = 1
	if orig[0]>>4 == 4 {
		src, _ = netip.AddrFromSlice(orig[12:16])
	} else {
		src, _ = netip.AddrFromSlice(orig[8:24])
		proto = 58
	}
	return Build(Opts{Src: from, Dst: src, Proto: proto, ICMPType: typ, ICMPCode: code, Payload: quote})
}

// ClientHello returns a TLS record holding a ClientHello with the given SNI.
func ClientHello(sni string) []byte { return ClientHelloPadded(sni, 0) }

// ClientHelloPadded is ClientHello with a padding extension of pad bytes
// before the server name, as a post-quantum key share puts ~1.2 KB there:
// with pad over ~1,400 the name lies beyond the first TCP segment.
func ClientHelloPadded(sni string, pad int) []byte {
	name := []byte(sni)
	sniExt := make([]byte, 0, 9+len(name))
	sniExt = binary.BigEndian.AppendUint16(sniExt, 0)                   // server_name
	sniExt = binary.BigEndian.AppendUint16(sniExt, uint16(5+len(name))) // ext length
	sniExt = binary.BigEndian.AppendUint16(sniExt, uint16(3+len(name))) // list length
	sniExt = append(sniExt, 0)
	sniExt = binary.BigEndian.AppendUint16(sniExt, uint16(len(name)))
	sniExt = append(sniExt, name...)
	// another extension before it, to exercise the walk
	other := []byte{0x00, 0x0b, 0x00, 0x02, 0x01, 0x00}
	exts := other
	if pad > 0 {
		exts = binary.BigEndian.AppendUint16(exts, 21) // padding (RFC 7685)
		exts = binary.BigEndian.AppendUint16(exts, uint16(pad))
		exts = append(exts, make([]byte, pad)...)
	}
	exts = append(exts, sniExt...)
	body := []byte{0x03, 0x03}
	body = append(body, make([]byte, 32)...)    // random
	body = append(body, 0)                      // session id
	body = append(body, 0x00, 0x02, 0x13, 0x01) // cipher suites
	body = append(body, 0x01, 0x00)             // compression
	body = binary.BigEndian.AppendUint16(body, uint16(len(exts)))
	body = append(body, exts...)
	hs := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{22, 3, 1}
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(hs)))
	return append(rec, hs...)
}

// DNSQuery returns a DNS query for name (type A).
func DNSQuery(id uint16, name string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0)
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			b = append(b, byte(i-start))
			b = append(b, name[start:i]...)
			start = i + 1
		}
	}
	b = append(b, 0, 0, 1, 0, 1)
	return b
}
