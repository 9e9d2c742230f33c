package packet

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/nfdproject/nfd/packet/checksum"
)

// ChecksumOK verifies the transport checksum of TCP, UDP, ICMP, ICMPv6
// and SCTP, as nf_conntrack's tcp_error(), udp_error(), icmp_error(),
// icmpv6_error() (through nf_checksum()) and sctp_error() (CRC32c) do for
// packets at PRE_ROUTING whose checksum no device verified. It
// reports true when there is nothing it can check: another protocol, a
// fragment, or a packet not wholly in the buffer. An IPv4 UDP checksum of
// zero means none (udp_error()); in IPv6 it is an error. The transport
// header is conntrack's (ConntrackView: behind AH for IPv6).
func (p *Parsed) ChecksumOK() bool {
	var view Parsed
	return p.ConntrackView(&view).checksumOK()
}

func (p *Parsed) checksumOK() bool {
	if p.Flags&(Truncated|NonFirstFragment|Fragment|BadHeader|ExtHdrLimit) != 0 || p.L4Len == 0 || p.WireLen != len(p.buf) {
		return true
	}
	l4 := p.buf[p.L4Off : p.L4Off+p.L4Len]
	var sum uint32 // the pseudo-header's (RFC 793, RFC 768, RFC 8200 section 8.1)
	switch p.L4Proto {
	case ProtoTCP:
		if len(l4) < TCPMinSize {
			return true
		}
	case ProtoUDP:
		if len(l4) < UDPSize {
			return true
		}
		if p.Family == 4 && l4[6] == 0 && l4[7] == 0 {
			return true
		}
	case ProtoUDPLite:
		// udplite_error(): over the checksum coverage (0: all), with
		// IPPROTO_UDP and the whole length in the pseudo-header, as
		// nf_checksum_partial() is called there (RFC 3828 says 136; a
		// packet summed that way is invalid to the kernel's conntrack).
		// A bad coverage or a zero checksum is udpLengthValid's (conntrack).
		if len(l4) < UDPSize || l4[6] == 0 && l4[7] == 0 {
			return true
		}
		cov := int(binary.BigEndian.Uint16(l4[4:]))
		if cov == 0 {
			cov = len(l4)
		}
		if cov < UDPSize || cov > len(l4) {
			return true
		}
		sum = checksum.Pseudo(p.SrcAddr(), p.DstAddr(), ProtoUDP, len(l4))
		return checksum.Fold(checksum.Sum(sum, l4[:cov])) == 0xffff
	case ProtoICMP:
		if p.Family != 4 {
			return true
		}
		return checksum.Fold(checksum.Sum(0, l4)) == 0xffff
	case ProtoICMPv6:
		if p.Family != 6 {
			return true
		}
	case ProtoSCTP:
		// sctp_error(): CRC32c over the packet with the checksum field
		// zeroed, stored as sctp_compute_cksum() leaves it (little-endian).
		if len(l4) < 12 {
			return true
		}
		crc := crc32.Update(0, castagnoli, l4[:8])
		crc = crc32.Update(crc, castagnoli, zero4[:])
		crc = crc32.Update(crc, castagnoli, l4[12:])
		return binary.LittleEndian.Uint32(l4[8:]) == crc
	default:
		return true
	}
	sum = checksum.Pseudo(p.SrcAddr(), p.DstAddr(), p.L4Proto, len(l4))
	return checksum.Fold(checksum.Sum(sum, l4)) == 0xffff
}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	zero4      [4]byte
)
