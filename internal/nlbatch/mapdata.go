package nlbatch

import (
	"encoding/binary"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A data map's userdata as nft writes it where `nft list` needs it:
// NFTNL_UDATA_SET_DATA_INTERVAL 1 for data that are ranges (`dnat ip to
// ip saddr . tcp dport map { ... : 10.141.10.0/24 . 8888-8999 }`; nft
// 1.0.6 crashes listing an address . port range map without it) and
// NFTNL_UDATA_SET_DATABYTEORDER 1 for host-order data (marks; nft prints
// them byte-swapped otherwise). google/nftables v0.3.0 writes neither. A
// set whose Comment is MapDataComment(...) gets, in place of that
// comment, the entries it asks for, each a host-order u32 1 as libnftnl
// writes them. The kernel does not read userdata.

// MapDataComment is the Comment that asks for the data interval and the
// host byte order marks; no comment nft can parse is one.
func MapDataComment(interval, host bool) string {
	var f byte
	if interval {
		f |= 1
	}
	if host {
		f |= 2
	}
	return string([]byte{1, 2, 0x10 | f})
}

const (
	udataSetDataByteOrder = 1 // NFTNL_UDATA_SET_DATABYTEORDER
	udataSetDataInterval  = 6 // NFTNL_UDATA_SET_DATA_INTERVAL
	udataSetComment       = 7 // NFTNL_UDATA_SET_COMMENT
)

// fixMapData rewrites the marked comment of a NEWSET message.
func fixMapData(m *netlink.Message) {
	if m.Header.Type != nftMsg(unix.NFT_MSG_NEWSET) || len(m.Data) < 4 {
		return
	}
	as := parseAttrs(m.Data[4:])
	changed := false
	for i, a := range as {
		if a.typ&typeMask != unix.NFTA_SET_USERDATA {
			continue
		}
		if u, ok := mapDataUdata(a.data); ok {
			as[i].data, changed = u, true
		}
	}
	if changed {
		m.Data = append(m.Data[:4:4], marshalAttrs(as)...)
	}
}

// mapDataUdata is udata with a MapDataComment replaced by the entries it
// asks for, in libnftnl's order (key byte order, data byte order, ...,
// data interval).
func mapDataUdata(udata []byte) ([]byte, bool) {
	type entry struct {
		typ byte
		val []byte
	}
	var es []entry
	flags := -1
	for b := udata; len(b) >= 2; {
		t, n := b[0], int(b[1])
		if 2+n > len(b) {
			return nil, false
		}
		v := b[2 : 2+n]
		if t == udataSetComment && n == 4 && v[0] == 1 && v[1] == 2 && v[2]&0xf0 == 0x10 && v[3] == 0 {
			flags = int(v[2] & 0x0f)
		} else {
			es = append(es, entry{t, v})
		}
		b = b[2+n:]
	}
	if flags < 0 {
		return nil, false
	}
	one := binary.NativeEndian.AppendUint32(nil, 1)
	var out []byte
	put := func(t byte, v []byte) { out = append(append(out, t, byte(len(v))), v...) }
	wroteOrder := false
	for _, e := range es {
		put(e.typ, e.val)
		if e.typ == udataSetKeyByteOrder && flags&2 != 0 {
			put(udataSetDataByteOrder, one)
			wroteOrder = true
		}
	}
	if flags&2 != 0 && !wroteOrder {
		put(udataSetDataByteOrder, one)
	}
	if flags&1 != 0 {
		put(udataSetDataInterval, one)
	}
	return out, true
}
