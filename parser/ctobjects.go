package parser

import (
	"fmt"
	"slices"
	"strings"
)

// Stateful objects only the kernel keeps: `ct helper`, `ct timeout`, `ct
// expectation` and `synproxy` (nft(8) STATEFUL OBJECTS), declared in a
// table and assigned by rules with `ct helper|timeout|expectation set
// "name"` and `synproxy name "name"`, or through a map from a key to an
// object name (nft_objref's map form). nfd parses and checks them and the
// planner programs them as nft does; nfd's engine never runs them.

// CtHelperObj is `ct helper NAME { type "T" protocol P; [l3proto F;] }`.
type CtHelperObj struct {
	Type    string // the kernel helper's name (ftp, sip, ...)
	L4      uint8  // IPPROTO_TCP or IPPROTO_UDP
	L3      uint16 // NFPROTO_*; 0 when not written (the table's family)
	HasType bool
}

// CtTimeoutObj is `ct timeout NAME { protocol P; [l3proto F;] policy = {
// state: seconds, ... }; }`.
type CtTimeoutObj struct {
	L4     uint8
	L3     uint16
	Policy []TimeoutState // in the order written
}

// TimeoutState is one `state: seconds` of a ct timeout policy.
type TimeoutState struct {
	Pos   Pos
	Name  string
	Index int // the state's number in the protocol (nft's timeout_protocol)
	Secs  uint32
}

// CtExpectObj is `ct expectation NAME { protocol P; dport N; timeout T;
// size N; [l3proto F;] }`.
type CtExpectObj struct {
	L4        uint8
	L3        uint16
	DPort     uint16
	TimeoutMs uint32
	Size      uint8
}

// Object kinds only the kernel keeps, and nft_objref's NFT_OBJECT_* type
// of each.
var kernelObjTypes = map[string]uint32{"ct helper": 3, "ct timeout": 7, "ct expectation": 9, "synproxy": 10}

// KernelObjType returns the kernel's object type of a kernel-only object
// kind, 0 for the kinds nfd keeps (counter, quota).
func KernelObjType(kind string) uint32 { return kernelObjTypes[kind] }

// ctTimeoutStates are the states of nft's timeout policies per protocol,
// in the kernel's order (CTA_TIMEOUT_TCP_*, CTA_TIMEOUT_UDP_* minus one),
// with the defaults nft sends for the states a policy leaves out (nftables
// src/ct.c: tcp_dflt_timeout, udp_dflt_timeout).
var ctTimeoutStates = map[uint8][]TimeoutState{
	6: {{Name: "syn_sent", Index: 0, Secs: 120}, {Name: "syn_recv", Index: 1, Secs: 60},
		{Name: "established", Index: 2, Secs: 432000}, {Name: "fin_wait", Index: 3, Secs: 120},
		{Name: "close_wait", Index: 4, Secs: 60}, {Name: "last_ack", Index: 5, Secs: 30},
		{Name: "time_wait", Index: 6, Secs: 120}, {Name: "close", Index: 7, Secs: 10},
		{Name: "syn_sent2", Index: 8, Secs: 120}, {Name: "retrans", Index: 9, Secs: 300},
		{Name: "unack", Index: 10, Secs: 300}},
	17: {{Name: "unreplied", Index: 0, Secs: 30}, {Name: "replied", Index: 1, Secs: 180}},
}

// CtTimeoutDefaults returns the states of protocol l4 with nft's defaults.
func CtTimeoutDefaults(l4 uint8) []TimeoutState { return ctTimeoutStates[l4] }

// ctHelpers are the conntrack helpers Linux has (the names their
// nf_conntrack_helper structs register); the kernel refuses others
// (nft_ct_helper_obj_init: ENOENT).
var ctHelpers = []string{"amanda", "ftp", "H.245", "irc", "netbios-ns", "pptp", "Q.931", "RAS", "sane", "sip", "snmp", "snmp_trap", "tftp"}

// l3protos are the families `l3proto` takes (family_spec_explicit) and
// their NFPROTO_* numbers.
var l3protos = map[string]uint16{"ip": 2, "ip6": 10, "inet": 1, "arp": 3, "bridge": 7, "netdev": 5}

// objSep consumes a statement separator in an object block: `;` or a
// line end. nft's grammar wants one after every setting of a ct helper,
// timeout or expectation, even the last; a synproxy's settings and a
// comment may end at `}`.
func (p *parser) objSep(o *Object) bool {
	switch p.peek().kind {
	case tSemi, tNewline:
		p.next()
		return true
	case tRBrace:
		if o.SynProxy != nil || p.last.kind == tString && o.Comment == p.last.text {
			return true
		}
	}
	t := p.peek()
	p.errorf(t.pos, "found %s in %s `%s`, expected `;` or a new line", t.describe(), o.Kind, o.Name)
	return false
}

func (p *parser) ctL4(o *Object) (uint8, bool) {
	t, ok := p.name("`tcp` or `udp`")
	if !ok {
		return 0, false
	}
	switch t.text {
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	}
	p.errorf(t.pos, "found `%s`, expected `tcp` or `udp` as the protocol of %s `%s`", t.text, o.Kind, o.Name)
	return 0, false
}

func (p *parser) l3proto(t *Table, o *Object) (uint16, bool) {
	n, ok := p.name("a family (ip, ip6, inet)")
	if !ok {
		return 0, false
	}
	v, known := l3protos[n.text]
	if !known {
		p.errorf(n.pos, "found `%s`, expected a family (ip, ip6, inet) as the l3proto of %s `%s`", n.text, o.Kind, o.Name)
		return 0, false
	}
	// nft_ct_helper_obj_init: an IPv4 helper in an ip6 table and the
	// reverse are refused, inet helpers fit any table;
	// nft_ct_expect_obj_init: IPv4 or IPv6 only, of the table's family
	// unless inet; nft_ct_timeout_obj_init takes any.
	tf := map[Family]uint16{FamilyIP: 2, FamilyIP6: 10, FamilyInet: 1}[t.Family]
	bad := false
	switch o.Kind {
	case "ct helper":
		bad = v != 1 && v != tf && tf != 1 || v != 1 && v != 2 && v != 10
	case "ct expectation":
		bad = v != 2 && v != 10 || tf != 1 && v != tf
	case "ct timeout":
		bad = v != 1 && v != 2 && v != 10
	}
	if bad {
		p.errorf(n.pos, "l3proto `%s` of %s `%s` does not fit a table of family %s", n.text, o.Kind, o.Name, t.Family)
		return 0, false
	}
	return v, true
}

// parseKernelObjectDecl reads the body of a ct helper, ct timeout, ct
// expectation or synproxy object (parser_bison.y ct_helper_block,
// ct_timeout_block, ct_expect_block, synproxy_block); kind is the
// object's kind, its keywords already read.
func (p *parser) parseKernelObjectDecl(t *Table, kind string, kw token) bool {
	n, ok := p.declName(kind + " name")
	if !ok {
		return false
	}
	o := &Object{Pos: n.pos, Kind: kind, Name: n.text}
	switch kind {
	case "ct helper":
		o.Helper = &CtHelperObj{}
	case "ct timeout":
		o.Timeout = &CtTimeoutObj{}
	case "ct expectation":
		o.Expect = &CtExpectObj{}
	case "synproxy":
		o.SynProxy = &SynProxy{Pos: n.pos}
	}
	if _, ok := p.expect(tLBrace, "`{`"); !ok {
		return false
	}
	seen := map[string]bool{}
	for {
		p.skipNewlines()
		tok := p.peek()
		if tok.kind == tRBrace {
			p.next()
			return p.finishKernelObject(t, o, seen)
		}
		if tok.kind != tWord {
			p.errorf(tok.pos, "found %s in %s `%s`", tok.describe(), o.Kind, o.Name)
			return false
		}
		p.next()
		seen[tok.text] = true
		var ok bool
		switch {
		case tok.text == "comment":
			var c token
			if c, ok = p.expect(tString, "a quoted comment"); ok {
				o.Comment = c.text
				ok = p.objSep(o)
			}
		case tok.text == "l3proto" && kind != "synproxy":
			var v uint16
			if v, ok = p.l3proto(t, o); ok {
				switch {
				case o.Helper != nil:
					o.Helper.L3 = v
				case o.Timeout != nil:
					o.Timeout.L3 = v
				default:
					o.Expect.L3 = v
				}
				ok = p.objSep(o)
			}
		case tok.text == "type" && o.Helper != nil:
			var s token
			if s, ok = p.expect(tString, "a quoted helper name such as \"ftp\""); !ok {
				break
			}
			if !slices.Contains(ctHelpers, s.text) {
				p.errorf(s.pos, "unknown conntrack helper %q (Linux has %s)", s.text, strings.Join(ctHelpers, ", "))
				return false
			}
			o.Helper.Type, o.Helper.HasType = s.text, true
			if !p.acceptWord("protocol") {
				x := p.peek()
				p.errorf(x.pos, "found %s, expected `protocol` after the helper type", x.describe())
				return false
			}
			if o.Helper.L4, ok = p.ctL4(o); ok {
				ok = p.objSep(o)
			}
		case tok.text == "protocol" && (o.Timeout != nil || o.Expect != nil):
			var v uint8
			if v, ok = p.ctL4(o); ok {
				if o.Timeout != nil {
					o.Timeout.L4 = v
				} else {
					o.Expect.L4 = v
				}
				ok = p.objSep(o)
			}
		case tok.text == "policy" && o.Timeout != nil:
			ok = p.parseTimeoutPolicy(o)
		case o.Expect != nil && (tok.text == "dport" || tok.text == "size"):
			bits := map[string]int{"dport": 16, "size": 8}[tok.text]
			var v uint64
			if v, ok = p.uintWord(bits); ok {
				if tok.text == "dport" {
					o.Expect.DPort = uint16(v)
				} else {
					o.Expect.Size = uint8(v)
				}
				ok = p.objSep(o)
			}
		case o.Expect != nil && tok.text == "timeout":
			var d token
			if d, ok = p.name("a time such as 30s or 1h"); !ok {
				break
			}
			b, err := parseDurationMs(d.text, 4)
			if err != nil {
				p.errorf(d.pos, "%v", err)
				return false
			}
			o.Expect.TimeoutMs = uint32(Uint(b))
			ok = p.objSep(o)
		case o.SynProxy != nil && tok.text == "mss":
			ok = p.parseSynProxyObj(o)
		default:
			p.errorf(tok.pos, "found `%s` in %s `%s`", tok.text, o.Kind, o.Name)
			return false
		}
		if !ok {
			return false
		}
	}
}

// parseTimeoutPolicy reads `= { state: N, ... }` and its separator
// (parser_bison.y ct_timeout_config: timeout_states take plain numbers of
// seconds).
func (p *parser) parseTimeoutPolicy(o *Object) bool {
	if _, ok := p.expect(tAssign, "`=`"); !ok {
		return false
	}
	if _, ok := p.expect(tLBrace, "`{`"); !ok {
		return false
	}
	for {
		p.skipBlankLines()
		s, ok := p.name("a conntrack state such as established")
		if !ok {
			return false
		}
		if _, ok := p.expect(tColon, "`:`"); !ok {
			return false
		}
		v, ok := p.uintWord(32)
		if !ok {
			return false
		}
		o.Timeout.Policy = append(o.Timeout.Policy, TimeoutState{Name: s.text, Index: -1, Secs: uint32(v)})
		o.Timeout.Policy[len(o.Timeout.Policy)-1].Pos = s.pos
		p.skipBlankLines()
		if p.accept(tComma) {
			continue
		}
		if _, ok := p.expect(tRBrace, "`,` or `}`"); !ok {
			return false
		}
		return p.objSep(o)
	}
}

// parseSynProxyObj reads a synproxy object's settings after `mss`:
// `N [;] wscale N [;] [timestamp] [sack-perm]`, the separators after mss
// and wscale both there or both not (parser_bison.y synproxy_config).
func (p *parser) parseSynProxyObj(o *Object) bool {
	mss, ok := p.uintWord(16)
	if !ok {
		return false
	}
	sep1 := p.accept(tSemi) || p.accept(tNewline)
	p.skipBlankLines()
	if !p.acceptWord("wscale") {
		x := p.peek()
		p.errorf(x.pos, "found %s, expected `wscale` after the mss of synproxy `%s`", x.describe(), o.Name)
		return false
	}
	ws, ok := p.uintWord(8)
	if !ok {
		return false
	}
	if ws > 14 {
		// nft_synproxy_do_init: TCP_MAX_WSCALE
		p.errorf(p.last.pos, "wscale %d of synproxy `%s` is above 14", ws, o.Name)
		return false
	}
	s := o.SynProxy
	s.MSS, s.Wscale, s.HasWscale = uint16(mss), uint8(ws), true
	if sep1 {
		if !p.objSep(o) {
			return false
		}
		p.skipBlankLines()
	}
	s.Timestamp = p.acceptWord("timestamp")
	s.SackPerm = p.acceptWord("sack-perm")
	return p.objSep(o)
}

// finishKernelObject checks what the kernel requires of an object and adds
// it to the table.
func (p *parser) finishKernelObject(t *Table, o *Object, seen map[string]bool) bool {
	missing := func(what string) bool {
		p.errorf(o.Pos, "%s `%s` needs %s", o.Kind, o.Name, what)
		return false
	}
	switch {
	case o.Helper != nil:
		if !o.Helper.HasType {
			return missing("`type \"NAME\" protocol tcp|udp`")
		}
	case o.Timeout != nil:
		if !seen["protocol"] {
			return missing("`protocol tcp|udp`")
		}
		states := ctTimeoutStates[o.Timeout.L4]
		for i := range o.Timeout.Policy {
			st := &o.Timeout.Policy[i]
			for _, d := range states {
				if d.Name == st.Name {
					st.Index = d.Index
				}
			}
			if st.Index < 0 {
				var names []string
				for _, d := range states {
					names = append(names, d.Name)
				}
				p.errorf(st.Pos, "unknown %s state `%s` in ct timeout `%s` (known: %s)", map[uint8]string{6: "tcp", 17: "udp"}[o.Timeout.L4], st.Name, o.Name, strings.Join(names, ", "))
				return false
			}
		}
	case o.Expect != nil:
		// nft_ct_expect_obj_init: every attribute but l3proto is required.
		for _, k := range []string{"protocol", "dport", "timeout", "size"} {
			if !seen[k] {
				return missing("`" + k + "`")
			}
		}
		if t.Family == FamilyInet && (o.Expect.L3 == 0 || o.Expect.L3 == 1) {
			// The expectation's tuple is IPv4 or IPv6 (EAFNOSUPPORT).
			p.errorf(o.Pos, "ct expectation `%s` in an inet table needs `l3proto ip` or `l3proto ip6`", o.Name)
			return false
		}
	case o.SynProxy != nil:
		if !o.SynProxy.HasWscale {
			return missing("`mss N wscale N`")
		}
	}
	if old := t.Object(o.Kind, o.Name); old != nil {
		p.errorf(o.Pos, "%s `%s` is already declared (at %s)", o.Kind, o.Name, old.Pos)
		return true
	}
	t.Objects = append(t.Objects, o)
	return true
}

// parseObjAssign reads what names the object a rule assigns: `"name"`, a
// bare name, or `KEY map { key : "name", ... }`; kw is where the statement
// starts.
func (p *parser) parseObjAssign(kind string, pos Pos) (Stmt, bool) {
	if p.keyThenMap() {
		m, ok := p.parseDataMap([]*Type{typeObjName}, false)
		if !ok {
			return nil, false
		}
		if !m.Val.Anon && !objMapKinds[kind] {
			// nft 1.0.6 declares no named map of ct objects.
			p.errorf(m.Val.Pos, "`%s set` takes an anonymous map (`map { ... }`): nft declares no named maps of %s objects", kind, kind)
			return nil, false
		}
		if m.Val.CatchAll != nil {
			p.errorf(m.Val.Pos, "a catch-all `*` element in a map of %s objects is not supported by nfd", kind)
			return nil, false
		}
		return &ObjRef{Pos: pos, Kind: kind, Map: m}, true
	}
	n, ok := p.objRefName(kind)
	if !ok {
		return nil, false
	}
	return &ObjRef{Pos: pos, Kind: kind, Name: n.text}, true
}

// typeObjName is the data of an object map: an object's name
// (NFT_OBJ_MAXNAMELEN).
var typeObjName = &Type{Name: "object name", Size: 256, kind: kString}

// objMapKinds are the objects a named map may name (nft 1.0.6's
// map_block_obj_type; nfd keeps no secmark objects).
var objMapKinds = map[string]bool{"counter": true, "quota": true, "limit": true, "synproxy": true}

// ObjMapNames returns the object names of an object map's elements, in
// order.
func ObjMapNames(m *DataMap) []string {
	return objNames(m.Val.Elems)
}

func objNames(els []Elem) []string {
	out := make([]string, len(els))
	for i, e := range els {
		out[i] = strings.TrimRight(string(e.Data), "\x00")
	}
	return out
}

// isCtObjSet reports whether the rule goes on with `ct helper|timeout|
// expectation set`.
func (p *parser) isCtObjSet() bool {
	k, s := p.peekAt(1), p.peekAt(2)
	return k.kind == tWord && (k.text == "helper" || k.text == "timeout" || k.text == "expectation") && s.kind == tWord && s.text == "set"
}

func (p *parser) parseCtObjSet() (Stmt, bool) {
	ct := p.next()
	k := p.next()
	p.next() // set
	return p.parseObjAssign("ct "+k.text, ct.pos)
}

// checkKernelObjRef refuses an assignment of an object the table lacks,
// and, with a map, checks its elements and their names.
func (p *parser) checkKernelObjRef(t *Table, s *ObjRef) {
	names := []string{s.Name}
	if s.Map != nil {
		if !checkDataMap(t, s.Map, p) {
			return
		}
		names = ObjMapNames(s.Map)
		if ref := s.Map.Val.SetRef; ref != "" {
			// checkSets checked the elements' names.
			if m := t.Set(ref); m.ObjKind == "" {
				p.errorf(s.Map.Val.Pos, "`@%s` is not a map of objects (declare it `type %s : %s`)", ref, typeList(m.Key), s.Kind)
			}
			return
		}
	}
	for _, n := range names {
		if t.Object(s.Kind, n) == nil {
			p.errorf(s.Pos, "undefined %s `%s` in table `%s %s`", s.Kind, n, t.Family, t.Name)
			return
		}
	}
}

func formatObjRef(s *ObjRef) string {
	val := quote(s.Name)
	if s.Map != nil {
		val = formatDataMap(s.Map)
	}
	switch s.Kind {
	case "counter", "quota", "limit", "synproxy":
		return s.Kind + " name " + val
	}
	return s.Kind + " set " + val
}

func printKernelObject(b fmtWriter, o *Object) {
	fam := map[uint16]string{2: "ip", 10: "ip6", 1: "inet", 3: "arp", 7: "bridge", 5: "netdev"}
	l4 := map[uint8]string{6: "tcp", 17: "udp"}
	var lines []string
	switch {
	case o.Helper != nil:
		lines = append(lines, fmt.Sprintf("type %s protocol %s", quote(o.Helper.Type), l4[o.Helper.L4]))
		if o.Helper.L3 != 0 {
			lines = append(lines, "l3proto "+fam[o.Helper.L3])
		}
	case o.Timeout != nil:
		lines = append(lines, "protocol "+l4[o.Timeout.L4])
		if o.Timeout.L3 != 0 {
			lines = append(lines, "l3proto "+fam[o.Timeout.L3])
		}
		var ps []string
		for _, s := range o.Timeout.Policy {
			ps = append(ps, fmt.Sprintf("%s : %d", s.Name, s.Secs))
		}
		lines = append(lines, "policy = { "+strings.Join(ps, ", ")+" }")
	case o.Expect != nil:
		lines = append(lines, "protocol "+l4[o.Expect.L4], fmt.Sprintf("dport %d", o.Expect.DPort),
			"timeout "+formatDurationMs(uint64(o.Expect.TimeoutMs)), fmt.Sprintf("size %d", o.Expect.Size))
		if o.Expect.L3 != 0 {
			lines = append(lines, "l3proto "+fam[o.Expect.L3])
		}
	case o.SynProxy != nil:
		s := o.SynProxy
		lines = append(lines, fmt.Sprintf("mss %d", s.MSS), fmt.Sprintf("wscale %d", s.Wscale))
		var opts []string
		if s.Timestamp {
			opts = append(opts, "timestamp")
		}
		if s.SackPerm {
			opts = append(opts, "sack-perm")
		}
		if len(opts) > 0 {
			lines = append(lines, strings.Join(opts, " "))
		}
	}
	fmt.Fprintf(b, "\t%s %s {\n", o.Kind, quoteName(o.Name))
	for _, l := range lines {
		fmt.Fprintf(b, "\t\t%s\n", l)
	}
	if o.Comment != "" {
		fmt.Fprintf(b, "\t\tcomment %s\n", quote(o.Comment))
	}
	b.WriteString("\t}\n")
}

// checkObjMapNames refuses a named object map element naming an object
// the table lacks (the kernel's nft_set_elem_init: ENOENT).
func checkObjMapNames(t *Table, s *Set, p *parser) bool {
	els := s.Elems
	if s.CatchAll != nil {
		els = append(els[:len(els):len(els)], *s.CatchAll)
	}
	for _, n := range objNames(els) {
		if t.Object(s.ObjKind, n) == nil {
			p.errorf(s.Pos, "map `%s` names undefined %s `%s` in table `%s %s`", s.Name, s.ObjKind, n, t.Family, t.Name)
			return false
		}
	}
	return true
}

// objMapKindsOf makes each statement naming objects through a named
// object map name the map's kind of object: the kernel takes the object
// each element holds, whatever the statement's keyword (nft accepts
// `quota name KEY map @m` with m a map of counters, and the packet counts
// in the counter), and nft lists the statement by the map's object type.
func objMapKindsOf(t *Table) {
	objMaps := false
	for _, s := range t.Sets {
		objMaps = objMaps || s.ObjKind != ""
	}
	if !objMaps {
		return // nothing to name (and no rule to look at)
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if r.reused {
				continue // never holds one: reusable
			}
			for _, st := range r.Stmts {
				s, ok := st.(*ObjRef)
				if !ok || s.Map == nil || s.Map.Val.SetRef == "" {
					continue
				}
				if m := t.Set(s.Map.Val.SetRef); m != nil && m.ObjKind != "" {
					s.Kind = m.ObjKind
				}
			}
		}
	}
}
