package nlbatch

import (
	"bytes"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestFixDataInterval: the marked comment becomes nft's
// NFTNL_UDATA_SET_DATA_INTERVAL (06 04 01 00 00 00, as `nft --debug=mnl`
// shows for an address . port range map); other comments stay.
func TestFixDataInterval(t *testing.T) {
	for _, c := range []struct {
		udata, want []byte
	}{
		{append([]byte{0, 4, 2, 0, 0, 0, udataSetComment, 4}, DataIntervalComment+"\x00"...), []byte{0, 4, 2, 0, 0, 0, 6, 4, 1, 0, 0, 0}},
		{append([]byte{0, 4, 2, 0, 0, 0, udataSetComment, 4}, "abc\x00"...), append([]byte{0, 4, 2, 0, 0, 0, udataSetComment, 4}, "abc\x00"...)},
	} {
		data := marshalAttrs([]attr{{unix.NFTA_SET_NAME, []byte("__map%d\x00")}, {unix.NFTA_SET_USERDATA, append([]byte(nil), c.udata...)}})
		m := netlink.Message{Header: netlink.Header{Type: nftMsg(unix.NFT_MSG_NEWSET)}, Data: append([]byte{2, 0, 0, 0}, data...)}
		fixDataInterval(&m)
		var got []byte
		for _, a := range parseAttrs(m.Data[4:]) {
			if a.typ == unix.NFTA_SET_USERDATA {
				got = a.data
			}
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("udata % x: got % x, want % x", c.udata, got, c.want)
		}
	}
}
