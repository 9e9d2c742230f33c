package packet

import "encoding/binary"

// Flag records what decoding found wrong or special about a packet.
type Flag uint16

const (
	// Truncated: the buffer ends before a header it announces.
	Truncated Flag = 1 << iota
	// BadHeader: a length or version field is impossible (IHL < 5, total
	// length shorter than the header, ...).
	BadHeader
	// Fragment: the packet is a fragment (first or not).
	Fragment
	// NonFirstFragment: a fragment with offset > 0; it has no transport
	// header and only layer-3 matches can hit it.
	NonFirstFragment
	// ExtHdrLimit: the IPv6 extension-header chain runs past the bytes at
	// hand (a malformed chain, or one longer than the captured prefix);
	// the transport header is treated as absent.
	ExtHdrLimit
	// BadChecksum: set by the caller when ChecksumOK fails for a packet
	// the kernel's conntrack would verify (see ChecksumOK).
	BadChecksum
)

// Parsed is one decoded packet. It borrows the buffer passed to Decode and
// holds no other pointers, so decoding allocates nothing.
type Parsed struct {
	buf []byte
	// WireLen is the packet's real length; it exceeds len(buf) when only
	// a prefix was captured (NFQUEUE copy range, pcap snap length).
	WireLen int

	Family uint8 // 4 or 6; 0 when the buffer holds no usable IP header
	Flags  Flag

	// Layer 3.
	Src, Dst   [16]byte // an IPv4 address uses the first 4 bytes
	NetProto   uint8    // IPv4 protocol field, or the IPv6 header's next header
	L4Proto    uint8    // the transport protocol, after IPv6 extension headers
	HasL4Proto bool     // L4Proto is known (as the kernel's NFT_PKTINFO_L4PROTO)
	TTL        uint8    // TTL or hop limit
	IPLen      uint16   // IPv4 total length, or 40 + IPv6 payload length
	NetLen     uint8    // IPv4 header length (with options), or 40

	// Layer 4. L4Off is the transport header's offset (the kernel's thoff)
	// and L4Len the bytes of it (and beyond) that belong to the packet;
	// for non-first fragments they are what the kernel's fast payload loads
	// read (see laterFragment).
	L4Off, L4Len int
	Sport, Dport uint16
	TCPFlags     uint8
	Seq, Ack     uint32
	ICMPType     uint8
	ICMPCode     uint8
	ICMPID       uint16

	// PayloadOff is where layer-7 data starts (after the TCP or UDP
	// header), or 0 when there is none.
	PayloadOff int
}

// AddrLen is 4 for IPv4 and 16 for IPv6.
func (p *Parsed) AddrLen() int {
	if p.Family == 4 {
		return 4
	}
	return 16
}

// SrcAddr and DstAddr return the addresses as slices of the struct.
func (p *Parsed) SrcAddr() []byte { return p.Src[:p.AddrLen()] }
func (p *Parsed) DstAddr() []byte { return p.Dst[:p.AddrLen()] }

// Bytes is the packet as decoded.
func (p *Parsed) Bytes() []byte { return p.buf }

// Len is the packet length, as `meta length` sees it.
func (p *Parsed) Len() int { return p.WireLen }

// Transport returns the transport header and what follows, within the
// packet's IP length.
func (p *Parsed) Transport() []byte {
	if p.L4Len == 0 {
		return nil
	}
	return p.buf[p.L4Off : p.L4Off+p.L4Len]
}

// Payload returns the layer-7 bytes (after TCP or UDP header).
func (p *Parsed) Payload() []byte {
	if p.PayloadOff == 0 {
		return nil
	}
	end := p.L4Off + p.L4Len
	if p.PayloadOff > end {
		return nil
	}
	return p.buf[p.PayloadOff:end]
}

// HasTransport reports whether n bytes of the transport header are present,
// which is what the kernel's payload expression needs to load them.
func (p *Parsed) HasTransport(n int) bool { return p.L4Len >= n }

// Decode parses b, a whole IPv4 or IPv6 packet starting at its network
// header. It never panics and never reads outside b; problems are recorded
// in Flags.
func (p *Parsed) Decode(b []byte) { p.DecodeCaptured(b, len(b)) }

// DecodeCaptured parses b, the first bytes of a packet wireLen long. Header
// fields beyond the captured bytes count as absent.
func (p *Parsed) DecodeCaptured(b []byte, wireLen int) {
	*p = Parsed{buf: b, WireLen: max(wireLen, len(b))}
	if len(b) < 1 {
		p.Flags |= Truncated
		return
	}
	switch b[0] >> 4 {
	case 4:
		p.decode4(b)
	case 6:
		p.decode6(b)
	default:
		p.Flags |= BadHeader
	}
}

// decode4 follows nft_set_pktinfo_ipv4_validate() in
// include/net/netfilter/nf_tables_ipv4.h: the network header is usable if
// 20 bytes are there; the transport header only if IHL and total length
// are sane.
func (p *Parsed) decode4(b []byte) {
	if len(b) < IPv4MinSize {
		p.Flags |= Truncated
		return
	}
	h := IPv4(b)
	p.Family = 4
	copy(p.Src[:4], h.Src())
	copy(p.Dst[:4], h.Dst())
	p.NetProto = h.Protocol()
	p.TTL = h.TTL()
	p.IPLen = h.TotalLength()
	ihl := h.IHL()
	p.NetLen = uint8(ihl)
	total := int(p.IPLen)
	if total == 0 && p.WireLen > 0xffff {
		total = p.WireLen // a GSO super-packet past 64 KiB carries length 0
	}
	if ihl < IPv4MinSize || total < ihl || total > p.WireLen {
		p.Flags |= BadHeader
		return
	}
	if ihl > len(b) {
		p.Flags |= Truncated
		return
	}
	if total > len(b) {
		p.Flags |= Truncated // captured prefix: use what is there
		total = len(b)
	}
	p.L4Proto, p.HasL4Proto = p.NetProto, true
	if h.FragOffset() != 0 || h.MoreFragments() {
		p.Flags |= Fragment
	}
	p.L4Off, p.L4Len = ihl, total-ihl
	if h.FragOffset() != 0 {
		p.Flags |= NonFirstFragment
		p.laterFragment()
		return
	}
	p.decodeL4()
}

// laterFragment decodes a non-first fragment's "transport header" as the
// kernel's rules load it. nft_set_pktinfo_ipv4/ipv6 set pkt->fragoff, but
// every field nfd knows is a 1-, 2- or 4-byte aligned load, which
// nft_payload_select_ops() gives to nft_payload_fast_eval(), and that
// checks only NFT_PKTINFO_L4PROTO, not fragoff: it reads at thoff, the
// fragment's data for IPv4 and (thoff left 0 by ipv6_find_hdr) the IPv6
// header itself. Checked against the kernel by rules.TestMeaningIPv6Walk.
// A future unaligned or longer transport field must fail on fragments, as
// nft_payload_eval() does. Layer-7 data is never taken from a fragment.
func (p *Parsed) laterFragment() {
	p.decodeL4()
	p.PayloadOff = 0
}

// decode6 walks extension headers as ipv6_find_hdr() does, bounded.
func (p *Parsed) decode6(b []byte) {
	if len(b) < IPv6Size {
		p.Flags |= Truncated
		return
	}
	h := IPv6(b)
	p.Family = 6
	copy(p.Src[:], h.Src())
	copy(p.Dst[:], h.Dst())
	p.NetProto = h.NextHeader()
	p.TTL = h.HopLimit()
	p.NetLen = IPv6Size
	total := IPv6Size + int(h.PayloadLength())
	if h.PayloadLength() == 0 && p.WireLen > IPv6Size {
		total = p.WireLen // jumbogram or GSO super-packet
	}
	p.IPLen = uint16(min(total, 0xffff))
	if total > p.WireLen {
		p.Flags |= BadHeader
		return
	}
	// realEnd is where the packet ends; total may stop earlier when only a
	// prefix was captured, and then a header past total is unknown, not
	// missing (ExtHdrLimit).
	realEnd := total
	if total > len(b) {
		p.Flags |= Truncated // captured prefix: use what is there
		total = len(b)
	}
	proto, thoff, fragOff, ok := p.findHdr6(b[:total], realEnd)
	if !ok {
		return // nft_set_pktinfo_unspec: no meta l4proto, no transport header
	}
	p.L4Proto, p.HasL4Proto = proto, true
	if fragOff != 0 {
		p.Flags |= NonFirstFragment
		p.L4Off, p.L4Len = 0, total // thoff stays 0 (see laterFragment)
		p.laterFragment()
		return
	}
	if thoff > total {
		if thoff < realEnd {
			p.Flags |= ExtHdrLimit | Truncated
		}
		return // the transport header starts past the end: loads fail
	}
	p.L4Off, p.L4Len = thoff, total-thoff
	p.decodeL4()
}

// ipv6ExtHdr is ipv6_ext_hdr() in include/net/ipv6.h.
func ipv6ExtHdr(n uint8) bool {
	switch n {
	case ext6HopByHop, ext6Routing, ext6Fragment, ProtoAH, ext6None, ext6DestOpts:
		return true
	}
	return false
}

// findHdr6 is ipv6_find_hdr(skb, &thoff, -1, &fragoff, &flags) in
// net/ipv6/exthdrs_core.c with flags = IP6_FH_F_AUTH, as
// nft_set_pktinfo_ipv6() (include/net/netfilter/nf_tables_ipv6.h) calls
// it: the walk stops at AH (which is then the transport protocol), at a
// non-extension header or at "no next header" (59); a later fragment
// returns its next header with fragoff set, unless that is an extension
// header (-ENOENT); a header that cannot be read is -EBADMSG. b holds the
// packet's bytes (or a captured prefix of a packet realEnd long). ok false
// means the kernel leaves the packet without NFT_PKTINFO_L4PROTO.
func (p *Parsed) findHdr6(b []byte, realEnd int) (proto uint8, thoff int, fragOff uint16, ok bool) {
	next := b[ipv6NextHdr]
	start := IPv6Size
	// need reports whether n bytes at start are there, as
	// skb_header_pointer() does; past a captured prefix it marks the walk
	// unknown.
	need := func(n int) bool {
		if start+n <= len(b) {
			return true
		}
		p.Flags |= Truncated
		if start+n <= realEnd {
			p.Flags |= ExtHdrLimit
		}
		return false
	}
	for {
		if !ipv6ExtHdr(next) || next == ext6None {
			break
		}
		if !need(2) { // struct ipv6_opt_hdr
			return 0, 0, 0, false
		}
		nh, hl := b[start], int(b[start+1])
		var hdrlen int
		switch next {
		case ext6Routing:
			if !need(4) { // struct ipv6_rt_hdr
				return 0, 0, 0, false
			}
			hdrlen = (hl + 1) * 8
		case ext6Fragment:
			p.Flags |= Fragment
			if !need(4) { // frag_off
				return 0, 0, 0, false
			}
			fo := binary.BigEndian.Uint16(b[start+2:]) &^ 7
			if fo != 0 {
				if !ipv6ExtHdr(nh) || nh == ext6None {
					return nh, 0, fo, true
				}
				return 0, 0, 0, false // -ENOENT
			}
			hdrlen = 8
		case ProtoAH:
			// IP6_FH_F_AUTH with target < 0: AH ends the walk.
			return next, start, 0, true
		default:
			hdrlen = (hl + 1) * 8 // ipv6_optlen()
		}
		next = nh
		start += hdrlen
	}
	if start > 0xffff {
		return 0, 0, 0, false // thoff > U16_MAX
	}
	return next, start, 0, true
}

// decodeL4 reads the transport fields that are present. A field whose
// bytes are missing stays zero and HasTransport tells matchers so.
func (p *Parsed) decodeL4() {
	t := p.buf[p.L4Off : p.L4Off+p.L4Len]
	switch p.L4Proto {
	case ProtoTCP:
		// Each field as far as its bytes are there: the kernel loads each
		// one on its own (a 14-byte header still has flags, a 2-byte one
		// a source port).
		p.ports(t)
		if len(t) >= 8 {
			p.Seq = TCP(t).Seq()
		}
		if len(t) >= 12 {
			p.Ack = TCP(t).AckNum()
		}
		if len(t) >= 14 {
			p.TCPFlags = TCP(t).Flags()
		}
		if len(t) >= TCPMinSize {
			h := TCP(t)
			if off := h.DataOffset(); off >= TCPMinSize && off <= len(t) {
				p.PayloadOff = p.L4Off + off
			} else {
				p.Flags |= BadHeader
			}
		} else {
			p.Flags |= Truncated
		}
	case ProtoUDP, ProtoUDPLite, ProtoSCTP:
		p.ports(t)
		if p.L4Proto != ProtoSCTP && len(t) >= UDPSize {
			p.PayloadOff = p.L4Off + UDPSize
		} else if len(t) < 4 {
			p.Flags |= Truncated
		}
	case ProtoICMP, ProtoICMPv6:
		if len(t) >= 1 {
			p.ICMPType = t[0]
		}
		if len(t) >= 2 {
			p.ICMPCode = t[1]
		}
		if len(t) >= ICMPMinSize {
			p.ICMPID = ICMP(t).ID()
		} else {
			p.Flags |= Truncated
		}
	}
}

// ports reads the source port from 2 bytes and the destination port from
// 4, as the kernel's 2-byte payload loads need no more.
func (p *Parsed) ports(t []byte) {
	if len(t) >= 2 {
		p.Sport = binary.BigEndian.Uint16(t)
	}
	if len(t) >= 4 {
		p.Dport = binary.BigEndian.Uint16(t[2:])
	}
}

// IsICMPError reports whether the packet is an ICMP or ICMPv6 error, which
// quotes the header of the packet that caused it.
func (p *Parsed) IsICMPError() bool {
	if p.L4Len < ICMPMinSize || p.Flags&NonFirstFragment != 0 {
		return false
	}
	switch {
	case p.Family == 4 && p.L4Proto == ProtoICMP:
		switch p.ICMPType {
		case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
			return true
		}
	case p.Family == 6 && p.L4Proto == ProtoICMPv6:
		return p.ICMPType < 128
	}
	return false
}

// DecodeInner decodes the packet quoted inside an ICMP error into q, as
// nf_conntrack_inet_error() reads it with nf_ct_get_tuplepr(): the quote
// is usually cut short, so q is decoded leniently: only the addresses, the
// protocol (after IPv6 extension headers, AH included, as
// ipv6_get_l4proto() skips them) and the ports (4 bytes, for protocols
// with ports) or the ICMP header (8 bytes) are needed; any other protocol
// needs nothing more (nf_ct_get_tuple()'s generic case).
func (p *Parsed) DecodeInner(q *Parsed) bool {
	if !p.IsICMPError() {
		return false
	}
	inner := p.buf[p.L4Off+ICMPMinSize : p.L4Off+p.L4Len]
	*q = Parsed{buf: inner}
	switch {
	case p.Family == 4 && len(inner) >= IPv4MinSize && inner[0]>>4 == 4:
		h := IPv4(inner)
		ihl := h.IHL()
		if ihl < IPv4MinSize || ihl > len(inner) {
			return false
		}
		q.Family = 4
		copy(q.Src[:4], h.Src())
		copy(q.Dst[:4], h.Dst())
		q.NetProto, q.L4Proto, q.HasL4Proto = h.Protocol(), h.Protocol(), true
		if h.FragOffset() != 0 {
			return false
		}
		q.L4Off, q.L4Len = ihl, len(inner)-ihl
	case p.Family == 6 && len(inner) >= IPv6Size && inner[0]>>4 == 6:
		h := IPv6(inner)
		q.Family = 6
		copy(q.Src[:], h.Src())
		copy(q.Dst[:], h.Dst())
		q.NetProto = h.NextHeader()
		proto, off, res := skipExthdr6(inner, len(inner))
		if res == skipFailed || res == skipUnknown || off > len(inner) {
			return false
		}
		q.L4Proto, q.HasL4Proto = proto, true
		q.L4Off, q.L4Len = off, len(inner)-off
	default:
		return false
	}
	t := inner[q.L4Off:]
	switch q.L4Proto {
	case ProtoTCP, ProtoUDP, ProtoUDPLite, ProtoSCTP:
		if len(t) < 4 {
			return false
		}
		q.Sport, q.Dport = UDP(t).SrcPort(), UDP(t).DstPort()
		if q.L4Proto == ProtoTCP && len(t) >= 14 {
			q.TCPFlags = t[tcpFlags]
		}
	case ProtoICMP, ProtoICMPv6:
		if len(t) < ICMPMinSize {
			return false
		}
		q.ICMPType, q.ICMPCode, q.ICMPID = t[0], t[1], ICMP(t).ID()
	}
	return true
}
