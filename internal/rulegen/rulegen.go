// Package rulegen writes random valid rulesets and packets, for the
// engine's differential test and the kernel oracle tests.
package rulegen

import (
	"fmt"
	"math/rand"
	"net/netip"
	"strings"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/pktgen"
)

// Gen writes random but valid rulesets and packets for differential and
// oracle tests.
type Gen struct {
	R *rand.Rand
	// For the kernel oracle: a counter before every verdict, base chains at
	// hook, no reject, and packets to the given local addresses.
	Counted  bool
	Hook     string
	NoReject bool
	Dst4     string
	Dst6     string
	Iif      string
	// Wide: packets with every TCP flag combination, IPv6 extension
	// headers and AH, IPv4 options and cut-short transport headers.
	Wide bool
	// UserspaceForms: also forms nfd's offload leaves in userspace
	// (concatenations with prefixes and ranges: nfd programs no pipapo
	// sets; interval sets of host-order fields).
	UserspaceForms bool
}

func (g *Gen) pick(xs ...string) string { return xs[g.R.Intn(len(xs))] }

// match returns a random match for a table of family fam, with the
// network and transport protocol it implies, so a rule never mixes ip with
// ip6 or tcp with udp (the parser refuses that, as nft does).
func (g *Gen) match(fam string) (m, l3, l4 string) {
	v4 := func() string {
		return g.pick("10.0.0.1", "10.0.0.2", "10.0.1.0/24", "10.0.0.0/8", "{ 10.0.0.1, 10.0.0.3 }", "10.0.0.1-10.0.0.2",
			"!= { 10.0.0.1, 10.0.1.0/24 }", "!= 10.0.0.0-10.0.0.2", "& 255.255.255.0 == 10.0.0.0", "& 0.0.0.3 != 0.0.0.1")
	}
	v6 := func() string {
		return g.pick("2001:db8::1", "2001:db8::/64", "{ 2001:db8::2, 2001:db8::3 }", "!= { 2001:db8::1, 2001:db8:1::/48 }",
			"2001:db8::1-2001:db8::2", "& ffff:ffff:ffff:: == 2001:db8::", "& ::3 != ::1")
	}
	port := func() string {
		return g.pick("22", "80", "{ 22, 53, 80 }", "1-100", "!= 22", "< 80", ">= 53", "{ 443, 1000-2000 }",
			"!= { 22, 80 }", "!= 1-100", "{ 22-23, 80 }", "& 0xff00 == 0x0", "& 0xff == 22", "& 0x1 != 0x0")
	}
	mark := func() string {
		return g.pick("0x1", "0x2", "{ 0x0, 0x3 }", "& 0x1 == 0x1", "& 0x2 != 0x0", "!= { 0x1, 0x2 }", "0x1-0x2",
			"!= 0x1-0x2", "& 0x3 { 0x1, 0x2 }", "& 0x3 != { 0x1, 0x2 }", "& 0x3 0x1-0x2", "> 0x1", "& 0x3 > 0x1")
	}
	icmpType := func(v6 bool) string {
		n := fmt.Sprint(g.R.Intn(256))
		if v6 {
			return g.pick(n, "echo-request", "{ 1, 2, 128 }", "1-4", "!= echo-request", "{ nd-neighbor-solicit, mld-listener-query }", "!= 128-136")
		}
		return g.pick(n, "echo-request", "{ echo-reply, echo-request }", "3-11", "!= echo-request", "& 0xf0 == 0x0", "!= { 0, 8 }")
	}
	code := func() string { return g.pick("0", "!= 0", "{ 0, 1 }", "!= { 0, 1 }", "1-3") }
	type opt struct {
		l3, l4 string
		f      func() string
	}
	opts := []opt{
		{"", "tcp", func() string { return "tcp dport " + port() }},
		{"", "tcp", func() string { return "tcp sport " + port() }},
		{"", "udp", func() string { return "udp dport " + port() }},
		{"", "udp", func() string { return "udp sport " + port() }},
		{"", "th", func() string { return "th dport " + port() }},
		{"", "th", func() string { return "th sport " + port() }},
		{"", "tcp", func() string { return "meta l4proto tcp" }},
		{"", "udp", func() string { return "meta l4proto udp" }},
		{"", "l4set", func() string {
			// nft takes a set's last protocol as the context: combine
			// with nothing that names a protocol.
			return "meta l4proto " + g.pick("{ tcp, icmp }", "!= udp", "51", "esp", "comp", "59", "{ 43, 44, 60 }", "!= 135",
				"{ esp, comp, ah }", "!= { esp, comp }", "{ 132, 136, 33, 47 }", "1-17")
		}},
		{"", "tcp", func() string {
			// Every operator form nft's evaluator treats differently:
			// implicit (any bit), & mask implicit (==), value / mask,
			// ==, !=, sets, ordering.
			return "tcp flags " + g.pick("syn", "& (syn | ack) == syn", "== ack", "{ syn, ack }", "fin,rst", "!= syn",
				"& (fin | syn | rst | ack) syn", "& syn 0", "& (syn | ack) != syn", "syn / fin,syn,rst,ack",
				"!= syn / syn,ack", "syn,ack", "syn | ack", "!= syn,ack", "{ syn, syn | ack }", "!= { syn, ack }",
				"& (syn | ack) { syn, ack }", "> syn", "& (syn | rst) < rst", "0", "& (syn|ack) != 0", "!= 0")
		}},
		{"", "", func() string {
			return "ct state " + g.pick("new", "established,related", "invalid", "{ new, established }", "!= new",
				"& established == established", "& (new|established) != 0", "untracked", "!= invalid")
		}},
		{"", "", func() string { return "ct mark " + mark() }},
		{"", "", func() string { return "meta mark " + mark() }},
		{"", "", func() string { return "ct status " + g.pick("assured", "!= dnat", "seen-reply", "confirmed") }},
		{"", "", func() string { return "ct direction " + g.pick("original", "reply", "!= original") }},
		{"", "", func() string { return "ct mark . meta mark " + g.pick("{ 0x1 . 0x1 }", "{ 0x0 . 0x0, 0x2 . 0x1 }") }},
		{"", "", func() string { return "iifname " + g.pick(`"eth0"`, `"eth*"`, `{ "lo", "wg0" }`, `!= "eth1"`, `"k0"`) }},
		// No output interface before routing: an empty name, not a break.
		{"", "", func() string {
			return "oifname " + g.pick(`"eth0"`, `!= "eth1"`, `!= { "lo", "k0" }`, `"k*"`, `!= "k*"`)
		}},
		{"", "", func() string {
			if g.UserspaceForms && g.R.Intn(6) == 0 {
				return "meta length { 40, 60-70 }"
			}
			return "meta length " + g.pick("< 100", "> 60", "40-80", "!= 40-80", "& 0x1 == 0x1", "{ 40, 60, 70 }")
		}},
	}
	if fam == "inet" {
		opts = append(opts, opt{"ip", "", func() string { return "meta nfproto ipv4" }},
			opt{"ip6", "", func() string { return "meta nfproto ipv6" }},
			opt{"", "l4set", func() string {
				return "meta nfproto . meta l4proto " + g.pick("{ ipv4 . tcp, ipv6 . udp }", "{ ipv6 . 51, ipv4 . esp }")
			}},
			opt{"", "l4set", func() string { return "meta l4proto . th dport { tcp . 22, udp . 53 }" }})
	}
	if fam != "ip6" {
		opts = append(opts,
			opt{"ip", "", func() string { return "ip saddr " + v4() }},
			opt{"ip", "", func() string { return "ip daddr " + v4() }},
			opt{"ip", "tcp", func() string { return "ip protocol tcp" }},
			opt{"ip", "l4set", func() string { return "ip protocol " + g.pick("!= { esp, comp }", "{ 1, 6, 17 }", "50-51", "comp") }},
			opt{"ip", "", func() string { return "ip ttl " + g.pick("64", "!= 1-10", "& 0x1 == 0x0") }},
			opt{"ip", "", func() string { return "ip length " + g.pick("> 100", "40-60", "!= 40") }},
			opt{"ip", "icmp", func() string { return "icmp type " + icmpType(false) }},
			opt{"ip", "icmp", func() string { return "icmp code " + code() }},
			opt{"ip", "tcp", func() string {
				if g.UserspaceForms && g.R.Intn(2) == 0 {
					return "ip saddr . tcp dport != { 10.0.0.0/24 . 1-100 }"
				}
				return "ip saddr . tcp dport " + g.pick("{ 10.0.0.1 . 22, 10.0.0.2 . 80 }", "{ 10.0.0.1 . 22 }", "!= { 10.0.0.1 . 22 }")
			}},
			opt{"ip", "", func() string {
				if g.UserspaceForms {
					return "ip saddr . ip daddr { 10.0.0.0/24 . 10.88.0.2, 10.0.1.7 . 10.0.0.9 }"
				}
				return "ip saddr . ip daddr { 10.0.0.1 . 10.88.0.2, 10.0.1.7 . 10.0.0.9 }"
			}},
			opt{"ip", "tcp", func() string { return "ip saddr . tcp dport . ip daddr { 10.0.0.1 . 22 . 10.88.0.2 }" }},
			opt{"ip", "", func() string { return `iifname . ip saddr { "k0" . 10.0.0.1, "eth0" . 10.0.0.2 }` }},
			opt{"ip", "", func() string { return "ip saddr @v4s" }},
		)
	}
	if fam != "ip" {
		opts = append(opts,
			opt{"ip6", "", func() string { return "ip6 saddr " + v6() }},
			opt{"ip6", "", func() string { return "ip6 daddr " + v6() }},
			opt{"ip6", "", func() string { return "ip6 nexthdr " + g.pick("33-44", "!= tcp", "!= { esp, comp }") }},
			opt{"ip6", "l4set", func() string { return "ip6 nexthdr " + g.pick("{ 0, 60 }", "ah", "{ 0, 43, 44, 51, 60 }") }},
			opt{"ip6", "", func() string { return "ip6 hoplimit " + g.pick("{ 1, 64 }", "!= 64", "< 2") }},
			opt{"ip6", "icmpv6", func() string { return "icmpv6 type " + icmpType(true) }},
			opt{"ip6", "icmpv6", func() string { return "icmpv6 code " + code() }},
			opt{"ip6", "udp", func() string {
				if g.UserspaceForms {
					return "ip6 saddr . udp dport { 2001:db8::1 . 53, 2001:db8::/64 . 22 }"
				}
				return "ip6 saddr . udp dport { 2001:db8::1 . 53, 2001:db8::3 . 22 }"
			}},
		)
	}
	// Binary operations on the left (| ^ & and their chains) and the
	// header fields beyond addresses and ports (with Wide: the
	// differential test's reference evaluator knows neither).
	if !g.Wide {
		o := opts[g.R.Intn(len(opts))]
		return o.f(), o.l3, o.l4
	}
	opts = append(opts,
		opt{"", "", func() string {
			return g.pick("meta mark | 0x1 == 0x3", "meta mark ^ 0x1 == 0x0", "meta mark & 0x3 ^ 0x1 == 0x0",
				"meta mark | 0x4 { 0x4, 0x5 }", "ct mark ^ 0x1 == 0x0", "ct mark | 0x2 != 0x2", "ct mark & 0xf0 | 0x1 == 0x1",
				"meta length | 0x1 == 0x29", "meta mark xor 0x1 != 0x2")
		}},
		opt{"", "tcp", func() string {
			return g.pick("tcp flags ^ syn == ack", "tcp flags | ack == syn|ack", "tcp dport ^ 0x1 != 23",
				"tcp window > 1000", "tcp urgptr 0", "tcp sequence { 0, 7 }", "tcp ackseq != 0", "tcp doff 5", "tcp doff != 5",
				"tcp checksum 0", "tcp sequence & 0xff == 0x7")
		}},
		opt{"", "udp", func() string {
			return g.pick("udp sport | 0x1 == 53", "udp length > 20", "udp length 8-30", "udp checksum != 0")
		}},
		opt{"", "th", func() string { return g.pick("th dport ^ 0x1 == 23", "th sport | 0x100 == 0x116") }},
	)
	if fam != "ip6" {
		opts = append(opts,
			opt{"ip", "", func() string {
				return g.pick("ip dscp cs1", "ip dscp != 0", "ip ecn not-ect", "ip ecn { ect0, ce }", "ip id 0x1234",
					"ip frag-off & 0x1fff != 0", "ip version 4", "ip hdrlength 5", "ip hdrlength > 5", "ip checksum 0",
					"ip saddr | 0.0.0.1 == 10.0.0.1", "ip saddr ^ 10.0.0.0 == 0.0.0.1", "ip ttl ^ 0xff == 0xbf")
			}},
			// Not icmp id / sequence: nft makes them depend on an echo
			// type, which nfd's field table does not (reported).
			opt{"ip", "icmp", func() string { return g.pick("icmp type ^ 8 == 0", "icmp code | 1 == 1") }},
		)
	}
	if fam != "ip" {
		opts = append(opts,
			opt{"ip6", "", func() string {
				return g.pick("ip6 flowlabel 0", "ip6 flowlabel != 0", "ip6 length > 40", "ip6 length 20-60", "ip6 dscp 0",
					"ip6 dscp cs1", "ip6 ecn not-ect", "ip6 ecn ce", "ip6 version 6", "ip6 hoplimit | 1 == 65")
			}},
			opt{"ip6", "icmpv6", func() string { return g.pick("icmpv6 type ^ 128 == 0", "icmpv6 code | 1 == 1") }},
		)
	}
	o := opts[g.R.Intn(len(opts))]
	return o.f(), o.l3, o.l4
}

func compatible(a, b string) bool {
	if (a == "l4set" || b == "l4set") && a != "" && b != "" {
		return false
	}
	icmp := func(x string) bool { return x == "icmp" || x == "icmpv6" }
	return a == "" || b == "" || a == b || (a == "th" && !icmp(b)) || (b == "th" && !icmp(a))
}

func (g *Gen) rule(fam string, self, nchains int) string {
	var parts []string
	var l3, l4 string
	for i := 0; i < g.R.Intn(3); i++ {
		m, m3, m4 := g.match(fam)
		if !compatible(l3, m3) || !compatible(l4, m4) {
			continue
		}
		if m3 != "" {
			l3 = m3
		}
		if m4 != "" && l4 != "tcp" && l4 != "udp" {
			l4 = m4
		}
		parts = append(parts, m)
	}
	if l4 != "" && l4 != "tcp" && l4 != "th" {
		l4 = "x" // a vmap on tcp dport would conflict
	}
	switch g.R.Intn(6) {
	case 0:
		parts = append(parts, "counter")
	case 1:
		parts = append(parts, g.pick("meta mark set 0x1", "meta mark set 0x2", "ct mark set 0x1", "ct mark set meta mark", "meta mark set ct mark"))
	}
	if g.Counted {
		parts = append(parts, "counter")
	}
	vs := []string{"accept", "drop", "", "", "continue", "reject"}
	if g.NoReject {
		vs[5] = "drop"
	}
	if l4 == "" || l4 == "tcp" || l4 == "th" {
		vs = append(vs, "tcp dport vmap { 22 : accept, 80 : drop }")
	}
	if self >= 0 {
		vs = append(vs, "return")
	}
	if fam != "ip6" && l3 != "ip6" && g.R.Intn(4) == 0 {
		vs = append(vs, "ip saddr vmap @v4map")
	}
	for j := self + 1; j < nchains; j++ {
		vs = append(vs, fmt.Sprintf("jump c%d", j), fmt.Sprintf("goto c%d", j))
	}
	if v := g.pick(vs...); v != "" {
		parts = append(parts, v)
	}
	if len(parts) == 0 {
		parts = append(parts, "counter")
	}
	return strings.Join(parts, " ")
}

// Ruleset returns a ruleset in nft syntax.
func (g *Gen) Ruleset() string {
	var b strings.Builder
	for ti := 0; ti < 1+g.R.Intn(2); ti++ {
		fam := g.pick("ip", "ip6", "inet", "inet")
		fmt.Fprintf(&b, "table %s t%d {\n", fam, ti)
		if fam != "ip6" {
			b.WriteString("\tset v4s { type ipv4_addr; flags interval; elements = { 10.0.0.2, 10.0.1.0/24 } }\n")
			b.WriteString("\tmap v4map { type ipv4_addr : verdict; elements = { 10.0.0.1 : accept, 10.0.0.3 : drop } }\n")
		}
		nch := g.R.Intn(4)
		for bi := 0; bi < 1+g.R.Intn(2); bi++ {
			hook := g.Hook
			if hook == "" {
				hook = "input"
			}
			fmt.Fprintf(&b, "\tchain b%d {\n\t\ttype filter hook %s priority %d; policy %s;\n", bi, hook, g.R.Intn(5)-2, g.pick("accept", "drop"))
			n := g.R.Intn(12)
			if g.R.Intn(3) == 0 {
				n = 20 + g.R.Intn(40) // big enough to be indexed
			}
			for i := 0; i < n; i++ {
				fmt.Fprintf(&b, "\t\t%s\n", g.rule(fam, -1, nch))
			}
			b.WriteString("\t}\n")
		}
		for ci := 0; ci < nch; ci++ {
			fmt.Fprintf(&b, "\tchain c%d {\n", ci)
			for i := 0; i < g.R.Intn(6); i++ {
				fmt.Fprintf(&b, "\t\t%s\n", g.rule(fam, ci, nch))
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// Packet is a random packet and what the hook would know about it.
type Packet struct {
	Bytes []byte
	CT    conntrack.Result
	Mark  uint32
	Iif   string
}

// Packet returns a random packet.
func (g *Gen) Packet() Packet {
	v6 := g.R.Intn(3) == 0
	src := netip.MustParseAddr(g.pick("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.7", "192.168.0.1"))
	d4, d6 := "10.0.0.9", "2001:db8::9"
	if g.Dst4 != "" {
		d4, d6 = g.Dst4, g.Dst6
	}
	dst := netip.MustParseAddr(d4)
	if v6 {
		src = netip.MustParseAddr(g.pick("2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8:1::1"))
		dst = netip.MustParseAddr(d6)
	}
	proto := []uint8{6, 6, 17, 1, 58}[g.R.Intn(5)]
	if proto == 1 && v6 {
		proto = 58
	}
	if proto == 58 && !v6 {
		proto = 1
	}
	ports := []uint16{22, 53, 80, 443, 1500, 60000}
	o := pktgen.Opts{Src: src, Dst: dst, Proto: proto, Sport: ports[g.R.Intn(6)], Dport: ports[g.R.Intn(6)],
		TCPFlags: []uint8{2, 16, 18, 17, 4}[g.R.Intn(5)], ICMPType: []uint8{8, 0, 128, 129}[g.R.Intn(4)],
		Payload: make([]byte, g.R.Intn(80))}
	if g.Wide && g.R.Intn(4) == 0 {
		o.TCPFlags = uint8(g.R.Intn(256)) // every combination
	}
	if g.Wide && g.R.Intn(5) == 0 {
		// ESP, IPComp, AH (as IPv4's transport), SCTP, UDP-Lite, DCCP,
		// GRE: payloads of random bytes.
		o.Proto = []uint8{50, 108, 51, 132, 136, 33, 47}[g.R.Intn(7)]
		if o.Proto == 51 && v6 {
			o.Proto = 50
		}
		g.R.Read(o.Payload)
		switch o.Proto {
		case 132:
			o.Payload = g.sctp()
		case 136:
			o.Coverage = []uint16{0, 8, 12, 4, 500}[g.R.Intn(5)]
		}
	}
	if g.Wide && (o.Proto == 1 || o.Proto == 58) && g.R.Intn(2) == 0 {
		o.ICMPType, o.ICMPCode = uint8(g.R.Intn(256)), uint8(g.R.Intn(4)) // every type
	}
	if g.Wide && g.R.Intn(4) == 0 {
		o.TTL = []uint8{1, 2, 255}[g.R.Intn(3)]
	}
	if g.Wide && g.R.Intn(3) == 0 {
		o.TOS = []uint8{0x20, 0x01, 0x02, 0x03, 0xb8, 0x21}[g.R.Intn(6)] // cs1, ECT(1), ECT(0), CE, EF, cs1+ECT(1)
		o.FlowLabel = uint32(g.R.Intn(3))
		o.Seq, o.Ack = uint32(g.R.Intn(3)*7), uint32(g.R.Intn(2))
		o.ICMPID = []uint16{0, 0x77}[g.R.Intn(2)]
	}
	if g.Wide && v6 && g.R.Intn(3) == 0 {
		// Extension headers (no fragments: conntrack's defrag would hold
		// them in the oracle's namespace), AH, cut-short transports.
		for n := g.R.Intn(3) + 1; n > 0; n-- {
			o.Ext6 = append(o.Ext6, []uint8{0, 43, 60, 51}[g.R.Intn(4)])
		}
		for i := 1; i < len(o.Ext6); i++ {
			if o.Ext6[i] == 0 { // hop-by-hop only first (ipv6_rcv drops it elsewhere)
				o.Ext6[i] = 60
			}
		}
	}
	if g.Wide && g.R.Intn(6) == 0 {
		o.Cut = g.R.Intn(20)
		if len(o.Ext6) > 0 && o.Ext6[0] == 0 {
			// ip6_rcv_core() drops a packet whose hop-by-hop header is
			// cut (ipv6_parse_hopopts()) before any hook sees it: keep
			// that header whole.
			whole := o
			whole.Cut = 0
			o.Cut = min(o.Cut, len(pktgen.Build(whole))-48)
		}
	}
	if g.Wide && !v6 && g.R.Intn(6) == 0 {
		o.IPOptions = 4 * (1 + g.R.Intn(4))
	}
	out := Packet{Bytes: pktgen.Build(o)}
	st := []uint32{conntrack.StateNew, conntrack.StateEstablished, conntrack.StateRelated, conntrack.StateInvalid}[g.R.Intn(4)]
	out.CT = conntrack.Result{State: st, Found: st != conntrack.StateInvalid, Dir: uint8(g.R.Intn(2)), Mark: uint32(g.R.Intn(3))}
	out.Mark = uint32(g.R.Intn(4))
	if g.Iif != "" {
		out.Iif = g.Iif
	} else if g.R.Intn(4) != 0 {
		out.Iif = g.pick("eth0", "eth1", "lo", "wg0")
	}
	return out
}

// sctp returns an SCTP packet after the ports: a verification tag (zero or
// not), room for the checksum pktgen fills, and one to three chunks of
// types that open, continue or end an association.
func (g *Gen) sctp() []byte {
	b := []byte{0, 0, 0, byte(g.R.Intn(2) * 5), 0, 0, 0, 0}
	for n := 1 + g.R.Intn(3); n > 0; n-- {
		typ := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 200}[g.R.Intn(14)]
		l := []int{4, 8, 20}[g.R.Intn(3)]
		if typ == 1 || typ == 2 {
			l = 20 // a whole INIT header
		}
		c := make([]byte, l)
		c[0] = typ
		c[2], c[3] = byte(l>>8), byte(l)
		b = append(b, c...)
	}
	return b
}
