package nlbatch

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Conntrack keys with a direction, which google/nftables v0.3.0 cannot
// express: it sends NFTA_CT_DIRECTION only with NFT_CT_SRC, NFT_CT_DST,
// NFT_CT_PROTO_SRC and NFT_CT_PROTO_DST, and as a big-endian u32 where
// the kernel reads a u8 (nft_ct_get_init: nla_get_u8), so every direction
// arrives as 0, original. A rule that wants `ct reply ip saddr` writes
//
//	&expr.Ct{Key: expr.CtKeySRC, Register: r, Direction: nlbatch.CtDir(key, dir)}
//
// and the batch rewrites the recorded message: the key becomes key, the
// direction one byte, as nft sends them (libnftnl's ct expression).

const ctDirMagic = 0x5a000000

// CtDir encodes the real key and direction (0 original, 1 reply) of a
// conntrack expression for the batch to rewrite.
func CtDir(key expr.CtKey, dir uint8) uint32 {
	return ctDirMagic | uint32(key)<<8 | uint32(dir)
}

// fixCtDirections rewrites, in place, the conntrack expressions of a
// NEWRULE message: each direction becomes the one byte the kernel reads,
// and a key encoded by CtDir becomes that key. Attribute lengths do not
// change.
func fixCtDirections(m *netlink.Message) {
	if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE) || len(m.Data) < 4 {
		return
	}
	eachAttr(m.Data[4:], func(typ uint16, rule []byte) {
		if typ != unix.NFTA_RULE_EXPRESSIONS {
			return
		}
		eachAttr(rule, func(_ uint16, elem []byte) {
			var name string
			var data []byte
			eachAttr(elem, func(typ uint16, b []byte) {
				switch typ {
				case unix.NFTA_EXPR_NAME:
					name = string(b)
				case unix.NFTA_EXPR_DATA:
					data = b
				}
			})
			if name != "ct\x00" || data == nil {
				return
			}
			var key, dir []byte
			eachAttr(data, func(typ uint16, b []byte) {
				switch typ {
				case unix.NFTA_CT_KEY:
					key = b
				case unix.NFTA_CT_DIRECTION:
					dir = b
				}
			})
			if len(dir) != 4 {
				return
			}
			v := binary.BigEndian.Uint32(dir)
			d := byte(v)
			if v&0xff000000 == ctDirMagic && len(key) == 4 {
				binary.BigEndian.PutUint32(key, v>>8&0xffff)
			}
			dir[0], dir[1], dir[2], dir[3] = d, 0, 0, 0
		})
	})
}

// eachAttr calls f with the type (flags cleared) and payload of each
// netlink attribute in b; the payload aliases b.
func eachAttr(b []byte, f func(typ uint16, data []byte)) {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < 4 || n > len(b) {
			return
		}
		f(binary.NativeEndian.Uint16(b[2:4])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER), b[4:n])
		n = (n + 3) &^ 3
		if n > len(b) {
			return
		}
		b = b[n:]
	}
}

// fixKeyByteOrder marks a set of host-order keys (marks, lengths,
// interface names) as such in its userdata, as nft does
// (NFTNL_UDATA_SET_KEYBYTEORDER 1): google/nftables v0.3.0 writes 2,
// big-endian, for every anonymous set whatever its KeyByteOrder. Only
// nft reads it, to print the elements; the kernel compares bytes.
func (b *Batch) fixKeyByteOrder(m *netlink.Message) {
	if len(b.hostSets) == 0 || m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWSET) || len(m.Data) < 4 {
		return
	}
	var id uint32
	var udata []byte
	eachAttr(m.Data[4:], func(typ uint16, v []byte) {
		switch typ {
		case unix.NFTA_SET_ID:
			if len(v) == 4 {
				id = binary.BigEndian.Uint32(v)
			}
		case unix.NFTA_SET_USERDATA:
			udata = v
		}
	})
	if !b.hostSets[id] {
		return
	}
	// libnftnl's udata: one byte type, one byte length, the value.
	for len(udata) >= 2 {
		typ, n := udata[0], int(udata[1])
		if 2+n > len(udata) {
			return
		}
		if typ == udataSetKeyByteOrder && n == 4 {
			binary.LittleEndian.PutUint32(udata[2:6], udataHostEndian)
		}
		udata = udata[2+n:]
	}
}

const (
	udataSetKeyByteOrder = 0 // NFTNL_UDATA_SET_KEYBYTEORDER
	udataHostEndian      = 1 // nft's BYTEORDER_HOST_ENDIAN
)
