package rules

import (
	"encoding/binary"
	"fmt"
	"math/rand"

	"github.com/nfdproject/nfd/packet/checksum"
)

// Packets for the field-table oracle (fields_oracle_test.go): IPv4 with
// and without options, IPv6 with extension-header chains, every transport
// nft has fields for, with option lists, chunk lists and cut-short
// headers. Every packet is one the receiving stack hands to the prerouting
// hook: IPv4 headers have a good checksum and a total length that fits,
// IPv6 hop-by-hop options are valid TLVs (ip6_rcv_core parses them first).

var (
	ofSrc4 = [4]byte{10, 88, 0, 1}
	ofDst4 = [4]byte{10, 88, 0, 2}
	ofSrc6 = [16]byte{0xfd, 0x88, 15: 1}
	ofDst6 = [16]byte{0xfd, 0x88, 15: 2}
)

type opktGen struct{ r *rand.Rand }

func (g *opktGen) n(k int) int           { return g.r.Intn(k) }
func (g *opktGen) chance(p float64) bool { return g.r.Float64() < p }
func (g *opktGen) u8() byte              { return byte(g.r.Intn(256)) }
func (g *opktGen) u16() uint16           { return uint16(g.r.Intn(1 << 16)) }
func (g *opktGen) u32() uint32           { return g.r.Uint32() }
func (g *opktGen) bytes(n int) []byte {
	b := make([]byte, n)
	g.r.Read(b)
	return b
}

// port is a port often from a small set, so port values repeat.
func (g *opktGen) port() uint16 {
	if g.chance(0.6) {
		return []uint16{22, 53, 80, 443, 1000, 5060}[g.n(6)]
	}
	return g.u16()
}

// tcpOptions writes an option list of at most 40 bytes: well-formed
// options, NOPs, EOL, unknown kinds, malformed lengths (0, 1, running past
// the header), an option ending exactly at the header's end.
func (g *opktGen) tcpOptions() []byte {
	var o []byte
	n := g.n(6)
	for i := 0; i < n && len(o) < 40; i++ {
		var opt []byte
		switch g.n(14) {
		case 0:
			opt = []byte{2, 4, 0, 0}
			binary.BigEndian.PutUint16(opt[2:], []uint16{1460, 1400, 536, g.u16()}[g.n(4)])
		case 1:
			opt = []byte{3, 3, byte(g.n(15))}
		case 2:
			opt = []byte{4, 2}
		case 3:
			k := 1 + g.n(4)
			opt = append([]byte{5, byte(2 + 8*k)}, g.bytes(8*k)...)
		case 4:
			opt = append([]byte{8, 10}, g.bytes(8)...)
		case 5:
			opt = []byte{1}
		case 6:
			opt = []byte{0}
		case 7:
			opt = append([]byte{19, 18}, g.bytes(16)...)
		case 8:
			l := 4 + g.n(8)
			opt = append([]byte{30, byte(l)}, g.bytes(l-2)...)
		case 9:
			l := 2 + g.n(10)
			opt = append([]byte{34, byte(l)}, g.bytes(l-2)...)
		case 10:
			l := 2 + g.n(6)
			opt = append([]byte{byte(253 + g.n(2)), byte(l)}, g.bytes(l-2)...)
		case 11: // malformed length 0 or 1
			opt = []byte{[]byte{2, 3, 8, 5}[g.n(4)], byte(g.n(2)), g.u8(), g.u8()}
		case 12: // a length running past the header
			opt = []byte{[]byte{2, 8, 5, 3}[g.n(4)], byte(20 + g.n(40)), g.u8(), g.u8()}
		case 13: // garbage
			opt = g.bytes(1 + g.n(6))
		}
		o = append(o, opt...)
	}
	if len(o) > 40 {
		o = o[:40]
	}
	for len(o)%4 != 0 {
		o = append(o, []byte{0, 1, g.u8()}[g.n(3)])
	}
	return o
}

func (g *opktGen) tcp() []byte {
	opts := g.tcpOptions()
	t := make([]byte, 20+len(opts))
	binary.BigEndian.PutUint16(t[0:], g.port())
	binary.BigEndian.PutUint16(t[2:], g.port())
	binary.BigEndian.PutUint32(t[4:], g.u32())
	binary.BigEndian.PutUint32(t[8:], g.u32())
	doff := byte(len(t) / 4)
	if g.chance(0.05) {
		doff = byte(g.n(16)) // bogus data offset
	}
	t[12] = doff<<4 | byte(g.n(16))&map[bool]byte{true: 0xf, false: 0}[g.chance(0.2)]
	t[13] = []byte{0x02, 0x12, 0x10, 0x18, 0x11, 0x04, g.u8()}[g.n(7)]
	binary.BigEndian.PutUint16(t[14:], g.u16())
	binary.BigEndian.PutUint16(t[16:], g.u16())
	binary.BigEndian.PutUint16(t[18:], []uint16{0, g.u16()}[g.n(2)])
	copy(t[20:], opts)
	return append(t, g.bytes(g.n(24))...)
}

func (g *opktGen) udp() []byte {
	t := make([]byte, 8)
	binary.BigEndian.PutUint16(t[0:], g.port())
	binary.BigEndian.PutUint16(t[2:], g.port())
	t = append(t, g.bytes(g.n(30))...)
	binary.BigEndian.PutUint16(t[4:], uint16(len(t)))
	if g.chance(0.2) {
		binary.BigEndian.PutUint16(t[4:], g.u16())
	}
	binary.BigEndian.PutUint16(t[6:], g.u16())
	return t
}

func (g *opktGen) udplite() []byte {
	t := g.udp()
	binary.BigEndian.PutUint16(t[4:], []uint16{0, 8, uint16(len(t)), g.u16()}[g.n(4)])
	return t
}

// sctpChunk writes one chunk of type typ with a body of n bytes.
func (g *opktGen) sctpChunk(typ byte, n int) []byte {
	c := append([]byte{typ, g.u8(), 0, 0}, g.bytes(n)...)
	binary.BigEndian.PutUint16(c[2:], uint16(len(c)))
	for len(c)%4 != 0 {
		c = append(c, 0)
	}
	return c
}

func (g *opktGen) sctp() []byte {
	t := make([]byte, 12)
	binary.BigEndian.PutUint16(t[0:], g.port())
	binary.BigEndian.PutUint16(t[2:], g.port())
	binary.BigEndian.PutUint32(t[4:], g.u32())
	binary.BigEndian.PutUint32(t[8:], g.u32())
	n := 1 + g.n(4)
	for i := 0; i < n; i++ {
		switch g.n(12) {
		case 0:
			t = append(t, g.sctpChunk(0, 12+g.n(9))...) // DATA
		case 1:
			t = append(t, g.sctpChunk(byte(1+g.n(2)), 16+4*g.n(2))...) // INIT, INIT ACK
		case 2:
			t = append(t, g.sctpChunk(3, 12+4*g.n(3))...) // SACK
		case 3:
			t = append(t, g.sctpChunk(byte(4+g.n(11)), 4*g.n(3))...) // heartbeat ... shutdown-complete
		case 4:
			t = append(t, g.sctpChunk([]byte{128, 192, 193, 132, 130}[g.n(5)], 4+g.n(8))...)
		case 5: // zero-length chunk
			t = append(t, byte(g.n(16)), 0, 0, 0)
		case 6: // truncated: length runs past the packet
			c := g.sctpChunk(byte(g.n(4)), 4+g.n(12))
			binary.BigEndian.PutUint16(c[2:], uint16(len(c)+4+g.n(40)))
			t = append(t, c...)
		case 7: // a chunk shorter than its fixed fields
			c := g.sctpChunk(byte(g.n(14)), g.n(8))
			t = append(t, c...)
		case 8: // odd length, padded
			t = append(t, g.sctpChunk(byte(g.n(14)), 1+2*g.n(5))...)
		default:
			t = append(t, g.sctpChunk(byte(g.n(15)), 4+4*g.n(4))...)
		}
	}
	if g.chance(0.1) {
		t = append(t, g.bytes(1+g.n(3))...) // a stray tail shorter than a chunk header
	}
	return t
}

func (g *opktGen) dccp() []byte {
	t := make([]byte, 16)
	binary.BigEndian.PutUint16(t[0:], g.port())
	binary.BigEndian.PutUint16(t[2:], g.port())
	t[4] = 4
	t[5] = g.u8()
	binary.BigEndian.PutUint16(t[6:], g.u16())
	t[8] = byte(g.n(8))<<5 | byte(g.n(16))<<1 | byte(g.n(2))
	copy(t[9:], g.bytes(7))
	return append(t, g.bytes(g.n(12))...)
}

func (g *opktGen) icmp(v6 bool) []byte {
	t := make([]byte, 8)
	if v6 {
		t[0] = []byte{1, 2, 3, 4, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143, g.u8()}[g.n(16)]
	} else {
		t[0] = []byte{0, 3, 4, 5, 8, 11, 12, 13, 14, 17, 18, g.u8()}[g.n(12)]
	}
	t[1] = []byte{0, 1, 4, g.u8()}[g.n(4)]
	copy(t[2:], g.bytes(6))
	if g.chance(0.3) {
		t[4], t[5] = 0, 0 // small id / mtu values repeat
	}
	return append(t, g.bytes(g.n(32))...)
}

func (g *opktGen) igmp() []byte {
	t := []byte{[]byte{0x11, 0x12, 0x16, 0x17, 0x22, g.u8()}[g.n(6)], g.u8(), 0, 0, 224, 0, 0, byte(1 + g.n(250))}
	if g.chance(0.3) {
		t = append(t, g.bytes(4+g.n(8))...)
	}
	binary.BigEndian.PutUint16(t[2:], checksum.Checksum(0, t))
	return t
}

// ah returns an AH header (RFC 4302) with next header next: 12 bytes plus
// an ICV; its length field counts 4-byte words minus 2.
func (g *opktGen) ah(next byte) []byte {
	icv := 4 * g.n(4)
	h := make([]byte, 12+icv)
	h[0] = next
	h[1] = byte((12+icv)/4 - 2)
	binary.BigEndian.PutUint16(h[2:], []uint16{0, g.u16()}[g.n(2)])
	binary.BigEndian.PutUint32(h[4:], g.u32())
	binary.BigEndian.PutUint32(h[8:], g.u32())
	copy(h[12:], g.bytes(icv))
	return h
}

// transport returns an upper-layer protocol number and its bytes.
func (g *opktGen) transport(v6 bool) (byte, []byte) {
	switch g.n(14) {
	case 0, 1, 2:
		return 6, g.tcp()
	case 3, 4:
		return 17, g.udp()
	case 5:
		return 136, g.udplite()
	case 6, 7:
		return 132, g.sctp()
	case 8:
		return 33, g.dccp()
	case 9:
		if v6 {
			return 58, g.icmp(true)
		}
		return 1, g.icmp(false)
	case 10:
		if v6 {
			return 58, g.icmp(true)
		}
		return 2, g.igmp()
	case 11:
		return 50, append(g.bytes(8), g.bytes(g.n(32))...) // ESP: spi, sequence, data
	case 12:
		p, t := g.transport(v6)
		if p == 51 {
			return p, t
		}
		return 51, append(g.ah(p), t...)
	}
	// IPComp: next header, flags, CPI; or another protocol
	if g.chance(0.5) {
		p, t := []byte{6, 17, 4}[g.n(3)], g.bytes(8+g.n(16))
		return 108, append([]byte{p, g.u8(), byte(g.n(2)), g.u8()}, t...)
	}
	return []byte{47, 103, 200}[g.n(3)], g.bytes(g.n(24))
}

// cut shortens a packet by up to n bytes past its network header, the way
// pktgen.Opts.Cut does (the length fields are fixed afterwards).
func (g *opktGen) cut(l4 []byte) []byte {
	if len(l4) == 0 || !g.chance(0.12) {
		return l4
	}
	return l4[:g.n(len(l4))]
}

// ipv4Options writes an option area (a multiple of 4 bytes, at most 40).
func (g *opktGen) ipv4Options() []byte {
	var o []byte
	n := g.n(4)
	for i := 0; i < n; i++ {
		switch g.n(9) {
		case 0: // record route: ptr 4, room for 1 or 2 addresses
			k := 1 + g.n(2)
			o = append(o, append([]byte{7, byte(3 + 4*k), []byte{4, 8, byte(4 + 4*k), g.u8()}[g.n(4)]}, g.bytes(4*k)...)...)
		case 1, 2: // loose / strict source route
			k := 1 + g.n(2)
			o = append(o, append([]byte{[]byte{131, 137}[g.n(2)], byte(3 + 4*k), []byte{4, 8, byte(4 + 4*k), g.u8()}[g.n(4)]}, g.bytes(4*k)...)...)
		case 3: // router alert
			o = append(o, 148, 4, 0, byte(g.n(2)))
		case 4: // timestamp
			o = append(o, append([]byte{68, 12, 5, 0}, g.bytes(8)...)...)
		case 5:
			o = append(o, 1)
		case 6:
			o = append(o, 0)
		case 7: // a malformed length
			o = append(o, []byte{7, 131, 148, 68}[g.n(4)], byte(g.n(3)), 4)
		case 8: // garbage
			o = append(o, g.bytes(1+g.n(4))...)
		}
	}
	if len(o) > 40 {
		o = o[:40]
	}
	for len(o)%4 != 0 {
		o = append(o, []byte{0, 1}[g.n(2)])
	}
	return o
}

func (g *opktGen) v4() ([]byte, string) {
	var opts []byte
	if g.chance(0.35) {
		opts = g.ipv4Options()
	}
	proto, l4 := g.transport(false)
	l4 = g.cut(l4)
	ihl := 20 + len(opts)
	b := make([]byte, ihl+len(l4))
	b[0] = 0x40 | byte(ihl/4)
	b[1] = []byte{0, 0x10, 0xb8, g.u8()}[g.n(4)]
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], g.u16())
	var ff uint16
	desc := "v4"
	switch g.n(8) {
	case 0:
		ff = 0x2000 // first fragment
		desc += " first-frag"
	case 1:
		ff = uint16(1+g.n(200)) | []uint16{0, 0x2000}[g.n(2)] // later fragment
		desc += " later-frag"
	case 2:
		ff = 0x4000 // DF
	}
	binary.BigEndian.PutUint16(b[6:], ff)
	b[8] = []byte{1, 64, 255, g.u8()}[g.n(4)]
	b[9] = proto
	copy(b[12:], ofSrc4[:])
	copy(b[16:], ofDst4[:])
	copy(b[20:], opts)
	binary.BigEndian.PutUint16(b[10:], checksum.Checksum(0, b[:ihl]))
	copy(b[ihl:], l4)
	return b, fmt.Sprintf("%s opts=%d proto=%d", desc, len(opts), proto)
}

// hbhOptions is a valid TLV area of words*8-2 bytes, as ip6_parse_tlv
// accepts it: pad bytes zero, at most 7 of them in a row; router alert
// and unknown options whose type says skip.
func (g *opktGen) hbhOptions(words int) []byte {
	var o []byte
	size := words*8 - 2
	for size-len(o) > 7 {
		if g.chance(0.4) {
			o = append(o, 5, 2, 0, byte(g.n(2))) // router alert
		} else {
			o = append(o, 0x1e, 4, g.u8(), g.u8(), g.u8(), g.u8()) // unknown, skip
		}
	}
	switch rest := size - len(o); {
	case rest == 1:
		o = append(o, 0)
	case rest >= 2:
		o = append(o, 1, byte(rest-2))
		o = append(o, make([]byte, rest-2)...)
	}
	return o
}

// ext6 returns an extension header of type typ with next header next.
func (g *opktGen) ext6(typ, next byte, first bool) []byte {
	switch typ {
	case 0, 60: // hop-by-hop, destination options
		words := 1 + g.n(2)
		h := append([]byte{next, byte(words - 1)}, g.hbhOptions(words)...)
		if !first && typ == 60 && g.chance(0.2) {
			copy(h[2:], g.bytes(len(h)-2)) // anything goes after prerouting
		}
		return h
	case 43:
		switch g.n(3) {
		case 0: // type 0: n addresses
			n := 1 + g.n(2)
			h := []byte{next, byte(2 * n), 0, byte(g.n(n + 1)), 0, 0, 0, 0}
			if g.chance(0.3) {
				copy(h[4:], g.bytes(4))
			}
			for i := 0; i < n; i++ {
				a := ofDst6
				a[14] = g.u8()
				h = append(h, a[:]...)
			}
			return h
		case 1: // type 2: one home address
			h := []byte{next, 2, 2, 1, 0, 0, 0, byte(g.n(2))}
			a := ofSrc6
			a[13] = g.u8()
			return append(h, a[:]...)
		default: // type 4, segment routing
			n := 1 + g.n(2)
			h := []byte{next, byte(2 * n), 4, byte(g.n(n + 1)), byte(n - 1), g.u8(), g.u8(), g.u8()}
			for i := 0; i < n; i++ {
				a := ofDst6
				a[12] = g.u8()
				h = append(h, a[:]...)
			}
			return h
		}
	case 44:
		return nil // placed by the caller
	case 51:
		return g.ah(next)
	}
	return nil
}

func (g *opktGen) v6() ([]byte, string) {
	var chain []byte
	if g.chance(0.3) {
		chain = append(chain, 0)
	}
	n := g.n(4)
	for i := 0; i < n; i++ {
		chain = append(chain, []byte{43, 44, 60, 60, 51, 0}[g.n(6)])
	}
	var proto byte
	var l4 []byte
	switch g.n(10) {
	case 0: // mobility header
		proto = 135
		words := 1 + g.n(3)
		l4 = append([]byte{59, byte(words - 1), byte(g.n(14)), g.u8()}, g.bytes(words*8-4)...)
	case 1:
		proto = 59
		l4 = g.bytes(g.n(16))
	default:
		proto, l4 = g.transport(true)
	}
	fragOff, more := uint16(0), false
	desc := "v6"
	for _, c := range chain {
		if c == 44 {
			if g.chance(0.5) {
				fragOff = uint16(1 + g.n(100))
				desc += " later-frag"
			} else {
				desc += " first-frag"
			}
			more = g.chance(0.5)
		}
	}
	// Build from the upper layer back.
	body := g.cut(l4)
	next := proto
	for i := len(chain) - 1; i >= 0; i-- {
		var h []byte
		if chain[i] == 44 {
			h = make([]byte, 8)
			h[0] = next
			h[1] = g.u8() & map[bool]byte{true: 0xff, false: 0}[g.chance(0.1)]
			binary.BigEndian.PutUint16(h[2:], fragOff<<3|uint16(g.n(4))<<1&map[bool]uint16{true: 6, false: 0}[g.chance(0.1)]|map[bool]uint16{true: 1, false: 0}[more])
			binary.BigEndian.PutUint32(h[4:], g.u32())
		} else {
			h = g.ext6(chain[i], next, i == 0)
		}
		body = append(h, body...)
		next = chain[i]
	}
	if g.chance(0.08) && len(body) > 0 && (len(chain) == 0 || chain[0] != 0) {
		// cut inside the extension headers (not a leading hop-by-hop
		// header: ip6_rcv_core would drop the packet before prerouting)
		body = body[:g.n(len(body))]
	}
	b := make([]byte, 40+len(body))
	b[0] = 0x60 | byte(g.n(16))&map[bool]byte{true: 0xf, false: 0}[g.chance(0.3)]
	b[1] = g.u8() & map[bool]byte{true: 0xff, false: 0}[g.chance(0.3)]
	if g.chance(0.3) {
		b[2], b[3] = g.u8(), g.u8()
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(body)))
	b[6] = next
	b[7] = []byte{1, 64, 255, g.u8()}[g.n(4)]
	copy(b[8:], ofSrc6[:])
	copy(b[24:], ofDst6[:])
	copy(b[40:], body)
	return b, fmt.Sprintf("%s chain=%v proto=%d", desc, chain, proto)
}

// oraclePackets returns n packets, about half IPv4.
func oraclePackets(r *rand.Rand, n int) (pkts [][]byte, descs []string) {
	g := &opktGen{r}
	for i := 0; i < n; i++ {
		var b []byte
		var d string
		if g.chance(0.45) {
			b, d = g.v4()
		} else {
			b, d = g.v6()
		}
		pkts = append(pkts, b)
		descs = append(descs, d)
	}
	return pkts, descs
}
