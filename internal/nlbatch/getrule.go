package nlbatch

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// GetRules reads the rules of one chain with the given handles, in that
// order, without dumping the chain: one NFT_MSG_GETRULE per handle (the
// kernel finds each by handle, nf_tables_getrule → nft_rule_lookup), all
// in one datagram. A chain dump restarts at the chain's head for every
// buffer it fills, which at 10^5 rules costs the kernel seconds; a few
// rules by handle cost it a list walk each. A handle the chain does not
// hold is an error (ENOENT): the caller's idea of the chain is stale.
func GetRules(netnsFd int, family byte, table, chain string, handles []uint64) ([]Rule, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFd})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var reqs []netlink.Message
	for i, h := range handles {
		var hb [8]byte
		binary.BigEndian.PutUint64(hb[:], h)
		attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
			{Type: unix.NFTA_RULE_TABLE, Data: []byte(table + "\x00")},
			{Type: unix.NFTA_RULE_CHAIN, Data: []byte(chain + "\x00")},
			{Type: unix.NFTA_RULE_HANDLE, Data: hb[:]},
		})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
				Flags: netlink.Request, Sequence: uint32(i + 1)},
			Data: append([]byte{family, unix.NFNETLINK_V0, 0, 0}, attrs...),
		})
	}
	if _, err := c.SendMessages(reqs); err != nil {
		return nil, err
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	out := make([]Rule, len(handles))
	got := 0
	var perr error
	if err := readMessages(raw, make([]byte, 64<<10), func() bool { return got < len(handles) && perr == nil }, func(m nlmsg) bool {
		i := int(m.seq) - 1
		if i < 0 || i >= len(handles) {
			return true // not an answer to these requests
		}
		switch {
		case m.typ == unix.NLMSG_ERROR:
			e := int32(0)
			if len(m.body) >= 4 {
				e = -int32(binary.NativeEndian.Uint32(m.body))
			}
			if e != 0 {
				perr = fmt.Errorf("rule handle %d: %w", handles[i], unix.Errno(e))
				return false
			}
		case m.typ == unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE && len(m.body) > 4:
			r, err := parseRule(m.body[4:])
			if err != nil {
				perr = err
				return false
			}
			if r.Handle != handles[i] {
				perr = fmt.Errorf("asked for rule handle %d, the kernel answered with %d", handles[i], r.Handle)
				return false
			}
			out[i] = r
			got++
		}
		return true
	}); err != nil {
		return nil, err
	}
	if perr != nil {
		return nil, fmt.Errorf("reading rules of %s %s: %w", table, chain, perr)
	}
	return out, nil
}
