package rules

import (
	"encoding/binary"

	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// Generic field loading: a field of the table (parser.FieldInfo) is read
// by locating its header (network, transport, an IPv6 extension header, a
// TCP option, an SCTP chunk) and extracting Len bits at bit offset Off, the
// way nft_payload / nft_exthdr load bytes and nft's bitwise mask and shift
// narrow them. The most used fields have hand-written loaders (ctx.go)
// reading the decoded packet; everything else goes through here.

// loaderOf returns the loader for f, or nil for layer-7 names (which match
// differently). A field only the kernel knows loads as absent: the planner
// never places such a rule in nfd (planner/kernelonly.go); `nfd replay`
// and `nfd trace` see it not match.
func loaderOf(f parser.Field) loader {
	if int(f) < len(fastLoaders) && fastLoaders[f] != nil {
		return fastLoaders[f]
	}
	fi := *f.Info()
	if fi.Userspace {
		return nil
	}
	if fi.KernelOnly != "" {
		return unknownLoader
	}
	switch fi.Base {
	case parser.BaseNH, parser.BaseTH, parser.BaseIP6Ext, parser.BaseTCPOpt, parser.BaseSCTP, parser.BaseIPOpt:
		return payloadLoader(fi)
	case parser.BaseMeta:
		if ld := metaLoader(fi); ld != nil {
			return ld
		}
	}
	return unknownLoader
}

func unknownLoader(*Ctx) (key128, bool) { return key128{}, false }

// depsOK checks the protocol dependency nft adds for a field: the network
// family, and the transport protocol with a transport header at hand.
func depsOK(c *Ctx, fam, l4 uint8) bool {
	p := c.P
	if fam != 0 && p.Family != fam {
		return false
	}
	if l4 != 0 && (!p.HasL4Proto || p.L4Proto != l4) {
		return false
	}
	return true
}

// payloadLoader builds the loader of a header field.
func payloadLoader(fi parser.FieldInfo) loader {
	fam, l4 := fi.Deps() // the locators check what nft leaves to the kernel
	off, bits := fi.Off, fi.Bits()
	locate := locator(fi)
	if fi.Exists {
		return func(c *Ctx) (key128, bool) {
			if !depsOK(c, fam, l4) {
				return key128{}, false
			}
			_, ok := locate(c)
			if ok {
				return key128{lo: 1}, true
			}
			return key128{}, true
		}
	}
	if dep := fi.TypeDep; dep != "" {
		// nft's hidden `icmp type` dependency (icmp id: echo messages),
		// a 1-byte load at the transport header: nft_payload_fast_eval,
		// which a later fragment does not stop (its byte 0 is read).
		var want [256]bool
		for i := 0; i < len(dep); i++ {
			want[dep[i]] = true
		}
		return func(c *Ctx) (key128, bool) {
			if !depsOK(c, fam, l4) {
				return key128{}, false
			}
			h, ok := locate(c)
			if !ok || len(h) < 1 || !want[h[0]] {
				return key128{}, false
			}
			return extractBits(h, off, bits)
		}
	}
	return func(c *Ctx) (key128, bool) {
		if !depsOK(c, fam, l4) {
			return key128{}, false
		}
		h, ok := locate(c)
		if !ok {
			return key128{}, false
		}
		return extractBits(h, off, bits)
	}
}

// fastPayload reports whether the kernel loads the field through
// nft_payload_fast_eval: nft loads the bytes covering the field, and
// nft_payload_select_ops() picks the fast path for 1, 2 or 4 bytes at an
// offset aligned to their length.
func fastPayload(off, bits uint32) bool {
	start := off / 8
	n := (off%8 + bits + 7) / 8
	return (n == 1 || n == 2 || n == 4) && start%n == 0
}

// locator returns the function finding the bytes a field's offset counts
// from; for options and chunks, the slice is bounded as the kernel bounds
// the copy (the TCP header, the chunk, the packet).
func locator(fi parser.FieldInfo) func(c *Ctx) ([]byte, bool) {
	switch fi.Base {
	case parser.BaseNH:
		return func(c *Ctx) ([]byte, bool) { return c.P.Bytes(), c.P.Family != 0 }
	case parser.BaseTH:
		if fastPayload(fi.Off, fi.Bits()) {
			// nft_payload_fast_eval checks NFT_PKTINFO_L4PROTO only, not
			// fragoff: a later fragment's bytes at thoff are loaded (see
			// packet.Parsed.laterFragment).
			return func(c *Ctx) ([]byte, bool) { return c.P.Transport(), c.P.HasL4Proto }
		}
		return func(c *Ctx) ([]byte, bool) {
			// nft_payload_eval's transport base: NFT_PKTINFO_L4PROTO set
			// and not a later fragment.
			if !c.P.HasL4Proto || c.P.Flags&packet.NonFirstFragment != 0 {
				return nil, false
			}
			return c.P.Transport(), true
		}
	case parser.BaseIP6Ext:
		target := uint8(fi.Key)
		return func(c *Ctx) ([]byte, bool) {
			if c.P.Family != 6 {
				return nil, false
			}
			b := c.P.Bytes()
			off, ok := packet.IPv6FindHdr(b, target)
			if !ok {
				return nil, false
			}
			// ipv6_find_hdr may point past the packet (a header
			// announced but cut off): present, with nothing to load.
			return b[min(off, len(b)):], true
		}
	case parser.BaseIPOpt:
		target := uint8(fi.Key)
		return func(c *Ctx) ([]byte, bool) {
			// nft_exthdr_ipv4_eval: the copy is bounded by the packet,
			// not by the option.
			if c.P.Family != 4 {
				return nil, false
			}
			b := c.P.Bytes()
			off, ok := packet.IPv4FindOption(b, target)
			if !ok {
				return nil, false
			}
			return b[off:], true
		}
	case parser.BaseTCPOpt:
		kind := uint8(fi.Key)
		return func(c *Ctx) ([]byte, bool) {
			if !c.P.HasL4Proto || c.P.L4Proto != packet.ProtoTCP || c.P.Flags&packet.NonFirstFragment != 0 {
				return nil, false
			}
			return packet.TCPFindOption(c.P.Transport(), kind)
		}
	case parser.BaseSCTP:
		typ := uint8(fi.Key)
		return func(c *Ctx) ([]byte, bool) {
			// pkt->tprot only: nft_exthdr_sctp_eval() does not look at
			// fragoff, so a later fragment's bytes are walked too.
			if !c.P.HasL4Proto || c.P.L4Proto != packet.ProtoSCTP {
				return nil, false
			}
			return packet.SCTPFindChunk(c.P.Transport(), typ)
		}
	}
	return func(*Ctx) ([]byte, bool) { return nil, false }
}

// extractBits reads bits bits at bit offset off of b, big-endian, as a
// right-aligned value: the kernel loads the covering bytes (failing when
// they are not all there) and nft masks and shifts.
func extractBits(b []byte, off, bits uint32) (key128, bool) {
	start := int(off / 8)
	shift := off % 8
	n := int((shift + bits + 7) / 8)
	if start+n > len(b) || n > 16 {
		return key128{}, false
	}
	var k key128
	if n == 16 {
		k = key128{hi: binary.BigEndian.Uint64(b[start:]), lo: binary.BigEndian.Uint64(b[start+8:])}
	} else {
		for _, x := range b[start : start+n] {
			k.hi = k.hi<<8 | k.lo>>56
			k.lo = k.lo<<8 | uint64(x)
		}
	}
	k = k.shr(uint(n*8) - uint(shift) - uint(bits))
	return k.and(maskBits(bits)), true
}

func (k key128) shr(s uint) key128 {
	switch {
	case s == 0:
		return k
	case s >= 64:
		return key128{lo: k.hi >> (s - 64)}
	}
	return key128{hi: k.hi >> s, lo: k.lo>>s | k.hi<<(64-s)}
}

func maskBits(bits uint32) key128 {
	switch {
	case bits >= 128:
		return key128{^uint64(0), ^uint64(0)}
	case bits > 64:
		return key128{hi: 1<<(bits-64) - 1, lo: ^uint64(0)}
	case bits == 64:
		return key128{lo: ^uint64(0)}
	}
	return key128{lo: 1<<bits - 1}
}

// metaLoader reads the meta keys nfd knows in userspace beyond the fast
// ones: meta protocol is skb->protocol, the packet's ethertype.
func metaLoader(fi parser.FieldInfo) loader {
	if fi.Name == "meta protocol" {
		return func(c *Ctx) (key128, bool) {
			switch c.P.Family {
			case 4:
				return key128{lo: 0x0800}, true
			case 6:
				return key128{lo: 0x86dd}, true
			}
			return key128{}, false
		}
	}
	return nil
}
