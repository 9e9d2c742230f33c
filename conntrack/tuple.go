// Package conntrack is nfd's userspace connection tracking table. It answers
// `ct state`, `ct status`, `ct direction` and `ct mark` as the kernel's
// nf_conntrack would, because on kernels without NETLINK_GLUE_CT NFQUEUE
// hands over no conntrack information.
package conntrack

import (
	"encoding/binary"
	"net/netip"

	"github.com/nfdproject/nfd/packet"
)

// Tuple identifies one direction of a connection. It is packed, comparable
// and pointer-free, so it is a map key that costs no allocation. For ICMP,
// Sport holds the echo id and Dport is zero in both directions.
type Tuple struct {
	Src, Dst     [16]byte
	Sport, Dport uint16
	Proto        uint8
	Family       uint8 // 4 or 6
}

// Reply returns the tuple of the other direction.
func (t Tuple) Reply() Tuple {
	r := t
	r.Src, r.Dst = t.Dst, t.Src
	if !t.isICMP() {
		r.Sport, r.Dport = t.Dport, t.Sport
	}
	return r
}

func (t Tuple) isICMP() bool {
	return t.Proto == packet.ProtoICMP || t.Proto == packet.ProtoICMPv6
}

// hasPorts reports whether the protocol's tuple carries ports, as the
// kernel's per-protocol tuple functions decide.
func hasPorts(proto uint8) bool {
	switch proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP:
		return true
	}
	return false
}

// canonical returns the one key both directions of a connection share, and
// whether t had to be reversed to get it.
func (t Tuple) canonical() (Tuple, bool) {
	r := t.Reply()
	if less(r, t) {
		return r, true
	}
	return t, false
}

func less(a, b Tuple) bool {
	if c := compare16(a.Src, b.Src); c != 0 {
		return c < 0
	}
	return a.Sport < b.Sport
}

func compare16(a, b [16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// SrcAddr and DstAddr return the addresses as netip values.
func (t Tuple) SrcAddr() netip.Addr { return addr(t.Family, t.Src) }
func (t Tuple) DstAddr() netip.Addr { return addr(t.Family, t.Dst) }

func addr(fam uint8, b [16]byte) netip.Addr {
	if fam == 4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// TupleOf builds a tuple from addresses and ports, for callers outside the
// packet path (kernel events, CLI filters).
func TupleOf(proto uint8, src, dst netip.Addr, sport, dport uint16) Tuple {
	t := Tuple{Proto: proto, Sport: sport, Dport: dport, Family: 6}
	if src.Is4() {
		t.Family = 4
		s, d := src.As4(), dst.As4()
		copy(t.Src[:], s[:])
		copy(t.Dst[:], d[:])
	} else {
		t.Src, t.Dst = src.As16(), dst.As16()
	}
	if !hasPorts(proto) && !t.isICMP() {
		t.Sport, t.Dport = 0, 0
	}
	if t.isICMP() {
		t.Dport = 0
	}
	return t
}

// tupleFromPacket fills t from a decoded packet; false when the packet has
// no trackable layer 4 (as nf_ct_get_tuple() failing).
func tupleFromPacket(p *packet.Parsed, t *Tuple) bool {
	if p.Family == 0 || !p.HasL4Proto || p.Flags&(packet.BadHeader|packet.NonFirstFragment|packet.ExtHdrLimit) != 0 {
		return false
	}
	*t = Tuple{Src: p.Src, Dst: p.Dst, Proto: p.L4Proto, Family: p.Family}
	switch {
	case hasPorts(p.L4Proto):
		if !p.HasTransport(4) {
			return false
		}
		t.Sport, t.Dport = p.Sport, p.Dport
	case t.isICMP():
		if !p.HasTransport(packet.ICMPMinSize) {
			return false
		}
		t.Sport = p.ICMPID
	case p.L4Proto == packet.ProtoGRE:
		// gre_pkt_to_tuple(): a version 1 (PPTP) header of 8 bytes or
		// more whose protocol is not PPP has no tuple; any other GRE
		// packet is tracked as the generic protocol would be. (The call
		// id a PPP one keys on is not kept: nfd tracks one PPTP flow per
		// address pair.)
		if g := p.Transport(); len(g) >= 8 && binary.BigEndian.Uint16(g)&7 == 1 && binary.BigEndian.Uint16(g[2:]) != 0x880b {
			return false
		}
	}
	return true
}

// hash spreads a key over the shards.
func (t *Tuple) hash() uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h ^= v
		h *= 1099511628211
		h ^= h >> 29
	}
	for i := 0; i < 16; i += 8 {
		mix(le64(t.Src[i:]))
		mix(le64(t.Dst[i:]))
	}
	mix(uint64(t.Sport)<<32 | uint64(t.Dport)<<16 | uint64(t.Proto)<<8 | uint64(t.Family))
	return h
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
