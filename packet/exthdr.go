package packet

import "encoding/binary"

// Locating headers inside a packet the way the kernel's nft_exthdr does.

// IPv6FindHdr finds the IPv6 extension header (or upper-layer header) of
// type target in the IPv6 packet b, as ipv6_find_hdr() with a target and
// no flags (net/ipv6/exthdrs_core.c): it walks hop-by-hop, routing,
// fragment, AH and destination headers; a later fragment ends the walk
// (found only if the fragment header itself is the target); an unreadable
// header is a failure. It returns the header's offset in b, which may lie
// past b's end when the last header announced is cut off (the kernel does
// not check it either; its load then fails).
func IPv6FindHdr(b []byte, target uint8) (int, bool) {
	if len(b) < IPv6Size {
		return 0, false
	}
	next := b[ipv6NextHdr]
	start := IPv6Size
	for {
		found := next == target
		if !ipv6ExtHdr(next) || next == ext6None {
			return start, found
		}
		if start+2 > len(b) { // struct ipv6_opt_hdr
			return 0, false
		}
		var hdrlen int
		switch next {
		case ext6Routing:
			if start+4 > len(b) { // struct ipv6_rt_hdr
				return 0, false
			}
			hdrlen = (int(b[start+1]) + 1) * 8
		case ext6Fragment:
			if start+4 > len(b) {
				return 0, false
			}
			if binary.BigEndian.Uint16(b[start+2:])&^7 != 0 {
				return start, found // -ENOENT unless the fragment header is the target
			}
			hdrlen = 8
		case ProtoAH:
			hdrlen = (int(b[start+1]) + 2) << 2 // ipv6_authlen()
		default:
			hdrlen = (int(b[start+1]) + 1) * 8 // ipv6_optlen()
		}
		if found {
			return start, true
		}
		next = b[start]
		start += hdrlen
	}
}

// TCPFindOption finds the first TCP option of kind in the TCP header at the
// start of t, as nft_exthdr_tcp_eval() does: the header (doff*4 bytes) must
// be all there; options are walked from byte 20 while i < doff*4-1, EOL
// and NOP (and an option claiming length 0) count one byte. It returns the
// header from the option on, bounded by the header's end (the kernel's copy
// must stay inside it).
func TCPFindOption(t []byte, kind uint8) ([]byte, bool) {
	if len(t) < 20 {
		return nil, false
	}
	hl := int(t[12]>>4) * 4
	if hl < 20 || hl > len(t) {
		return nil, false
	}
	opt := t[:hl]
	for i := 20; i < hl-1; {
		k := opt[i]
		if k == kind {
			return opt[i:], true
		}
		l := 1
		if k > 1 && opt[i+1] != 0 { // optlen()
			l = int(opt[i+1])
		}
		i += l
	}
	return nil, false
}

// SCTPFindChunk finds the first chunk of type typ in the SCTP packet t
// (common header first), as nft_exthdr_sctp_eval() does: chunks are walked
// from byte 12 by their padded lengths until one of length 0 or the end
// of the packet. The slice returned is the chunk, bounded by its length
// (a field beyond it is not loaded); it is nil for a chunk found but
// running past the packet, which is present but has no loadable field.
func SCTPFindChunk(t []byte, typ uint8) ([]byte, bool) {
	off := 12
	for off < len(t) {
		if off+4 > len(t) {
			return nil, false
		}
		l := int(binary.BigEndian.Uint16(t[off+2:]))
		if l == 0 {
			return nil, false
		}
		if t[off] == typ {
			if off+l > len(t) {
				return nil, true
			}
			return t[off : off+l], true
		}
		off += (l + 3) &^ 3
	}
	return nil, false
}
