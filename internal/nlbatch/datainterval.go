package nlbatch

import (
	"bytes"
	"encoding/binary"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Maps whose data are intervals (`dnat ip to ip saddr . tcp dport map {
// ... : 10.141.10.0/24 . 8888-8999 }`): nft marks them
// NFTNL_UDATA_SET_DATA_INTERVAL in the set's userdata and reads the mark
// back to print the data as ranges (nft 1.0.6 crashes listing an address
// . port interval map without it). google/nftables v0.3.0 cannot write
// it; a set whose Comment is DataIntervalComment gets, in place of that
// comment, the mark as nft writes it (a host-order u32 1). The kernel
// does not read userdata.

// DataIntervalComment is the Comment that asks for the mark; no comment
// nft can parse is this.
const DataIntervalComment = "\x01\x02\x03"

const (
	udataSetComment      = 7 // NFTNL_UDATA_SET_COMMENT
	udataSetDataInterval = 6 // NFTNL_UDATA_SET_DATA_INTERVAL
)

// fixDataInterval rewrites the marked comment of a NEWSET message.
func fixDataInterval(m *netlink.Message) {
	if m.Header.Type != nftMsg(unix.NFT_MSG_NEWSET) || len(m.Data) < 4 {
		return
	}
	eachAttr(m.Data[4:], func(typ uint16, udata []byte) {
		if typ != unix.NFTA_SET_USERDATA {
			return
		}
		// libnftnl's udata: one byte type, one byte length, the value.
		for len(udata) >= 2 {
			t, n := udata[0], int(udata[1])
			if 2+n > len(udata) {
				return
			}
			if t == udataSetComment && n == len(DataIntervalComment)+1 && bytes.Equal(udata[2:2+n], []byte(DataIntervalComment+"\x00")) {
				udata[0] = udataSetDataInterval
				binary.NativeEndian.PutUint32(udata[2:6], 1)
			}
			udata = udata[2+n:]
		}
	})
}
