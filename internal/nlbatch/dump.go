package nlbatch

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Rule is what nfd reads back of one kernel rule: its handle and the
// values of its counter expressions, in order.
type Rule struct {
	Handle   uint64
	Counters [][2]uint64 // packets, bytes
}

// DumpRules lists the rules of one chain. The kernel restarts a rule dump
// at the chain's first rule for every message buffer it fills
// (nf_tables_dump_rules skips s_idx rules), and sizes that buffer by the
// reader's largest recvmsg (netlink_dump: max_recvmsg_len, at most 32
// KiB); google/nftables reads with page-sized buffers, which makes a
// 10^5-rule chain take ~3000 rounds and tens of seconds. Reading with a
// large buffer makes it ~8x fewer rounds, and nothing here decodes more
// than handles and counters.
func DumpRules(netnsFd int, family byte, table, chain string) ([]Rule, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFd})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(chain + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	req := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump, Sequence: 1},
		Data: append([]byte{family, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	if _, err := c.Send(req); err != nil {
		return nil, err
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out []Rule
	done := false
	var perr error
	if err := readMessages(raw, make([]byte, 256<<10), func() bool { return !done && perr == nil }, func(m nlmsg) bool {
		typ, body := m.typ, m.body
		switch {
		case typ == unix.NLMSG_DONE:
			done = true
		case typ == unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if e := -int32(binary.NativeEndian.Uint32(body)); e != 0 {
					perr = unix.Errno(e)
				}
			}
			done = true
		case typ == unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE && len(body) > 4:
			r, err := parseRule(body[4:])
			if err != nil {
				perr = err
				return false
			}
			out = append(out, r)
		}
		return true
	}); err != nil {
		return nil, err
	}
	if perr != nil {
		return nil, fmt.Errorf("dumping rules of %s %s: %w", table, chain, perr)
	}
	return out, nil
}

func parseRule(b []byte) (Rule, error) {
	var r Rule
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return r, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_HANDLE:
			r.Handle = ad.Uint64()
		case unix.NFTA_RULE_EXPRESSIONS:
			ad.Nested(func(list *netlink.AttributeDecoder) error {
				for list.Next() {
					list.Nested(func(e *netlink.AttributeDecoder) error {
						name := ""
						var data []byte
						for e.Next() {
							switch e.Type() {
							case unix.NFTA_EXPR_NAME:
								name = e.String()
							case unix.NFTA_EXPR_DATA:
								data = e.Bytes()
							}
						}
						if name == "counter" {
							var ctr [2]uint64
							cd, err := netlink.NewAttributeDecoder(data)
							if err == nil {
								cd.ByteOrder = binary.BigEndian
								for cd.Next() {
									switch cd.Type() {
									case unix.NFTA_COUNTER_PACKETS:
										ctr[0] = cd.Uint64()
									case unix.NFTA_COUNTER_BYTES:
										ctr[1] = cd.Uint64()
									}
								}
							}
							r.Counters = append(r.Counters, ctr)
						}
						return nil
					})
				}
				return nil
			})
		}
	}
	return r, ad.Err()
}

// readMessages reads datagrams from raw into buf while more says so,
// calling f for each message in them (eachMessage). It returns a read's
// error; f reports its own through what it closes over.
func readMessages(raw syscall.RawConn, buf []byte, more func() bool, f func(m nlmsg) bool) error {
	for more() {
		var rerr error
		err := raw.Read(func(fd uintptr) bool {
			n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			if err == unix.EAGAIN {
				return false
			}
			if err != nil {
				rerr = err
				return true
			}
			eachMessage(buf[:n], f)
			return true
		})
		if err != nil {
			return err
		}
		if rerr != nil {
			return rerr
		}
	}
	return nil
}
