package conntrack

import (
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// ClearMarkBits removes bits from the mark of every connection in the
// kernel's table that carries any of them, leaving the other mark bits as
// they are. nfd uses it to revoke flow bypass: a connection whose mark
// still held a bypass bit of an old ruleset would otherwise keep being
// accepted by the kernel.
//
// Each connection is dumped with a mark filter (ctnetlink_dump_table's
// CTA_MARK/CTA_MARK_MASK) and updated with CTA_MARK 0 and CTA_MARK_MASK
// bit, which ctnetlink_change_mark applies as mark = (mark & ^bit) ^ 0: a
// masked write, so marks set by others in between are not clobbered.
// Connections that end meanwhile are skipped. It returns how many
// connections it changed.
func ClearMarkBits(bits uint32) (int, error) {
	if bits == 0 {
		return 0, nil
	}
	dc, err := ct.Dial(nil)
	if err != nil {
		return 0, fmt.Errorf("ctnetlink (needs CONFIG_NF_CT_NETLINK): %w", err)
	}
	defer dc.Close()
	uc, err := netfilter.Dial(nil)
	if err != nil {
		return 0, fmt.Errorf("ctnetlink: %w", err)
	}
	defer uc.Close()
	n := 0
	for b := uint32(1); b != 0; b <<= 1 {
		if bits&b == 0 {
			continue
		}
		flows, err := dc.DumpFilter(ct.NewFilter().Mark(b).MarkMask(b), nil)
		if err != nil {
			return n, fmt.Errorf("dumping connections with mark bit %#x: %w", b, err)
		}
		for _, f := range flows {
			if f.Mark&b == 0 {
				continue
			}
			// All of bits at once, so later dumps skip this connection.
			req, err := markUpdate(f.TupleOrig, f.Mark&bits)
			if err != nil {
				return n, err
			}
			if _, err := uc.Query(req); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue // ended since the dump
				}
				return n, fmt.Errorf("clearing mark bits %#x: %w", f.Mark&bits, err)
			}
			n++
		}
	}
	return n, nil
}

// ctnetlink attribute numbers (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	ctaTupleOrig  = 1
	ctaMark       = 8
	ctaMarkMask   = 21
	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaTupleZone  = 3
	ctaIPv4Src    = 1
	ctaIPv4Dst    = 2
	ctaIPv6Src    = 3
	ctaIPv6Dst    = 4
	ctaProtoNum   = 1
	ctaProtoSport = 2
	ctaProtoDport = 3
	ctaICMPID     = 4
	ctaICMPType   = 5
	ctaICMPCode   = 6
	ctaICMP6ID    = 7
	ctaICMP6Type  = 8
	ctaICMP6Code  = 9
	ipctnlMsgNew  = 0
)

// markUpdate builds IPCTNL_MSG_CT_NEW without NLM_F_CREATE (an update of
// the existing connection, ctnetlink_new_conntrack) that clears bits.
func markUpdate(t ct.Tuple, bits uint32) (netlink.Message, error) {
	src, dst := t.IP.SourceAddress, t.IP.DestinationAddress
	fam := netfilter.ProtoIPv4
	ip := []netfilter.Attribute{{Type: ctaIPv4Src, Data: src.Unmap().AsSlice()}, {Type: ctaIPv4Dst, Data: dst.Unmap().AsSlice()}}
	if !src.Unmap().Is4() {
		fam = netfilter.ProtoIPv6
		ip = []netfilter.Attribute{{Type: ctaIPv6Src, Data: src.AsSlice()}, {Type: ctaIPv6Dst, Data: dst.AsSlice()}}
	}
	p := t.Proto
	proto := []netfilter.Attribute{{Type: ctaProtoNum, Data: []byte{p.Protocol}}}
	switch {
	case p.Protocol == unix.IPPROTO_ICMP:
		proto = append(proto, netfilter.Attribute{Type: ctaICMPType, Data: []byte{p.ICMPType}},
			netfilter.Attribute{Type: ctaICMPCode, Data: []byte{p.ICMPCode}},
			netfilter.Attribute{Type: ctaICMPID, Data: netfilter.Uint16Bytes(p.ICMPID)})
	case p.Protocol == unix.IPPROTO_ICMPV6:
		proto = append(proto, netfilter.Attribute{Type: ctaICMP6Type, Data: []byte{p.ICMPType}},
			netfilter.Attribute{Type: ctaICMP6Code, Data: []byte{p.ICMPCode}},
			netfilter.Attribute{Type: ctaICMP6ID, Data: netfilter.Uint16Bytes(p.ICMPID)})
	default:
		proto = append(proto, netfilter.Attribute{Type: ctaProtoSport, Data: netfilter.Uint16Bytes(p.SourcePort)},
			netfilter.Attribute{Type: ctaProtoDport, Data: netfilter.Uint16Bytes(p.DestinationPort)})
	}
	tuple := []netfilter.Attribute{
		{Type: ctaTupleIP, Nested: true, Children: ip},
		{Type: ctaTupleProto, Nested: true, Children: proto},
	}
	if t.Zone != 0 {
		tuple = append(tuple, netfilter.Attribute{Type: ctaTupleZone, Data: netfilter.Uint16Bytes(t.Zone)})
	}
	attrs := []netfilter.Attribute{
		{Type: ctaTupleOrig, Nested: true, Children: tuple},
		{Type: ctaMark, Data: netfilter.Uint32Bytes(0)},
		{Type: ctaMarkMask, Data: netfilter.Uint32Bytes(bits)},
	}
	return netfilter.MarshalNetlink(netfilter.Header{
		SubsystemID: netfilter.NFSubsysCTNetlink,
		MessageType: ipctnlMsgNew,
		Family:      fam,
		Flags:       netlink.Request | netlink.Acknowledge,
	}, attrs)
}
