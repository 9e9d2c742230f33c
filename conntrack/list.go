package conntrack

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nfdproject/nfd/packet"
)

// Flow is an exported snapshot of one entry, for listing.
type Flow struct {
	Orig, Reply Tuple
	TCPState    string // "" for other protocols
	Timeout     int64  // seconds left
	Status      uint32
	Mark        uint32
	Packets     [2]uint64
	Bytes       [2]uint64
	ICMPType    uint8
	ICMPCode    uint8
	Names       Names // layer-7 names, printed after the kernel's fields
}

// List returns every live entry, sorted by original tuple for stable output.
func (t *Table) List() []Flow {
	now := t.now()
	var out []Flow
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.expires <= now || e.status&StatusDying != 0 {
				continue
			}
			orig := k
			if e.swapped {
				orig = k.Reply()
			}
			f := Flow{Orig: orig, Reply: orig.Reply(), Timeout: (e.expires - now + 999_999_999) / 1e9,
				Status: e.status, Mark: e.mark, Packets: e.pkts, Bytes: e.bytes, ICMPType: e.icmpType, ICMPCode: e.icmpCode}
			if k.Proto == packet.ProtoTCP {
				f.TCPState = e.tcpState.String()
			}
			if e.names&namesMask != 0 {
				f.Names = s.l7[k]
			}
			out = append(out, f)
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return flowKey(out[i]) < flowKey(out[j]) })
	return out
}

func flowKey(f Flow) string {
	return fmt.Sprintf("%03d%v%v%05d%05d", f.Orig.Proto, f.Orig.SrcAddr(), f.Orig.DstAddr(), f.Orig.Sport, f.Orig.Dport)
}

var protoNames = map[uint8]string{packet.ProtoTCP: "tcp", packet.ProtoUDP: "udp", packet.ProtoICMP: "icmp",
	packet.ProtoICMPv6: "icmpv6", packet.ProtoSCTP: "sctp", packet.ProtoUDPLite: "udplite", packet.ProtoGRE: "gre"}

// icmpReplyType maps a request type to its reply, as invmap[] in
// nf_conntrack_proto_icmp.c and icmpv6.
func icmpReplyType(fam, typ uint8) uint8 {
	m4 := map[uint8]uint8{8: 0, 13: 14, 15: 16, 17: 18}
	m6 := map[uint8]uint8{128: 129, 139: 140}
	if fam == 4 {
		return m4[typ]
	}
	return m6[typ]
}

// FormatFlow renders a flow the way `conntrack -L` does, with accounting.
func FormatFlow(f Flow) string {
	var b strings.Builder
	name := protoNames[f.Orig.Proto]
	if name == "" {
		name = "unknown"
	}
	fam := "ipv4"
	if f.Orig.Family == 6 {
		fam = "ipv6"
	}
	fmt.Fprintf(&b, "%-8s %d %-8s %d %d ", fam, map[string]int{"ipv4": 2, "ipv6": 10}[fam], name, f.Orig.Proto, f.Timeout)
	if f.TCPState != "" {
		b.WriteString(f.TCPState + " ")
	}
	tuple := func(t Tuple, typ uint8, i int) {
		fmt.Fprintf(&b, "src=%v dst=%v ", t.SrcAddr(), t.DstAddr())
		switch {
		case t.isICMP():
			fmt.Fprintf(&b, "type=%d code=%d id=%d ", typ, f.ICMPCode, t.Sport)
		case hasPorts(t.Proto):
			fmt.Fprintf(&b, "sport=%d dport=%d ", t.Sport, t.Dport)
		}
		fmt.Fprintf(&b, "packets=%d bytes=%d ", f.Packets[i], f.Bytes[i])
	}
	tuple(f.Orig, f.ICMPType, 0)
	if f.Status&StatusSeenReply == 0 {
		b.WriteString("[UNREPLIED] ")
	}
	tuple(f.Reply, icmpReplyType(f.Orig.Family, f.ICMPType), 1)
	if f.Status&StatusAssured != 0 {
		b.WriteString("[ASSURED] ")
	}
	fmt.Fprintf(&b, "mark=%d use=1", f.Mark)
	for i, key := range [...]string{NameSNI: "sni", NameHost: "host", NameQname: "qname"} {
		if f.Names[i] != nil {
			fmt.Fprintf(&b, " %s=%q", key, f.Names[i])
		}
	}
	return b.String()
}
