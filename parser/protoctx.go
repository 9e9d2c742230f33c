package parser

import "fmt"

// protoCtx is nft's protocol context for one rule, as its evaluator keeps
// it while it walks the rule left to right (struct proto_ctx in nftables
// src/proto.c; proto_ctx_update, proto_ctx_find_conflict). nft 1.0.6
// refuses a rule by it; nfd copies the rules exactly, quirks included:
//
//   - A header field (ip saddr, tcp dport, ...) needs its protocol. At the
//     network base the context holds one protocol, and a field of another
//     is a conflict. At the transport base the context holds every
//     protocol named so far: a field conflicts with any that differs
//     (`meta l4proto { tcp, udp } tcp dport 1` is refused: udp vs. tcp).
//     With no transport protocol yet, the field's own dependency names it
//     (and icmp / icmpv6 also pin the network protocol when none is).
//   - `meta l4proto`, `ip protocol`, `ip6 nexthdr` and `meta nfproto`
//     compared with one value, or looked up in an anonymous set, name
//     protocols without any conflict check (`tcp dport 1 meta l4proto udp`
//     loads); the last one named is the context's current protocol. To
//     `meta l4proto` a number without a protocol template (99) is
//     "unknown"; `ip protocol` and `ip6 nexthdr` ignore such a number.
//   - `th` fields need no protocol and name none.
//
// Statements read the context: `reject with tcp reset` needs the current
// transport protocol to be tcp or unnamed, a NAT port needs a transport
// protocol named, a NAT address in an inet table needs the network
// protocol (stmt_evaluate_reject_family, stmt_evaluate_nat in
// src/evaluate.c).
type protoCtx struct {
	net    Proto // ProtoIP, ProtoIP6 or ProtoNone
	netPos Pos
	l4     []uint16 // transport protocols in the order first named
	l4Pos  []Pos
	l4Cur  uint16 // the transport protocol named last; valid when l4 is not empty
}

// l4Unknown stands for every protocol number nft has no template for.
const l4Unknown = 0xffff

func l4Key(v uint64) uint16 {
	if v < 256 && protoByL4(uint8(v)) != ProtoNone {
		return uint16(v)
	}
	return l4Unknown
}

func l4Name(k uint16) string {
	if k == l4Unknown {
		return "unknown"
	}
	return protoByL4(uint8(k)).String()
}

func newProtoCtx(f Family) protoCtx {
	switch f {
	case FamilyIP:
		return protoCtx{net: ProtoIP}
	case FamilyIP6:
		return protoCtx{net: ProtoIP6}
	}
	return protoCtx{}
}

// nameL4 is proto_ctx_update at the transport base.
func (c *protoCtx) nameL4(k uint16, pos Pos) {
	found := false
	for _, x := range c.l4 {
		found = found || x == k
	}
	if !found {
		c.l4 = append(c.l4, k)
		c.l4Pos = append(c.l4Pos, pos)
	}
	c.l4Cur = k
}

// field records a header field of protocol pr at pos; it returns the
// conflict nft reports, or "".
func (c *protoCtx) field(pr Proto, pos Pos) string {
	switch {
	case pr == ProtoIP || pr == ProtoIP6:
		if c.net != ProtoNone && c.net != pr {
			return fmt.Sprintf("conflicting protocols specified: %s (at %s) vs. %s", c.net, c.netPos, pr)
		}
		c.net, c.netPos = pr, pos
	case pr.L4() != 0:
		k := uint16(pr.L4())
		for i, x := range c.l4 {
			if x != k {
				return fmt.Sprintf("conflicting protocols specified: %s (at %s) vs. %s", l4Name(x), c.l4Pos[i], pr)
			}
		}
		if len(c.l4) == 0 {
			// The dependency nft adds (meta l4proto icmp) also pins the
			// network protocol of icmp, icmpv6 and igmp when none is.
			if c.net == ProtoNone && pr.Family() == 4 {
				c.net, c.netPos = ProtoIP, pos
			} else if c.net == ProtoNone && pr.Family() == 6 {
				c.net, c.netPos = ProtoIP6, pos
			}
			c.nameL4(k, pos)
		}
	}
	return ""
}

// match updates the context for a match that names protocols without a
// conflict check (`meta l4proto tcp`, `ip protocol { udp, tcp }`).
func (c *protoCtx) match(m *Match) {
	if len(m.Keys) != 1 || m.Mask != nil || m.Val.SetRef != "" || !(m.Op == OpImplicit || m.Op == OpEq) {
		return
	}
	for _, e := range m.Val.Elems {
		if string(e.Lo) != string(e.Hi) || len(e.Lo) != 1 {
			continue
		}
		v := uint64(e.Lo[0])
		switch m.Keys[0] {
		case FieldMetaL4proto:
			c.nameL4(l4Key(v), m.Pos)
		case FieldIPProtocol, FieldIP6Nexthdr:
			// The header fields name only protocols nft has a template
			// for (payload_expr_pctx_update finds no upper protocol for
			// 99 and leaves the context alone; meta_expr_pctx_update
			// names it "unknown").
			if k := l4Key(v); k != l4Unknown {
				c.nameL4(k, m.Pos)
			}
		case FieldMetaNfproto:
			switch v {
			case 2:
				c.net, c.netPos = ProtoIP, m.Pos
			case 10:
				c.net, c.netPos = ProtoIP6, m.Pos
			}
		}
	}
}

// reject returns why nft refuses r here, or "".
func (c *protoCtx) reject(r *Reject, fam Family) string {
	switch r.Kind {
	case RejectTCPReset:
		if len(c.l4) > 0 && c.l4Cur != 6 {
			return fmt.Sprintf("`reject with tcp reset` after a match on %s: you cannot use tcp reset with this protocol", l4Name(c.l4Cur))
		}
	case RejectICMPx:
		if fam != FamilyInet {
			return fmt.Sprintf("`reject with icmpx` in an %s table: abstracted ICMP unreachable is only supported in inet tables (use `reject with %s`)", fam, map[Family]string{FamilyIP: "icmp", FamilyIP6: "icmpv6"}[fam])
		}
	case RejectICMP:
		if fam == FamilyIP6 {
			return "`reject with icmp` in an ip6 table"
		}
		if c.net == ProtoIP6 {
			return fmt.Sprintf("`reject with icmp` after an IPv6 match (at %s): conflicting protocols specified: ip vs ip6", c.netPos)
		}
	case RejectICMPv6:
		if fam == FamilyIP {
			return "`reject with icmpv6` in an ip table"
		}
		if c.net == ProtoIP {
			return fmt.Sprintf("`reject with icmpv6` after an IPv4 match (at %s): conflicting protocols specified: ip vs ip6", c.netPos)
		}
	}
	return ""
}

// nat returns why nft refuses n here, or "".
func (c *protoCtx) nat(n *NAT, fam Family) string {
	portFromData := n.AddrMap != nil && len(n.AddrMap.Data) == 2
	// nft evaluates the address map's key first: a transport field there
	// inserts its protocol dependency, which a port then finds
	// (stmt_evaluate_nat, nat_evaluate_transport).
	keyL4 := false
	if n.AddrMap != nil {
		for _, k := range n.AddrMap.Keys {
			keyL4 = keyL4 || k.Info().Proto.L4() != 0
		}
	}
	if n.HasPort && !portFromData && len(c.l4) == 0 && !keyL4 {
		return fmt.Sprintf("a port in `%s` needs a transport protocol match first (such as `tcp dport` or `meta l4proto tcp`)", n.Kind)
	}
	if portFromData && len(c.l4) == 0 {
		// nft evaluates the map's key first: a transport field there
		// names the protocol the port needs.
		named := false
		for _, k := range n.AddrMap.Keys {
			named = named || k.Info().Proto.L4() != 0
		}
		if !named {
			return fmt.Sprintf("the port `%s` takes from its map needs a transport protocol match first (such as `meta l4proto tcp`): transport protocol mapping is only valid after transport protocol match", n.Kind)
		}
	}
	if n.AddrLo == nil && n.AddrMap == nil {
		return ""
	}
	famName := map[Family]string{FamilyIP: "IPv4", FamilyIP6: "IPv6"}
	switch fam {
	case FamilyInet:
		want := n.Family
		if want == 0 {
			switch c.net {
			case ProtoIP:
				want = FamilyIP
			case ProtoIP6:
				want = FamilyIP6
			default:
				return fmt.Sprintf("specify `%s ip` or `%s ip6` in an inet table", n.Kind, n.Kind)
			}
		}
		if have := map[Proto]Family{ProtoIP: FamilyIP, ProtoIP6: FamilyIP6}[c.net]; have != 0 && have != want {
			return fmt.Sprintf("`%s %s to` after an %s match (at %s): conflicting protocols specified", n.Kind, want, famName[have], c.netPos)
		}
		if n.AddrFamily != want {
			return fmt.Sprintf("`%s %s to` with an %s address", n.Kind, want, famName[n.AddrFamily])
		}
	case FamilyIP, FamilyIP6:
		if (fam == FamilyIP) != (n.AddrFamily == FamilyIP) {
			return fmt.Sprintf("%s address in an %s table", famName[n.AddrFamily], fam)
		}
	}
	return ""
}
