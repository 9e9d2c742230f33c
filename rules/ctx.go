// Package rules compiles a parsed ruleset into an immutable engine that
// decides, for a packet seen at a hook, what nftables would decide: base
// chains in priority order, first terminal verdict wins, jumps, gotos,
// returns, policies, and the non-terminal statements in order.
package rules

import (
	"encoding/binary"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// Ctx is one packet at one hook, and the evaluation's scratch state. The
// caller owns it and reuses it across packets: evaluating allocates nothing.
type Ctx struct {
	P    *packet.Parsed
	Hook parser.Hook
	// Interface names, zero-padded as the kernel's IFNAMSIZ buffers.
	IifName, OifName [16]byte
	HasIif, HasOif   bool
	Mark             uint32 // meta mark; statements may change it
	CT               conntrack.Result
	CtMark           uint32 // ct mark; starts as CT.Mark, statements may change it
	// PktType is skb->pkt_type (0 host, 1 broadcast, 2 multicast, 3
	// other) when the caller knows it (HasPktType); NFQUEUE does not
	// deliver it, so the planner runs `meta pkttype` rules only natively
	// (hooks/kernelonly.go) and nothing here guesses it.
	PktType    uint8
	HasPktType bool

	// Interface indexes (NFQA_IFINDEX_*), which `iif`/`oif` compare: nft
	// resolves their names to indexes at load. 0 when there is none.
	Iif, Oif uint32

	// Set by evaluation.
	MarkChanged   bool
	CtMarkChanged bool
	// Cont is where the kernel goes on after the verdict Continue.
	Cont ContKey
	// Assumed is the first rule only the kernel can evaluate that an
	// offline engine (Options.Offline) assumed not to match, or nil.
	Assumed *RuleInfo

	l7done  uint8           // which packet names were extracted (1<<conntrack.Name*)
	l7      conntrack.Names // the packet's own names, by kind
	qbuf    [packet.MaxNameLen + 2]byte
	hbuf    [packet.MaxNameLen + 2]byte
	scratch [64]byte
	stack   [parser.MaxJumpDepth + 1]frame // the jump stack, reused
}

// Reset prepares the context for a packet. CT and interfaces are set by
// the caller afterwards.
func (c *Ctx) Reset(p *packet.Parsed, hook parser.Hook) {
	c.P, c.Hook = p, hook
	c.HasIif, c.HasOif = false, false
	c.IifName, c.OifName = [16]byte{}, [16]byte{}
	c.Iif, c.Oif = 0, 0
	c.Mark, c.CtMark = 0, 0
	c.CT = conntrack.Result{}
	c.PktType, c.HasPktType = 0, false
	c.MarkChanged, c.CtMarkChanged = false, false
	c.Assumed = nil
	c.l7done = 0
	c.l7 = conntrack.Names{}
}

// SetIif and SetOif record the interfaces by name.
func (c *Ctx) SetIif(name string) {
	c.IifName = [16]byte{}
	copy(c.IifName[:15], name)
	c.HasIif = true
}
func (c *Ctx) SetOif(name string) {
	c.OifName = [16]byte{}
	copy(c.OifName[:15], name)
	c.HasOif = true
}

// key128 holds a field value of up to 16 bytes, right-aligned big-endian,
// so comparing keys compares values.
type key128 struct{ hi, lo uint64 }

func keyOf(b []byte) key128 {
	switch {
	case len(b) <= 8:
		return key128{lo: parser.Uint(b)}
	case len(b) == 16:
		return key128{hi: binary.BigEndian.Uint64(b), lo: binary.BigEndian.Uint64(b[8:])}
	}
	return key128{}
}

func (k key128) and(m key128) key128 { return key128{k.hi & m.hi, k.lo & m.lo} }

func (k key128) xor(m key128) key128 { return key128{k.hi ^ m.hi, k.lo ^ m.lo} }

func (k key128) less(o key128) bool { return k.hi < o.hi || k.hi == o.hi && k.lo < o.lo }

func (k key128) isZero() bool { return k.hi == 0 && k.lo == 0 }

// put writes the key's low n bytes big-endian into b.
func (k key128) put(b []byte, n int) {
	if n == 16 {
		binary.BigEndian.PutUint64(b, k.hi)
		binary.BigEndian.PutUint64(b[8:], k.lo)
		return
	}
	v := k.lo
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

type loader func(c *Ctx) (key128, bool)

func be16(b []byte) uint64 { return uint64(binary.BigEndian.Uint16(b)) }
func be32(b []byte) uint64 { return uint64(binary.BigEndian.Uint32(b)) }

func addr16(b *[16]byte) key128 {
	return key128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

func ifkey(b *[16]byte) key128 { return addr16(b) }

// hasThoff is the kernel's condition for loading from the transport header:
// the protocol is known and the packet is not a later fragment.
func hasThoff(p *packet.Parsed, n int) bool { return p.HasL4Proto && p.HasTransport(n) }

// loaders read each field the way the kernel's expressions do: a field
// that is not there (wrong family, wrong protocol, a later fragment, a
// truncated header, no interface at this hook, no conntrack entry) makes
// the match fail whatever the operator.
var fastLoaders = [...]loader{
	parser.FieldIPSaddr: func(c *Ctx) (key128, bool) { return key128{lo: be32(c.P.Src[:4])}, c.P.Family == 4 },
	parser.FieldIPDaddr: func(c *Ctx) (key128, bool) { return key128{lo: be32(c.P.Dst[:4])}, c.P.Family == 4 },
	parser.FieldIPProtocol: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.NetProto)}, c.P.Family == 4
	},
	parser.FieldIPTTL:    func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.P.TTL)}, c.P.Family == 4 },
	parser.FieldIPLength: func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.P.IPLen)}, c.P.Family == 4 },
	parser.FieldIP6Saddr: func(c *Ctx) (key128, bool) { return addr16(&c.P.Src), c.P.Family == 6 },
	parser.FieldIP6Daddr: func(c *Ctx) (key128, bool) { return addr16(&c.P.Dst), c.P.Family == 6 },
	parser.FieldIP6Nexthdr: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.NetProto)}, c.P.Family == 6
	},
	parser.FieldIP6Hoplimit: func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.P.TTL)}, c.P.Family == 6 },
	parser.FieldTCPSport: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.Sport)}, c.P.L4Proto == packet.ProtoTCP && hasThoff(c.P, 2)
	},
	parser.FieldTCPDport: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.Dport)}, c.P.L4Proto == packet.ProtoTCP && hasThoff(c.P, 4)
	},
	parser.FieldTCPFlags: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.TCPFlags)}, c.P.L4Proto == packet.ProtoTCP && hasThoff(c.P, 14)
	},
	parser.FieldUDPSport: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.Sport)}, c.P.L4Proto == packet.ProtoUDP && hasThoff(c.P, 2)
	},
	parser.FieldUDPDport: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.Dport)}, c.P.L4Proto == packet.ProtoUDP && hasThoff(c.P, 4)
	},
	// th reads transport bytes 0-3 of any protocol, without a dependency,
	// as nft's raw transport header expression does.
	parser.FieldTHSport: func(c *Ctx) (key128, bool) {
		if !hasThoff(c.P, 2) {
			return key128{}, false
		}
		return key128{lo: be16(c.P.Transport())}, true
	},
	parser.FieldTHDport: func(c *Ctx) (key128, bool) {
		if !hasThoff(c.P, 4) {
			return key128{}, false
		}
		return key128{lo: be16(c.P.Transport()[2:])}, true
	},
	parser.FieldICMPType: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.ICMPType)}, c.P.Family == 4 && c.P.L4Proto == packet.ProtoICMP && hasThoff(c.P, 1)
	},
	parser.FieldICMPCode: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.ICMPCode)}, c.P.Family == 4 && c.P.L4Proto == packet.ProtoICMP && hasThoff(c.P, 2)
	},
	parser.FieldICMP6Type: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.ICMPType)}, c.P.Family == 6 && c.P.L4Proto == packet.ProtoICMPv6 && hasThoff(c.P, 1)
	},
	parser.FieldICMP6Code: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.P.ICMPCode)}, c.P.Family == 6 && c.P.L4Proto == packet.ProtoICMPv6 && hasThoff(c.P, 2)
	},
	parser.FieldMetaL4proto: func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.P.L4Proto)}, c.P.HasL4Proto },
	parser.FieldMetaNfproto: func(c *Ctx) (key128, bool) {
		switch c.P.Family {
		case 4:
			return key128{lo: 2}, true
		case 6:
			return key128{lo: 10}, true
		}
		return key128{}, false
	},
	// A hook without that interface (no output interface at prerouting and
	// input, no input interface at output and postrouting) does not break
	// the match: nft_meta_get_eval stores ifindex 0 (nft_meta_store_ifindex)
	// or an empty name (nft_meta_store_ifname), so `oifname != "x"`
	// matches there. Reset clears the names, so a missing one is empty.
	parser.FieldMetaIif:     func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.Iif)}, true },
	parser.FieldMetaOif:     func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.Oif)}, true },
	parser.FieldMetaIifname: func(c *Ctx) (key128, bool) { return ifkey(&c.IifName), true },
	parser.FieldMetaOifname: func(c *Ctx) (key128, bool) { return ifkey(&c.OifName), true },
	parser.FieldMetaMark:    func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.Mark)}, true },
	parser.FieldMetaLength:  func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.P.Len())}, true },
	parser.FieldMetaPkttype: func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.PktType)}, c.HasPktType },
	parser.FieldCtState: func(c *Ctx) (key128, bool) {
		return key128{lo: uint64(c.CT.State)}, c.CT.State != 0
	},
	parser.FieldCtStatus:    func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.CT.Status)}, c.CT.Found },
	parser.FieldCtMark:      func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.CtMark)}, c.CT.Found },
	parser.FieldCtDirection: func(c *Ctx) (key128, bool) { return key128{lo: uint64(c.CT.Dir)}, c.CT.Found },
	parser.FieldTLSSNI:      nil,
	parser.FieldHTTPHost:    nil,
	parser.FieldDNSQname:    nil,
}

// l7Name returns the layer-7 name for f: the connection's, once conntrack
// recorded one (names are flow properties, see conntrack/names.go), else
// the packet's own.
func (c *Ctx) l7Name(f parser.Field) []byte {
	kind := conntrack.NameSNI
	switch f {
	case parser.FieldHTTPHost:
		kind = conntrack.NameHost
	case parser.FieldDNSQname:
		kind = conntrack.NameQname
	}
	if n := c.CT.Names[kind]; n != nil {
		return n
	}
	return c.packetName(kind)
}

// packetName extracts the packet's name of a kind, once per packet.
func (c *Ctx) packetName(kind int) []byte {
	bit := uint8(1) << kind
	if c.l7done&bit == 0 {
		c.l7done |= bit
		p := c.P
		switch {
		case kind == conntrack.NameSNI && p.L4Proto == packet.ProtoTCP:
			c.l7[kind] = packet.TLSServerName(p.Payload())
		case kind == conntrack.NameHost && p.L4Proto == packet.ProtoTCP:
			c.l7[kind] = packet.HTTPHost(p.Payload())
		case kind == conntrack.NameQname && p.L4Proto == packet.ProtoUDP:
			c.l7[kind] = packet.DNSQueryName(p.Payload(), &c.qbuf)
		}
	}
	return c.l7[kind]
}

// LearnNames records in t, after evaluation, the layer-7 names this packet
// carries that its connection has not recorded yet, of the kinds e's rules
// match, so that later packets of the flow match by them. It allocates
// once per named connection, never per packet.
func (c *Ctx) LearnNames(e *Engine, t *conntrack.Table) {
	names, ok := c.newNames(e.NameKinds)
	if !ok {
		return
	}
	for k, n := range names {
		if n != nil {
			t.SetName(c.CT.Key, k, n)
		}
	}
}

// KnowsNames reports whether the connection has a recorded name of every
// kind in kinds (a bitmask of 1<<conntrack.Name*), or this packet carries
// it (LearnNames then records it). Names never change once recorded, so a
// rule on such names has the same outcome for every later packet of the
// flow; without the name it may still match once the name arrives.
func (c *Ctx) KnowsNames(kinds uint8) bool {
	if kinds == 0 {
		return true
	}
	if !c.CT.Found {
		return false
	}
	for k := range c.CT.Names {
		if kinds&(1<<k) == 0 || c.P.L4Proto != nameProto(k) {
			continue // a UDP flow never gets a TLS name: nothing to wait for
		}
		if c.CT.Names[k] == nil && c.packetName(k) == nil {
			return false
		}
	}
	return true
}

// nameProto is the transport a name of kind k travels on (packetName).
func nameProto(k int) uint8 {
	if k == conntrack.NameQname {
		return packet.ProtoUDP
	}
	return packet.ProtoTCP
}

// newNames returns the names of the kinds in kinds (a bitmask of
// 1<<conntrack.Name*) that this packet carries and its connection lacks.
func (c *Ctx) newNames(kinds uint8) (out conntrack.Names, any bool) {
	if kinds == 0 || !c.CT.Found || len(c.P.Payload()) == 0 {
		return out, false
	}
	for k := range out {
		if kinds&(1<<k) != 0 && c.CT.Names[k] == nil {
			out[k] = c.packetName(k)
			any = any || out[k] != nil
		}
	}
	return out, any
}

// loadBytes writes field f's value (f.Type().Size bytes) into dst, for
// concatenated keys.
func (c *Ctx) loadBytes(f parser.Field, dst []byte) bool {
	k, ok := loaderOf(f)(c)
	if !ok {
		return false
	}
	k.put(dst, f.Type().Size)
	return true
}
