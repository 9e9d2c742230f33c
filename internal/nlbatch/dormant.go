package nlbatch

import (
	"encoding/binary"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Dormant tables: google/nftables v0.3.0's AddTable always sends
// NFTA_TABLE_FLAGS 0 (which wakes a dormant table, as nft does when a
// file drops the flag). A table marked here gets NFT_TABLE_F_DORMANT in
// its NEWTABLE message instead: its chains stay unregistered.

const nftTableFDormant = 0x1 // NFT_TABLE_F_DORMANT

// MarkDormant makes the next NEWTABLE of table name in family dormant.
func (b *Batch) MarkDormant(family byte, name string) {
	if b.dormant == nil {
		b.dormant = map[string]bool{}
	}
	b.dormant[string(family)+name] = true
}

func (b *Batch) fixDormant(m *netlink.Message) {
	if len(b.dormant) == 0 || m.Header.Type != nftMsg(unix.NFT_MSG_NEWTABLE) || len(m.Data) < 4 {
		return
	}
	var name string
	var flags []byte
	eachAttr(m.Data[4:], func(typ uint16, v []byte) {
		switch typ {
		case unix.NFTA_TABLE_NAME:
			if n := len(v); n > 0 && v[n-1] == 0 {
				name = string(v[:n-1])
			}
		case unix.NFTA_TABLE_FLAGS:
			flags = v
		}
	})
	if len(flags) == 4 && b.dormant[string(m.Data[0])+name] {
		binary.BigEndian.PutUint32(flags, binary.BigEndian.Uint32(flags)|nftTableFDormant)
	}
}
