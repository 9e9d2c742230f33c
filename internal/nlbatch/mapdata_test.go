package nlbatch

import (
	"bytes"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestFixMapData: the marker comment becomes the userdata entries nft
// writes (`nft --debug=mnl`: a mark map's 01 04 01 00 00 00, an address
// . port range map's 06 04 01 00 00 00); other comments stay.
func TestFixMapData(t *testing.T) {
	key := []byte{0, 4, 1, 0, 0, 0}
	comment := func(c string) []byte { return append([]byte{udataSetComment, byte(len(c) + 1)}, c+"\x00"...) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, c := range []struct {
		name        string
		udata, want []byte
	}{
		{"interval", cat(key, comment(MapDataComment(true, false))), cat(key, []byte{6, 4, 1, 0, 0, 0})},
		{"host", cat(key, comment(MapDataComment(false, true))), cat(key, []byte{1, 4, 1, 0, 0, 0})},
		{"both", cat(key, comment(MapDataComment(true, true))), cat(key, []byte{1, 4, 1, 0, 0, 0}, []byte{6, 4, 1, 0, 0, 0})},
		{"a user's comment", cat(key, comment("abc")), cat(key, comment("abc"))},
	} {
		data := marshalAttrs([]attr{{unix.NFTA_SET_NAME, []byte("__map%d\x00")}, {unix.NFTA_SET_USERDATA, c.udata}, {unix.NFTA_SET_ID, []byte{0, 0, 0, 1}}})
		m := netlink.Message{Header: netlink.Header{Type: nftMsg(unix.NFT_MSG_NEWSET)}, Data: append([]byte{2, 0, 0, 0}, data...)}
		fixMapData(&m)
		var got []byte
		as := parseAttrs(m.Data[4:])
		for _, a := range as {
			if a.typ == unix.NFTA_SET_USERDATA {
				got = a.data
			}
		}
		if !bytes.Equal(got, c.want) || len(as) != 3 || as[2].typ != unix.NFTA_SET_ID {
			t.Errorf("%s: udata % x: got % x (%d attributes), want % x", c.name, c.udata, got, len(as), c.want)
		}
	}
}
