package packet

import (
	"encoding/binary"
	"net/netip"

	"github.com/nfdproject/nfd/packet/checksum"
)

// Builders of the packets nfd sends when a rule rejects one, as the
// kernel's nf_reject_ipv4.c and nf_reject_ipv6.c build them.

// ipHeader writes an IP header from src to dst around l4 (proto) and
// fills the transport checksum at csumOff.
func ipHeader(fam uint8, src, dst []byte, proto uint8, l4 []byte, csumOff int) []byte {
	pseudo := checksum.Pseudo(src, dst, proto, len(l4))
	if fam == 4 {
		b := make([]byte, IPv4MinSize+len(l4))
		b[ipv4VersIHL] = 0x45
		binary.BigEndian.PutUint16(b[ipv4TotalLen:], uint16(len(b)))
		b[ipv4FlagsFrag] = 0x40 // DF
		b[ipv4TTL] = 64
		b[ipv4Protocol] = proto
		copy(b[ipv4Src:], src)
		copy(b[ipv4Dst:], dst)
		binary.BigEndian.PutUint16(b[IPv4ChecksumOffset:], checksum.Checksum(0, b[:IPv4MinSize]))
		copy(b[IPv4MinSize:], l4)
		if proto == ProtoICMP {
			pseudo = 0 // ICMP has no pseudo-header
		}
		binary.BigEndian.PutUint16(b[IPv4MinSize+csumOff:], checksum.Checksum(pseudo, b[IPv4MinSize:]))
		return b
	}
	b := make([]byte, IPv6Size+len(l4))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[ipv6PayloadLen:], uint16(len(l4)))
	b[ipv6NextHdr] = proto
	b[ipv6HopLimit] = 64
	copy(b[ipv6Src:], src)
	copy(b[ipv6Dst:], dst)
	copy(b[IPv6Size:], l4)
	binary.BigEndian.PutUint16(b[IPv6Size+csumOff:], checksum.Checksum(pseudo, b[IPv6Size:]))
	return b
}

// BuildReset follows nf_reject_ip_tcphdr_put(): swap ends; if the packet
// had ACK, seq = its ack and no ACK; else seq 0 and ack = seq + SYN + FIN
// + payload length.
func BuildReset(p *Parsed) []byte {
	if p.L4Proto != ProtoTCP || !p.HasTransport(TCPMinSize) || p.TCPFlags&TCPRst != 0 || p.Flags&NonFirstFragment != 0 {
		return nil
	}
	t := make([]byte, TCPMinSize)
	binary.BigEndian.PutUint16(t[tcpSrcPort:], p.Dport)
	binary.BigEndian.PutUint16(t[tcpDstPort:], p.Sport)
	t[tcpDataOff] = TCPMinSize / 4 << 4
	if p.TCPFlags&TCPAck != 0 {
		binary.BigEndian.PutUint32(t[tcpSeq:], p.Ack)
		t[tcpFlags] = TCPRst
	} else {
		n := uint32(len(p.Payload()))
		if p.TCPFlags&TCPSyn != 0 {
			n++
		}
		if p.TCPFlags&TCPFin != 0 {
			n++
		}
		binary.BigEndian.PutUint32(t[tcpAck:], p.Seq+n)
		t[tcpFlags] = TCPRst | TCPAck
	}
	return ipHeader(p.Family, p.DstAddr(), p.SrcAddr(), ProtoTCP, t, TCPChecksumOffset)
}

// BuildUnreach quotes the offending packet as icmp_send()/icmp6_send() do.
func BuildUnreach(p *Parsed, code uint8) []byte {
	if p.IsICMPError() || p.Flags&NonFirstFragment != 0 {
		return nil
	}
	dst, _ := netip.AddrFromSlice(p.DstAddr())
	if dst.IsMulticast() || (p.Family == 4 && dst == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return nil
	}
	quote := p.Bytes()
	limit := 548 // 576 minus IPv4 and ICMP headers
	typ := uint8(3)
	proto := uint8(ProtoICMP)
	if p.Family == 6 {
		limit, typ, proto = 1232, 1, ProtoICMPv6 // 1280 minus headers
	}
	if len(quote) > limit {
		quote = quote[:limit]
	}
	l4 := make([]byte, ICMPMinSize+len(quote))
	l4[icmpType], l4[icmpCode] = typ, code
	copy(l4[ICMPMinSize:], quote)
	return ipHeader(p.Family, p.DstAddr(), p.SrcAddr(), proto, l4, ICMPChecksumOffset)
}
