package hooks

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// rejecter answers rejected packets as the kernel's nf_reject_ipv4/ipv6
// do: a TCP RST, or an ICMP/ICMPv6 destination unreachable. It sends
// through raw sockets with the IP header included; the packets leave by
// the output hook like the kernel's own.
type rejecter struct {
	fd4, fd6 int
}

func newRejecter() (*rejecter, error) {
	r := &rejecter{fd4: -1, fd6: -1}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("raw IPv4 socket for reject: %w", err)
	}
	r.fd4 = fd
	fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err == nil {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1)
		r.fd6 = fd
	}
	return r, nil
}

func (r *rejecter) Close() {
	if r.fd4 >= 0 {
		unix.Close(r.fd4)
	}
	if r.fd6 >= 0 {
		unix.Close(r.fd6)
	}
}

// icmpCode maps a reject to the code for the packet's family.
func icmpCode(kind parser.RejectKind, code uint8, fam uint8) (uint8, bool) {
	switch kind {
	case parser.RejectDefault:
		if fam == 4 {
			return 3, true // port unreachable
		}
		return 4, true
	case parser.RejectICMP:
		return code, fam == 4
	case parser.RejectICMPv6:
		return code, fam == 6
	case parser.RejectICMPx:
		// NFT_REJECT_ICMPX_* → per-family codes (nft_reject_icmp_code).
		v4 := [...]uint8{0, 3, 1, 13}
		v6 := [...]uint8{0, 4, 3, 1}
		if int(code) >= len(v4) {
			return 0, false
		}
		if fam == 4 {
			return v4[code], true
		}
		return v6[code], true
	}
	return 0, false
}

// Send answers p. It sends nothing where the kernel would not: a RST for
// a RST, an ICMP error about an ICMP error, a later fragment, multicast.
func (r *rejecter) Send(p *packet.Parsed, kind parser.RejectKind, code uint8) error {
	var out []byte
	if kind == parser.RejectTCPReset {
		out = buildReset(p)
	} else if c, ok := icmpCode(kind, code, p.Family); ok {
		out = buildUnreach(p, c)
	}
	if out == nil {
		return nil
	}
	if p.Family == 4 {
		var sa unix.SockaddrInet4
		copy(sa.Addr[:], out[16:20])
		return unix.Sendto(r.fd4, out, 0, &sa)
	}
	if r.fd6 < 0 {
		return fmt.Errorf("no raw IPv6 socket")
	}
	var sa unix.SockaddrInet6
	copy(sa.Addr[:], out[24:40])
	return unix.Sendto(r.fd6, out, 0, &sa)
}

func sum16(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// ipHeader writes an IP header from src to dst around l4 (proto) and
// fills the transport checksum at csumOff.
func ipHeader(fam uint8, src, dst []byte, proto uint8, l4 []byte, csumOff int) []byte {
	pseudo := sum16(src, sum16(dst, 0)) + uint32(proto) + uint32(len(l4))
	if fam == 4 {
		b := make([]byte, 20+len(l4))
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		b[6] = 0x40 // DF
		b[8] = 64
		b[9] = proto
		copy(b[12:], src)
		copy(b[16:], dst)
		binary.BigEndian.PutUint16(b[10:], fold(sum16(b[:20], 0)))
		copy(b[20:], l4)
		if proto == packet.ProtoICMP {
			pseudo = 0
		}
		binary.BigEndian.PutUint16(b[20+csumOff:], fold(sum16(b[20:], pseudo)))
		return b
	}
	b := make([]byte, 40+len(l4))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
	b[6] = proto
	b[7] = 64
	copy(b[8:], src)
	copy(b[24:], dst)
	copy(b[40:], l4)
	binary.BigEndian.PutUint16(b[40+csumOff:], fold(sum16(b[40:], pseudo)))
	return b
}

// buildReset follows nf_reject_ip_tcphdr_put(): swap ends; if the packet
// had ACK, seq = its ack and no ACK; else seq 0 and ack = seq + SYN + FIN
// + payload length.
func buildReset(p *packet.Parsed) []byte {
	if p.L4Proto != packet.ProtoTCP || !p.HasTransport(packet.TCPMinSize) || p.TCPFlags&packet.TCPRst != 0 || p.Flags&packet.NonFirstFragment != 0 {
		return nil
	}
	t := make([]byte, 20)
	binary.BigEndian.PutUint16(t[0:], p.Dport)
	binary.BigEndian.PutUint16(t[2:], p.Sport)
	t[12] = 5 << 4
	if p.TCPFlags&packet.TCPAck != 0 {
		binary.BigEndian.PutUint32(t[4:], p.Ack)
		t[13] = packet.TCPRst
	} else {
		n := uint32(len(p.Payload()))
		if p.TCPFlags&packet.TCPSyn != 0 {
			n++
		}
		if p.TCPFlags&packet.TCPFin != 0 {
			n++
		}
		binary.BigEndian.PutUint32(t[8:], p.Seq+n)
		t[13] = packet.TCPRst | packet.TCPAck
	}
	return ipHeader(p.Family, p.DstAddr(), p.SrcAddr(), packet.ProtoTCP, t, 16)
}

// buildUnreach quotes the offending packet as icmp_send()/icmp6_send() do.
func buildUnreach(p *packet.Parsed, code uint8) []byte {
	if p.IsICMPError() || p.Flags&packet.NonFirstFragment != 0 {
		return nil
	}
	dst, _ := netip.AddrFromSlice(p.DstAddr())
	if dst.IsMulticast() || (p.Family == 4 && dst == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return nil
	}
	quote := p.Bytes()
	limit := 548 // 576 minus IPv4 and ICMP headers
	typ := uint8(3)
	proto := uint8(packet.ProtoICMP)
	if p.Family == 6 {
		limit, typ, proto = 1232, 1, packet.ProtoICMPv6 // 1280 minus headers
	}
	if len(quote) > limit {
		quote = quote[:limit]
	}
	l4 := make([]byte, 8+len(quote))
	l4[0], l4[1] = typ, code
	copy(l4[8:], quote)
	return ipHeader(p.Family, p.DstAddr(), p.SrcAddr(), proto, l4, 2)
}
