package nlbatch

import (
	"encoding/binary"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TestCtDirection: a conntrack expression with a direction reaches the
// kernel as nft sends it, whatever google/nftables marshals: the key
// CtDir encoded, the direction in the attribute's first byte (the kernel
// reads a u8), and a plain direction made one byte too.
func TestCtDirection(t *testing.T) {
	for _, c := range []struct {
		ct       expr.Ct
		key, dir uint32
	}{
		{expr.Ct{Key: expr.CtKeySRC, Register: 1, Direction: CtDir(unix.NFT_CT_DST_IP6, 1)}, unix.NFT_CT_DST_IP6, 1},
		{expr.Ct{Key: expr.CtKeySRC, Register: 1, Direction: CtDir(expr.CtKeyPKTS, 0)}, unix.NFT_CT_PKTS, 0},
		{expr.Ct{Key: expr.CtKeyPROTODST, Register: 1, Direction: 1}, unix.NFT_CT_PROTO_DST, 1},
	} {
		b := New()
		tbl := &nftables.Table{Name: "t", Family: nftables.TableFamilyINet}
		ct := c.ct
		b.Conn().AddRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: "c", Table: tbl}, Exprs: []expr.Any{&ct}})
		b.Tag("rule")
		msgs, _, err := b.Messages()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%d messages, %v", len(msgs), err)
		}
		var key, dir []byte
		eachAttr(msgs[0].Data[4:], func(typ uint16, rule []byte) {
			if typ != unix.NFTA_RULE_EXPRESSIONS {
				return
			}
			eachAttr(rule, func(_ uint16, elem []byte) {
				eachAttr(elem, func(typ uint16, data []byte) {
					if typ != unix.NFTA_EXPR_DATA {
						return
					}
					eachAttr(data, func(typ uint16, v []byte) {
						switch typ {
						case unix.NFTA_CT_KEY:
							key = v
						case unix.NFTA_CT_DIRECTION:
							dir = v
						}
					})
				})
			})
		})
		if len(key) != 4 || binary.BigEndian.Uint32(key) != c.key {
			t.Errorf("%+v: key attribute %x, want %d", c.ct, key, c.key)
		}
		if len(dir) == 0 || uint32(dir[0]) != c.dir {
			t.Errorf("%+v: direction attribute %x, want first byte %d", c.ct, dir, c.dir)
		}
	}
}
