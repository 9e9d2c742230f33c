package parser

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// KernelOnly reports why nfd's engine cannot run a statement, or "" when it
// can. A rule holding such a statement must run natively in the kernel; the
// planner refuses a plan that would evaluate it in nfd, naming the rule and
// this reason.
func KernelOnly(s Stmt) string {
	switch s := s.(type) {
	case *KeySet:
		if s.Ct {
			return "changes the connection's " + s.Key + ", which nfd's engine cannot do"
		}
		return "changes the packet's " + map[string]string{"priority": "skb priority (tc class)", "pkttype": "packet type", "nftrace": "nftrace bit", "secmark": "security mark"}[s.Key] + ", which nfd's engine cannot do"
	case *SynProxy:
		return "answers SYNs with SYN cookies in the kernel (nft_synproxy)"
	case *ObjRef:
		switch s.Kind {
		case "ct helper", "ct timeout", "ct expectation":
			return "assigns a " + s.Kind + " object to the connection, which only the kernel's conntrack does"
		case "synproxy":
			return "answers SYNs with SYN cookies in the kernel (nft_synproxy)"
		}
	case *TProxy:
		return "hands the packet to a local socket, which only the kernel's tproxy expression does"
	case *Dup:
		return "sends a copy of the packet, which only the kernel's dup expression does"
	case *SetUpdate:
		if s.Meter {
			return "keeps per-key state in the kernel (a meter is a set nft_dynset updates)"
		}
		return "updates set @" + s.Set + " from the packet, which nfd does only in the kernel (nft_dynset)"
	case *Log:
		switch {
		case s.HasGroup:
			return "sends the packet to nfnetlink_log group " + strconv.Itoa(int(s.Group)) + ", which only the kernel's log expression does"
		case s.Flags != 0:
			return "asks the kernel log for TCP/IP options, sequence numbers, the socket UID or the link-layer header, which nfd's own log does not print"
		}
	}
	return ""
}

// Statements only the kernel runs. nfd parses, checks and prints them;
// the planner translates them into the kernel's expressions and keeps
// their rules native.

// KeySet sets a packet or connection key nfd's engine cannot set:
// `meta priority|pkttype|nftrace set` (nft_meta_set_eval) and `ct
// zone|event|label set` (nft_ct_set_eval), to a literal.
type KeySet struct {
	Pos   Pos
	Ct    bool   // a ct key (else meta)
	Key   string // priority, pkttype, nftrace, zone, event, label
	Value uint32 // the value; for label, the bit number
	// Dir is the direction of `ct original|reply zone set`, "" for both.
	Dir string
	// Map, for zone, priority and pkttype, is where the value comes from:
	// `ct zone set KEY map { ... }`.
	Map *DataMap
}

// TypeZone is a conntrack zone as `ct zone set` takes it (a 16-bit
// integer the kernel holds in host order).
var TypeZone = &Type{Name: "ct_zone", Size: 2}

// keySetMapData are the keys whose value may come from a map, and the
// type of the map's data.
var keySetMapData = map[string]*Type{"zone": TypeZone, "priority": TypeClassid, "pkttype": TypePktType}

// SynProxy answers a TCP SYN with a SYN cookie on the connection's behalf
// (nft_synproxy).
type SynProxy struct {
	Pos       Pos
	MSS       uint16 // 0 = not given
	Wscale    uint8
	HasWscale bool
	Timestamp bool
	SackPerm  bool
}

// TProxy hands the packet to a local socket without changing it
// (nft_tproxy).
type TProxy struct {
	Pos        Pos
	Family     Family // FamilyIP or FamilyIP6 when written (`tproxy ip to`), else 0
	AddrFamily Family // family of Addr, 0 when no address
	Addr       []byte
	Port       uint16 // 0 = the packet's own
}

// Dup sends a copy of the packet to an address, through a device if given
// (nft_dup_ipv4, nft_dup_ipv6).
type Dup struct {
	Pos        Pos
	AddrFamily Family
	Addr       []byte
	// Map, when set, gives the address by a key of the packet (`dup to
	// ip daddr map { ... }`); Addr is then nil.
	Map    *DataMap
	Device string
}

func (s *KeySet) StmtPos() Pos   { return s.Pos }
func (s *SynProxy) StmtPos() Pos { return s.Pos }
func (s *TProxy) StmtPos() Pos   { return s.Pos }
func (s *Dup) StmtPos() Pos      { return s.Pos }

// kernelSetKeys are the keys KeySet sets, per selector.
var kernelSetKeys = map[string][]string{"meta": {"priority", "pkttype", "nftrace", "secmark"}, "ct": {"zone", "event", "label", "secmark"}}

// ctEvents are the IPCT_* bits `ct event set` names (nf_conntrack_common.h).
var ctEvents = []string{"new", "related", "destroy", "reply", "assured", "protoinfo", "helper", "mark", "seqadj", "secmark", "label"}

// isKernelKeySet reports whether the rule goes on with `meta|ct KEY set`
// for a key only KeySet handles.
func (p *parser) isKernelKeySet() bool {
	t, k, s := p.peek(), p.peekAt(1), p.peekAt(2)
	if t.kind == tWord && t.text == "ct" && k.kind == tWord && (k.text == "original" || k.text == "reply") {
		z, s := p.peekAt(2), p.peekAt(3)
		return z.kind == tWord && z.text == "zone" && s.kind == tWord && s.text == "set"
	}
	if t.kind != tWord || k.kind != tWord || s.kind != tWord || s.text != "set" {
		return false
	}
	for _, key := range kernelSetKeys[t.text] {
		if key == k.text {
			return true
		}
	}
	return false
}

func (p *parser) parseKeySet() (Stmt, bool) {
	sel := p.next()
	key := p.next()
	dir := ""
	if key.text == "original" || key.text == "reply" {
		dir, key = key.text, p.next()
	}
	p.next() // set
	s := &KeySet{Pos: sel.pos, Ct: sel.text == "ct", Key: key.text, Dir: dir}
	if dt := keySetMapData[key.text]; dt != nil && p.keyThenMap() {
		m, ok := p.parseDataMap([]*Type{dt}, false)
		if !ok {
			return nil, false
		}
		s.Map = m
		return s, true
	}
	v, ok := p.name("a value for `" + sel.text + " " + key.text + " set`")
	if !ok {
		return nil, false
	}
	bad := func(want string) (Stmt, bool) {
		p.errorf(v.pos, "found `%s`, expected %s (nfd sets `%s %s` only to a literal)", v.text, want, sel.text, key.text)
		return nil, false
	}
	switch key.text {
	case "secmark":
		// `ct secmark set meta secmark` and the reverse copy the mark
		// (nft_meta_set_eval, nft_ct_set_eval); a secmark object by name
		// needs SELinux policy, which nfd does not handle.
		other := map[string]string{"ct": "meta", "meta": "ct"}[sel.text]
		if v.text != other || !p.isWord("secmark") {
			return bad("`" + other + " secmark` (nfd does not support secmark objects)")
		}
		p.next()
	case "priority":
		switch v.text {
		case "none":
		case "root":
			s.Value = 0xffffffff
		default:
			text := v.text
			if !strings.Contains(text, ":") && p.accept(tColon) {
				// The lexer reads `1:2` as three tokens.
				m, ok := p.name("the minor number of a class id")
				if !ok {
					return nil, false
				}
				text += ":" + m.text
			}
			maj, min, ok := strings.Cut(text, ":")
			a, err1 := strconv.ParseUint(maj, 16, 16)
			b, err2 := strconv.ParseUint(min, 16, 16)
			if !ok || err1 != nil || err2 != nil {
				return bad("a class id MAJOR:MINOR (hexadecimal), `none` or `root`")
			}
			s.Value = uint32(a)<<16 | uint32(b)
		}
	case "pkttype":
		b, err := TypePktType.parseScalar(v.text, false)
		if err != nil {
			return bad("host, broadcast, multicast or other")
		}
		s.Value = uint32(b[0])
	case "nftrace":
		if v.text != "0" && v.text != "1" {
			return bad("0 or 1")
		}
		s.Value = uint32(v.text[0] - '0')
	case "zone":
		n, err := strconv.ParseUint(v.text, 0, 16)
		if err != nil {
			return bad("a zone number (0-65535)")
		}
		s.Value = uint32(n)
	case "label":
		n, err := strconv.ParseUint(v.text, 10, 8)
		if err != nil || n > 127 {
			return bad("a label bit (0-127)")
		}
		s.Value = uint32(n)
	case "event":
		var sep tokKind
		for {
			if n, err := strconv.ParseUint(v.text, 0, 32); err == nil {
				s.Value |= uint32(n) // `ct event set 0`: no events
			} else if i := slices.Index(ctEvents, v.text); i >= 0 {
				s.Value |= 1 << i
			} else {
				return bad("conntrack events (" + strings.Join(ctEvents, ", ") + ")")
			}
			// Events are listed with `,` or with `|` (nft's
			// basic_stmt_expr ORs them), never both in one list.
			if sep == 0 && (p.peek().kind == tComma || p.peek().kind == tPipe) {
				sep = p.peek().kind
			}
			if sep == 0 || !p.accept(sep) {
				break
			}
			if v, ok = p.name("a conntrack event"); !ok {
				return nil, false
			}
		}
	}
	return s, true
}

func (p *parser) parseSynProxy() (Stmt, bool) {
	s := &SynProxy{Pos: p.next().pos}
	if p.acceptWord("name") {
		return p.parseObjAssign("synproxy", s.Pos)
	}
	for {
		switch {
		case p.acceptWord("mss"):
			n, ok := p.uintWord(16)
			if !ok {
				return nil, false
			}
			s.MSS = uint16(n)
		case p.acceptWord("wscale"):
			n, ok := p.uintWord(8)
			if !ok {
				return nil, false
			}
			if n > 14 {
				// nft: "wscale must be <= 14" (TCP_MAX_WSCALE)
				p.errorf(p.last.pos, "a window scale of %d is above TCP's maximum of 14", n)
				return nil, false
			}
			s.Wscale, s.HasWscale = uint8(n), true
		case p.acceptWord("timestamp"):
			s.Timestamp = true
		case p.acceptWord("sack-perm"):
			s.SackPerm = true
		default:
			return s, true
		}
	}
}

// parseTProxy reads `tproxy [ip|ip6] to [ADDR][:PORT]`, ADDR of IPv6 in
// brackets when a port follows.
func (p *parser) parseTProxy() (Stmt, bool) {
	s := &TProxy{Pos: p.next().pos}
	if p.acceptWord("ip") {
		s.Family = FamilyIP
	} else if p.acceptWord("ip6") {
		s.Family = FamilyIP6
	}
	if net := p.ruleNetwork(); p.family() == FamilyInet && net != FamilyInet && net != s.Family {
		// nft's stmt_evaluate_tproxy: in inet, the rule's network
		// protocol context and the statement's family must agree (an
		// unnamed family conflicts with a known context too).
		fam := "unknown"
		if s.Family != 0 {
			fam = s.Family.String()
		}
		p.errorf(s.Pos, "conflicting protocols specified: %s vs. %s. You must specify ip or ip6 family in tproxy statement", net, fam)
		return nil, false
	}
	if !p.acceptWord("to") {
		x := p.peek()
		p.errorf(x.pos, "%s", expected(x.describe(), "`to` and an address or `:PORT`", []string{"to"}))
		return nil, false
	}
	if !p.accept(tColon) {
		brack := p.accept(tLBrack)
		a, ok := p.name("an address")
		if !ok {
			return nil, false
		}
		addr, err := netip.ParseAddr(a.text)
		if err != nil {
			p.errorf(a.pos, "found `%s`, expected an address", a.text)
			return nil, false
		}
		s.AddrFamily, s.Addr = FamilyIP, addr.AsSlice()
		if addr.Is6() {
			s.AddrFamily = FamilyIP6
		}
		if s.Family != 0 && s.Family != s.AddrFamily {
			p.errorf(a.pos, "`tproxy %s to` with an address of the other family", s.Family)
			return nil, false
		}
		if brack {
			if _, ok := p.expect(tRBrack, "`]`"); !ok {
				return nil, false
			}
		}
		if !p.accept(tColon) {
			return s, true
		}
	}
	t, ok := p.name("a port")
	if !ok {
		return nil, false
	}
	n, err := strconv.ParseUint(t.text, 10, 16)
	if err != nil {
		p.errorf(t.pos, "found `%s`, expected a port", t.text)
		return nil, false
	}
	s.Port = uint16(n)
	return s, true
}

// parseDup reads `dup to ADDR [device "NAME"]`.
func (p *parser) parseDup() (Stmt, bool) {
	s := &Dup{Pos: p.next().pos}
	if !p.acceptWord("to") {
		x := p.peek()
		p.errorf(x.pos, "%s", expected(x.describe(), "`to` and an address", []string{"to"}))
		return nil, false
	}
	if p.keyThenMap() {
		// the address by a key: data of the table's address type
		at, fam := TypeIPv4, FamilyIP
		if p.curTable != nil && p.curTable.Family == FamilyIP6 {
			at, fam = TypeIPv6, FamilyIP6
		}
		m, ok := p.parseDataMap([]*Type{at}, false)
		if !ok {
			return nil, false
		}
		s.Map, s.AddrFamily = m, fam
	} else {
		a, ok := p.name("an address or `KEY map { ... }`")
		if !ok {
			return nil, false
		}
		addr, err := netip.ParseAddr(a.text)
		if err != nil {
			p.errorf(a.pos, "found `%s`, expected an address or `KEY map { ... }`", a.text)
			return nil, false
		}
		s.AddrFamily, s.Addr = FamilyIP, addr.AsSlice()
		if addr.Is6() {
			s.AddrFamily = FamilyIP6
		}
	}
	if p.acceptWord("device") {
		// A quoted or bare name (nft's string), not a keyword.
		d, ok := p.name("a device name")
		if !ok {
			return nil, false
		}
		if d.kind == tWord && nftNameKeywords[d.text] {
			p.errorf(d.pos, "`%s` is an nft keyword; quote the device name: \"%s\"", d.text, d.text)
			return nil, false
		}
		if len(d.text) >= 16 {
			p.errorf(d.pos, "device name `%s` is longer than 15 characters", d.text)
			return nil, false
		}
		// nft resolves the device to its index when it evaluates the
		// rule (stmt_evaluate_dup: ifindex_type_parse, if_nametoindex)
		// and refuses a missing one, in the namespace it runs in.
		if _, ok := currentInterfaces().Index(d.text); !ok {
			p.errorf(d.pos, "interface `%s` does not exist: nft resolves the `dup` device to an interface index when it loads the rules (nfd check --interface %s checks as if it existed)", d.text, d.text)
			return nil, false
		}
		s.Device = d.text
	}
	return s, true
}

// checkKernelStmt refuses a kernel statement where the kernel refuses it:
// at a hook it does not run at (the expressions' validate functions), or
// for a family it does not handle.
func (p *parser) checkKernelStmt(t *Table, c *Chain, r *Rule, s Stmt) bool {
	hookOK := func(what string, hooks ...Hook) bool {
		if c.Base == nil || slices.Contains(hooks, c.Base.Hook) {
			return true
		}
		var names []string
		for _, h := range hooks {
			names = append(names, h.String())
		}
		p.errorf(s.StmtPos(), "`%s` runs only at %s, not in a %s chain", what, strings.Join(names, " or "), c.Base.Hook)
		return false
	}
	switch s := s.(type) {
	case *KeySet:
		if s.Key == "pkttype" {
			return hookOK("meta pkttype set", HookPrerouting) // nft_meta_set_validate
		}
	case *SynProxy:
		return hookOK("synproxy", HookInput, HookForward) // nft_synproxy_validate
	case *ObjRef:
		if s.Kind == "synproxy" {
			return hookOK("synproxy", HookInput, HookForward) // nft_synproxy_obj_validate
		}
	case *TProxy:
		if !hookOK("tproxy", HookPrerouting) { // nft_tproxy_validate
			return false
		}
		fam := s.Family
		if fam == 0 && t.Family != FamilyInet {
			fam = t.Family
		}
		if fam == 0 && s.AddrFamily != 0 {
			p.errorf(s.Pos, "specify `tproxy ip to` or `tproxy ip6 to` with an address in an inet table")
			return false
		}
		if t.Family != FamilyInet && fam != t.Family || s.AddrFamily != 0 && fam != s.AddrFamily {
			if s.AddrFamily != 0 {
				p.errorf(s.Pos, "`tproxy` to an %s address in an %s table", addrName[s.AddrFamily], t.Family)
			} else {
				p.errorf(s.Pos, "`tproxy %s` in an %s table", fam, t.Family)
			}
			return false
		}
		if !hasL4Proto(r) {
			// nft: "Transparent proxy support requires transport protocol match"
			p.errorf(s.Pos, "`tproxy` needs a transport protocol match before it, such as `meta l4proto tcp`")
			return false
		}
	case *Dup:
		if t.Family == FamilyInet {
			// nft: "unsupported family" (nft_dup_ipv4/ipv6 only)
			p.errorf(s.Pos, "`dup` works in ip and ip6 tables only, not inet")
			return false
		}
		if s.AddrFamily != t.Family {
			p.errorf(s.Pos, "`dup` to an %s address in an %s table", addrName[s.AddrFamily], t.Family)
			return false
		}
	}
	return true
}

// hasL4Proto reports whether the rule matches a transport protocol before
// its last statement (meta l4proto, ip protocol, ip6 nexthdr, or a
// tcp/udp field).
func hasL4Proto(r *Rule) bool {
	for _, st := range r.Stmts {
		m, ok := st.(*Match)
		if !ok {
			continue
		}
		for _, k := range m.Keys {
			switch k {
			case FieldMetaL4proto, FieldIPProtocol, FieldIP6Nexthdr, FieldTCPSport, FieldTCPDport, FieldTCPFlags, FieldUDPSport, FieldUDPDport:
				return true
			}
		}
	}
	return false
}

// formatKernelStmt prints the statements above as nft lists them.
func formatKernelStmt(s Stmt) string {
	switch s := s.(type) {
	case *KeySet:
		out := "meta "
		if s.Ct {
			out = "ct "
		}
		if s.Dir != "" {
			out += s.Dir + " "
		}
		out += s.Key + " set "
		if s.Map != nil {
			return out + formatDataMap(s.Map)
		}
		switch s.Key {
		case "secmark":
			if s.Ct {
				return out + "meta secmark"
			}
			return out + "ct secmark"
		case "priority":
			switch s.Value {
			case 0:
				return out + "none"
			case 0xffffffff:
				return out + "root"
			}
			return out + strconv.FormatUint(uint64(s.Value>>16), 16) + ":" + strconv.FormatUint(uint64(s.Value&0xffff), 16)
		case "pkttype":
			return out + TypePktType.FormatValue([]byte{byte(s.Value)})
		case "event":
			if s.Value == 0 {
				return out + "0x0"
			}
			var names []string
			for i, n := range ctEvents {
				if s.Value&(1<<i) != 0 {
					names = append(names, n)
				}
			}
			return out + strings.Join(names, ",")
		}
		return out + strconv.FormatUint(uint64(s.Value), 10)
	case *SynProxy:
		out := "synproxy"
		if s.MSS != 0 {
			out += " mss " + strconv.Itoa(int(s.MSS))
		}
		if s.HasWscale {
			out += " wscale " + strconv.Itoa(int(s.Wscale))
		}
		if s.Timestamp {
			out += " timestamp"
		}
		if s.SackPerm {
			out += " sack-perm"
		}
		return out
	case *TProxy:
		out := "tproxy"
		if s.Family != 0 {
			out += " " + s.Family.String()
		}
		out += " to"
		if s.Addr != nil {
			a, _ := netip.AddrFromSlice(s.Addr)
			if s.AddrFamily == FamilyIP6 && s.Port != 0 {
				out += " [" + a.String() + "]"
			} else {
				out += " " + a.String()
			}
		} else {
			out += " "
		}
		if s.Port != 0 {
			out += ":" + strconv.Itoa(int(s.Port))
		}
		return out
	case *Dup:
		var out string
		if s.Map != nil {
			out = "dup to " + formatDataMap(s.Map)
		} else {
			a, _ := netip.AddrFromSlice(s.Addr)
			out = "dup to " + a.String()
		}
		if s.Device != "" {
			out += " device " + quote(s.Device)
		}
		return out
	}
	return ""
}

var addrName = map[Family]string{FamilyIP: "IPv4", FamilyIP6: "IPv6"}
