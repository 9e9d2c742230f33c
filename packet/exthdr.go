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
// and NOP (and an option claiming length 0) count one byte (optlen()).
// The first option of that kind ends the search: if its length runs past
// the header, it is not found (the kernel's `i + optl > tcphdr_len`, which
// also makes `exists` false). It returns the option, bounded by its
// length (a field past the option's length is not loaded: `priv->len +
// priv->offset > optl`).
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
		l := 1
		if k > 1 && opt[i+1] != 0 { // optlen()
			l = int(opt[i+1])
		}
		if k == kind {
			if i+l > hl {
				return nil, false
			}
			return opt[i : i+l], true
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

// IPv4 option types nft's `ip option` knows (ipopt.c).
const (
	ipOptEnd  = 0
	ipOptNoop = 1
	ipOptRR   = 7
	ipOptTS   = 68
	ipOptLSRR = 131
	ipOptSSRR = 137
	ipOptRA   = 148
)

// IPv4FindOption finds the IPv4 option target (lsrr, ssrr, rr or ra) in
// the IPv4 packet b, as ipv4_find_option() (net/netfilter/nft_exthdr.c)
// does: the whole option area must pass __ip_options_compile() without an
// skb (net/ipv4/ip_options.c), or nothing is found; a source route must
// then have pointer 4, length at least 7 and a whole number of addresses;
// a second source route, record route or timestamp is an error; a router
// alert counts only with value 0. It returns the option's offset in b.
// Unknown options and timestamp flags other than 0, 1 and 3 pass when the
// caller has CAP_NET_RAW, which nfd's kernel context (the receiving
// softirq) has.
func IPv4FindOption(b []byte, target uint8) (int, bool) {
	if len(b) < IPv4MinSize {
		return 0, false
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl <= IPv4MinSize || ihl > len(b) {
		return 0, false
	}
	var srr, rr, ts, ra int
	strict := false
	opt := b[:ihl]
	for i := IPv4MinSize; i < ihl; {
		switch opt[i] {
		case ipOptEnd:
			i = ihl
			continue
		case ipOptNoop:
			i++
			continue
		}
		l := ihl - i
		if l < 2 {
			return 0, false
		}
		optlen := int(opt[i+1])
		if optlen < 2 || optlen > l {
			return 0, false
		}
		ptr := 0
		if optlen >= 3 {
			ptr = int(opt[i+2])
		}
		switch opt[i] {
		case ipOptSSRR, ipOptLSRR:
			if optlen < 3 || ptr < 4 || srr != 0 {
				return 0, false
			}
			if ptr != 4 || optlen < 7 || (optlen-3)&3 != 0 {
				return 0, false
			}
			strict = opt[i] == ipOptSSRR
			srr = i
		case ipOptRR:
			if rr != 0 || optlen < 3 || ptr < 4 {
				return 0, false
			}
			if ptr <= optlen && ptr+3 > optlen {
				return 0, false
			}
			rr = i
		case ipOptTS:
			if ts != 0 || optlen < 4 || ptr < 5 {
				return 0, false
			}
			flags := opt[i+3] & 0xf
			if ptr <= optlen {
				if ptr+3 > optlen {
					return 0, false
				}
				if (flags == 1 || flags == 3) && ptr+7 > optlen {
					return 0, false
				}
			} else if flags != 3 && opt[i+3]>>4 == 15 {
				return 0, false
			}
			ts = i
		case ipOptRA:
			if optlen < 4 {
				return 0, false
			}
			if opt[i+2] == 0 && opt[i+3] == 0 {
				ra = i
			}
		case 134: // CIPSO: cipso_v4_validate(), not modelled
			return 0, false
		}
		i += optlen
	}
	switch target {
	case ipOptSSRR, ipOptLSRR:
		if srr != 0 && strict == (target == ipOptSSRR) {
			return srr, true
		}
	case ipOptRR:
		return rr, rr != 0
	case ipOptRA:
		return ra, ra != 0
	}
	return 0, false
}
