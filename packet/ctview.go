package packet

import "encoding/binary"

// ConntrackView returns the packet as the kernel's connection tracking
// sees it, which for IPv6 is not always what nftables' rules see: rules
// take the transport protocol and header from ipv6_find_hdr() with
// IP6_FH_F_AUTH (nft_set_pktinfo_ipv6(): the walk stops at AH, and "no
// next header" is a protocol), conntrack from ipv6_skip_exthdr()
// (ipv6_get_l4proto() in net/netfilter/nf_conntrack_core.c: AH is skipped
// like any extension header, and "no next header" or a header it cannot
// read leaves the packet without a connection).
//
// Most packets look the same to both, and p itself is returned. Otherwise
// q is filled with a copy of p whose transport fields are conntrack's, and
// q is returned; a packet conntrack cannot classify comes back with
// HasL4Proto false. Decoding allocates nothing.
func (p *Parsed) ConntrackView(q *Parsed) *Parsed {
	if p.Family != 6 || p.Flags&BadHeader != 0 || len(p.buf) < IPv6Size {
		return p
	}
	if p.HasL4Proto && p.L4Proto != ProtoAH && p.L4Proto != ext6None {
		// ipv6_find_hdr() walked the same headers ipv6_skip_exthdr()
		// walks and stopped where it stops (a non-first fragment stops
		// both: no connection either way).
		return p
	}
	total := IPv6Size + int(IPv6(p.buf).PayloadLength())
	if IPv6(p.buf).PayloadLength() == 0 && p.WireLen > IPv6Size {
		total = p.WireLen
	}
	end := min(total, len(p.buf))
	proto, off, res := skipExthdr6(p.buf[:end], total)
	*q = *p
	q.Flags &^= Truncated | ExtHdrLimit | Fragment | NonFirstFragment
	if total > len(p.buf) {
		q.Flags |= Truncated // a captured prefix
	}
	q.L4Proto, q.HasL4Proto = 0, false
	q.L4Off, q.L4Len = 0, 0
	q.Sport, q.Dport, q.TCPFlags, q.Seq, q.Ack = 0, 0, 0, 0, 0
	q.ICMPType, q.ICMPCode, q.ICMPID, q.PayloadOff = 0, 0, 0, 0
	switch res {
	case skipUnknown:
		q.Flags |= ExtHdrLimit | Truncated
		return q
	case skipFailed:
		return q
	case skipFragment:
		q.Flags |= Fragment
	}
	q.L4Proto, q.HasL4Proto = proto, true
	q.L4Off = min(off, end)
	q.L4Len = end - q.L4Off
	q.decodeL4()
	return q
}

// skipResult is how skipExthdr6 ended.
type skipResult uint8

const (
	skipOK       skipResult = iota
	skipFragment            // ok, and the walk passed a first fragment's header
	skipFailed              // ipv6_get_l4proto() returns -1: no connection
	skipUnknown             // a header lies past the captured bytes
)

// skipExthdr6 is ipv6_skip_exthdr() (net/ipv6/exthdrs_core.c) from the
// fixed header, as ipv6_get_l4proto() calls it: every extension header
// ipv6_ext_hdr() names is skipped, AH by ipv6_authlen(); "no next header"
// fails, and so does a header of which 2 bytes (4 for a fragment header's
// offset) cannot be read; a fragment with an offset fails (conntrack has
// no transport header for it). Only the 2 bytes are read: the offset
// returned may lie past the packet, as the kernel's may. b is the packet
// up to its IP length, or the captured prefix of a packet realEnd long.
func skipExthdr6(b []byte, realEnd int) (proto uint8, off int, res skipResult) {
	next := b[ipv6NextHdr]
	start := IPv6Size
	res = skipOK
	need := func(n int) skipResult {
		if start+n <= len(b) {
			return skipOK
		}
		if start+n <= realEnd {
			return skipUnknown
		}
		return skipFailed
	}
	for ipv6ExtHdr(next) {
		if next == ext6None {
			return 0, 0, skipFailed
		}
		if r := need(2); r != skipOK {
			return 0, 0, r
		}
		var hdrlen int
		switch next {
		case ext6Fragment:
			if r := need(4); r != skipOK {
				return 0, 0, r
			}
			if binary.BigEndian.Uint16(b[start+2:])&^7 != 0 {
				return 0, 0, skipFailed
			}
			res = skipFragment
			hdrlen = 8
		case ProtoAH:
			hdrlen = (int(b[start+1]) + 2) << 2 // ipv6_authlen()
		default:
			hdrlen = (int(b[start+1]) + 1) << 3 // ipv6_optlen()
		}
		next = b[start]
		start += hdrlen
	}
	return next, start, res
}
