package parser

import (
	"fmt"
	"strconv"
	"strings"
)

// Print renders the ruleset in canonical nft form, the way
// `nft list ruleset` lays it out. Parsing the output gives the same tree.
func Print(rs *Ruleset) string {
	var b strings.Builder
	for i, t := range rs.Tables {
		if i > 0 {
			b.WriteByte('\n')
		}
		PrintTable(&b, t)
	}
	return b.String()
}

// PrintTable renders one table.
func PrintTable(b *strings.Builder, t *Table) {
	fmt.Fprintf(b, "table %s %s {\n", t.Family, quoteName(t.Name))
	first := true
	sep := func() {
		if !first {
			b.WriteByte('\n')
		}
		first = false
	}
	if t.Dormant {
		b.WriteString("\tflags dormant\n")
		first = false
	}
	if t.Comment != "" {
		fmt.Fprintf(b, "\tcomment %s\n", quote(t.Comment))
		first = false
	}
	for _, o := range t.Objects {
		sep()
		printObject(b, o)
	}
	for _, s := range t.Sets {
		sep()
		printSet(b, s)
	}
	for _, c := range t.Chains {
		if c.Bound {
			continue
		}
		sep()
		printChain(b, t, c)
	}
	b.WriteString("}\n")
}

// quoteName prints a table, chain or set name. nft 1.0.6 takes only bare
// names there, and nfd accepts only names nft takes (declName), so a name
// prints as it was written.
func quoteName(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// nftKeywords are words nft's scanner takes as keywords wherever they
// appear; a table, chain or set so named must be quoted for nft to read it.
var nftKeywords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`ip ip6 inet bridge arp netdev table chain set map rule element
		elements comment flags type typeof hook priority policy define include flush add delete insert
		create vmap fwd dup queue log counter counters limit quota reject accept drop continue return
		eq ne lt gt le ge jump goto snat dnat masquerade redirect notrack meta ct mark tcp udp th icmp icmpv6 tls http dns
		sctp dccp esp ah vlan ether ip6ext exthdr rt hbh frag dst mh osf socket tproxy synproxy secmark
		flowtable devices device timeout size to with level prefix over rate burst packets bytes`) {
		nftKeywords[w] = true
	}
}

func isKeyword(s string) bool { return nftKeywords[s] }

// quote writes a string literal; nft strings have no escapes and the lexer
// cannot produce a string holding a quote.
func quote(s string) string { return `"` + s + `"` }

// FormatSet renders one set or map of a table as declared, indented for
// its place in the table's block.
func FormatSet(s *Set) string {
	var b strings.Builder
	printSet(&b, s)
	return b.String()
}

func printSet(b *strings.Builder, s *Set) {
	kw := "set"
	if s.IsMap {
		kw = "map"
	}
	fmt.Fprintf(b, "\t%s %s {\n", kw, quoteName(s.Name))
	if len(s.Typeof) > 0 {
		b.WriteString("\t\ttypeof " + keyNames(s.Typeof))
	} else {
		b.WriteString("\t\ttype " + typeList(s.Key))
	}
	if s.IsMap {
		switch {
		case s.Data == TypeVerdict:
			b.WriteString(" : verdict")
		case s.ObjKind != "":
			b.WriteString(" : " + s.ObjKind)
		case s.DataOf != FieldNone && len(s.Typeof) > 0:
			b.WriteString(" : " + s.DataOf.String())
		default:
			b.WriteString(" : " + typeList(s.mapData()))
		}
	}
	b.WriteByte('\n')
	if s.Flags != 0 {
		var f []string
		for _, x := range []struct {
			f SetFlags
			n string
		}{{SetConstant, "constant"}, {SetInterval, "interval"}, {SetTimeout, "timeout"}, {SetDynamic, "dynamic"}} {
			if s.Flags&x.f != 0 {
				f = append(f, x.n)
			}
		}
		fmt.Fprintf(b, "\t\tflags %s\n", strings.Join(f, ","))
	}
	if s.Counter {
		b.WriteString("\t\tcounter\n")
	}
	if s.Timeout != 0 {
		fmt.Fprintf(b, "\t\ttimeout %s\n", formatDuration(s.Timeout))
	}
	if s.Size != 0 {
		fmt.Fprintf(b, "\t\tsize %d\n", s.Size)
	}
	if s.AutoMerg {
		b.WriteString("\t\tauto-merge\n")
	}
	if s.Comment != "" {
		fmt.Fprintf(b, "\t\tcomment %s\n", quote(s.Comment))
	}
	printSetDNS(b, s.DNS)
	if ne := s.NumElems(); ne > 0 || s.CatchAll != nil {
		b.WriteString("\t\telements = { ")
		data := s.mapData()
		n := ne
		if s.CatchAll != nil {
			n++
		}
		b.Grow(n * 18)
		var scratch [24]byte
		var el Elem
		for i := 0; i < n; i++ {
			e := s.CatchAll // at index ne, without copying the list
			if i < ne {
				e = s.ElemAt(i, &el)
			}
			if i > 0 {
				b.WriteString(",")
				if i%4 == 0 {
					b.WriteString("\n\t\t\t     ")
				} else {
					b.WriteString(" ")
				}
			}
			if plainIPv4Elem(s.Key, e, data) {
				b.Write(appendIPv4(scratch[:0], e.Lo))
				continue
			}
			b.WriteString(FormatElem(s.Key, e, data))
		}
		b.WriteString(" }\n")
	}
	b.WriteString("\t}\n")
}

func formatDuration(sec uint64) string {
	var b strings.Builder
	for _, u := range []struct {
		n uint64
		s string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if sec >= u.n {
			fmt.Fprintf(&b, "%d%s", sec/u.n, u.s)
			sec %= u.n
		}
	}
	return b.String()
}

var stdPrios = []struct {
	name string
	v    int
}{{"raw", -300}, {"mangle", -150}, {"dstnat", -100}, {"filter", 0}, {"security", 50}, {"srcnat", 100}}

// prioValidAt mirrors nft's std_prio_family_hook_compat(): the NAT
// priority names only exist at the hooks where NAT runs (nft 1.0.6 checked).
func prioValidAt(name string, hook Hook) bool {
	switch name {
	case "dstnat":
		return hook == HookPrerouting
	case "srcnat":
		return hook == HookPostrouting
	}
	return true
}

// FormatPriority prints a priority as nft does: a keyword, a keyword with
// an offset, or a number. dstnat and srcnat only name the hooks where NAT runs.
func FormatPriority(prio int, hook Hook) string {
	for _, s := range stdPrios {
		if !prioValidAt(s.name, hook) {
			continue
		}
		d := prio - s.v
		switch {
		case d == 0:
			return s.name
		case d > 0 && d <= 10:
			return fmt.Sprintf("%s + %d", s.name, d)
		case d < 0 && d >= -10:
			return fmt.Sprintf("%s - %d", s.name, -d)
		}
	}
	return strconv.Itoa(prio)
}

func printChain(b *strings.Builder, t *Table, c *Chain) {
	if c.Bound {
		return // printed inside its `jump { ... }`
	}
	fmt.Fprintf(b, "\tchain %s {\n", quoteName(c.Name))
	if c.Comment != "" {
		fmt.Fprintf(b, "\t\tcomment %s\n", quote(c.Comment))
	}
	if bs := c.Base; bs != nil {
		fmt.Fprintf(b, "\t\ttype %s hook %s priority %s; policy %s;\n", bs.Type, bs.Hook, FormatPriority(bs.Priority, bs.Hook), bs.Policy)
	}
	for _, r := range c.Rules {
		b.WriteString("\t\t")
		b.WriteString(FormatRule(r))
		b.WriteByte('\n')
	}
	b.WriteString("\t}\n")
}

// FormatRule renders one rule on one line.
func FormatRule(r *Rule) string {
	var parts []string
	for _, s := range r.Stmts {
		parts = append(parts, FormatStmt(s))
	}
	if r.Comment != "" {
		parts = append(parts, "comment "+quote(r.Comment))
	}
	return strings.Join(parts, " ")
}

// FormatStmt renders one statement.
func FormatStmt(s Stmt) string {
	switch s := s.(type) {
	case *Match:
		return formatMatch(s)
	case *VMap:
		return keyNames(s.Keys) + " vmap " + formatValue(keyTypes(s.Keys), &s.Val, []*Type{TypeVerdict})
	case *Counter:
		return fmt.Sprintf("counter packets %d bytes %d", s.Packets, s.Bytes)
	case *Log:
		out := "log"
		if s.Prefix != "" {
			out += " prefix " + quote(s.Prefix)
		}
		if s.Level != "" {
			out += " level " + s.Level
		}
		if s.HasGroup {
			out += fmt.Sprintf(" group %d", s.Group)
		}
		if s.HasSnaplen {
			out += fmt.Sprintf(" snaplen %d", s.Snaplen)
		}
		if s.HasQThreshold {
			out += fmt.Sprintf(" queue-threshold %d", s.QThreshold)
		}
		return out + formatLogFlags(s.Flags)
	case *Quota:
		out := "quota "
		if s.Over {
			out += "over "
		}
		out += formatBytes(s.Bytes)
		if s.Used != 0 {
			out += " used " + formatBytes(s.Used)
		}
		return out
	case *Limit:
		out := "limit rate "
		if s.Over {
			out += "over "
		}
		if s.Bytes {
			out += fmt.Sprintf("%d bytes/%s", s.Rate, s.Unit)
			if s.Burst != 0 {
				out += fmt.Sprintf(" burst %d bytes", s.Burst)
			}
		} else {
			out += fmt.Sprintf("%d/%s", s.Rate, s.Unit)
			if s.Burst != 0 {
				out += fmt.Sprintf(" burst %d packets", s.Burst)
			}
		}
		return out
	case *MarkSet:
		out := "meta mark set "
		if s.Ct {
			out = "ct mark set "
		}
		if s.Map != nil {
			return out + formatDataMap(s.Map)
		}
		if s.From != FieldNone {
			out += s.From.String()
			if s.Shift != 0 {
				out += fmt.Sprintf(" %s %d", map[uint8]string{ShiftLeft: "<<", ShiftRight: ">>"}[s.Shift], s.ShiftBy)
			}
			if s.Ops {
				if s.Mask != 0xffffffff {
					out += fmt.Sprintf(" & 0x%08x", s.Mask)
				}
				if s.Xor&s.Mask == 0 && s.Xor != 0 {
					out += fmt.Sprintf(" | 0x%08x", s.Xor)
				} else if s.Xor != 0 {
					out += fmt.Sprintf(" xor 0x%08x", s.Xor)
				}
			}
			return out
		}
		return out + fmt.Sprintf("0x%08x", s.Value)
	case *Verdict:
		if s.Bound != nil {
			var rules []string
			for _, r := range s.Bound.Rules {
				rules = append(rules, FormatRule(r))
			}
			return s.Kind.String() + " { " + strings.Join(rules, "; ") + "; }"
		}
		if s.Target != "" {
			return s.Kind.String() + " " + quoteName(s.Target)
		}
		return s.Kind.String()
	case *Reject:
		switch s.Kind {
		case RejectTCPReset:
			return "reject with tcp reset"
		case RejectICMP:
			return "reject with icmp " + TypeICMPCode.FormatValue([]byte{s.Code})
		case RejectICMPv6:
			return "reject with icmpv6 " + TypeICMP6Code.FormatValue([]byte{s.Code})
		case RejectICMPx:
			return "reject with icmpx " + TypeICMPxCode.FormatValue([]byte{s.Code})
		}
		return "reject"
	case *NAT:
		return formatNAT(s)
	case *CtCount:
		if s.Over {
			return fmt.Sprintf("ct count over %d", s.Count)
		}
		return fmt.Sprintf("ct count %d", s.Count)
	case *PayloadSet:
		if s.From != 0 {
			return s.Field.String() + " set " + s.From.String()
		}
		return s.Field.String() + " set " + s.Field.Type().FormatValue(s.Value)
	case *Notrack:
		return "notrack"
	case *KeySet, *SynProxy, *TProxy, *Dup:
		return formatKernelStmt(s)
	case *SetUpdate:
		return formatSetUpdate(s)
	case *ObjRef:
		return formatObjRef(s)
	}
	return "?"
}

func keyTypes(keys []Field) []*Type {
	ts := make([]*Type, len(keys))
	for i, k := range keys {
		ts[i] = k.Type()
	}
	return ts
}

func formatMatch(m *Match) string {
	if m.Merged {
		// print the parts: nft merges them again
		var parts []string
		off := 0
		for _, k := range m.Keys {
			n := k.Type().Size
			v := m.Val.Elems[0].Lo[off : off+n]
			off += n
			op := ""
			if m.Op == OpNe {
				op = "!= "
			}
			parts = append(parts, k.String()+" "+op+k.Type().FormatValue(v))
		}
		return strings.Join(parts, " ")
	}
	types := keyTypes(m.Keys)
	var b strings.Builder
	b.WriteString(keyNames(m.Keys))
	if m.Mask != nil {
		b.WriteString(formatBinops(types[0], m.Mask, m.Xor))
	}
	if m.Op != OpImplicit {
		b.WriteString(" ")
		b.WriteString(m.Op.String())
	}
	b.WriteString(" ")
	b.WriteString(formatValue(types, &m.Val, nil))
	return b.String()
}

func formatMaskValue(t *Type, v []byte) string {
	if t.Bitmask {
		s := formatBits(t, v, " | ")
		if strings.Contains(s, "|") {
			return "(" + s + ")"
		}
		return s
	}
	return t.FormatValue(v)
}

func formatBits(t *Type, v []byte, sep string) string {
	return strings.ReplaceAll(t.FormatValue(v), ",", sep)
}

func formatValue(types []*Type, v *Value, data []*Type) string {
	if v.SetRef != "" {
		return "@" + quoteName(v.SetRef)
	}
	if !v.Anon && len(v.Elems) == 1 {
		if len(types) == 1 && types[0].Bitmask {
			return types[0].FormatValue(v.Elems[0].Lo) // flags as a,b
		}
		return FormatElem(types, &v.Elems[0], data)
	}
	var parts []string
	for i := range v.Elems {
		e := &v.Elems[i]
		parts = append(parts, FormatElem(types, e, data))
	}
	if v.CatchAll != nil {
		parts = append(parts, FormatElem(types, v.CatchAll, data))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// FormatElem renders one element: its key parts joined by " . ", and the
// mapped value after " : " for maps.
func FormatElem(types []*Type, e *Elem, data []*Type) string {
	var s string
	if e.CatchAll {
		s = "*"
	} else if len(types) == 1 && types[0].Bitmask {
		s = formatBits(types[0], e.Lo, "|") // inside braces a comma separates elements
	} else if len(types) == 1 {
		s = types[0].FormatInterval(e.Lo, e.Hi)
	} else {
		off := 0
		var parts []string
		for _, t := range types {
			parts = append(parts, t.FormatInterval(e.Lo[off:off+t.Size], e.Hi[off:off+t.Size]))
			off += t.Size
		}
		s = strings.Join(parts, " . ")
	}
	if e.Counter != nil {
		s += fmt.Sprintf(" counter packets %d bytes %d", e.Counter.Packets, e.Counter.Bytes)
	}
	if e.Timeout != 0 {
		s += " timeout " + formatDuration(e.Timeout)
	}
	if e.Expires != 0 {
		s += " expires " + formatDuration(e.Expires)
	}
	if e.Comment != "" {
		s += " comment " + quote(e.Comment)
	}
	if data != nil {
		s += " : " + formatData(data, e)
	}
	return s
}

func formatData(data []*Type, e *Elem) string {
	if data[0] == TypeVerdict {
		if e.Verdict == nil {
			return "?"
		}
		return FormatStmt(e.Verdict)
	}
	var parts []string
	off := 0
	for _, t := range data {
		if off+t.Size > len(e.Data) {
			break
		}
		if e.DataHi != nil {
			parts = append(parts, t.FormatInterval(e.Data[off:off+t.Size], e.DataHi[off:off+t.Size]))
		} else {
			parts = append(parts, t.FormatValue(e.Data[off:off+t.Size]))
		}
		off += t.Size
	}
	return strings.Join(parts, " . ")
}

func formatNAT(n *NAT) string {
	var b strings.Builder
	b.WriteString(n.Kind.String())
	if n.Family != 0 {
		b.WriteString(" " + n.Family.String())
	}
	if n.Prefix {
		b.WriteString(" prefix")
	}
	if n.AddrLo != nil || n.AddrMap != nil || n.HasPort {
		b.WriteString(" to ")
	}
	if n.AddrMap != nil {
		b.WriteString(formatDataMap(n.AddrMap))
	}
	if n.AddrLo != nil {
		t := TypeIPv4
		if len(n.AddrLo) == 16 {
			t = TypeIPv6
		}
		a := t.FormatValue(n.AddrLo)
		if n.Prefix {
			a = t.FormatInterval(n.AddrLo, n.AddrHi)
		} else if string(n.AddrLo) != string(n.AddrHi) {
			a += "-" + t.FormatValue(n.AddrHi)
		}
		if t == TypeIPv6 && n.HasPort {
			a = "[" + a + "]"
			if !n.Prefix && string(n.AddrLo) != string(n.AddrHi) {
				a = "[" + t.FormatValue(n.AddrLo) + "]-[" + t.FormatValue(n.AddrHi) + "]"
			}
		}
		b.WriteString(a)
	}
	switch {
	case n.PortMap != nil:
		b.WriteString(":" + formatDataMap(n.PortMap))
	case n.HasPort && (n.AddrMap == nil || len(n.AddrMap.Data) == 1):
		fmt.Fprintf(&b, ":%d", n.PortLo)
		if n.PortHi != n.PortLo {
			fmt.Fprintf(&b, "-%d", n.PortHi)
		}
	}
	if len(n.Flags) > 0 {
		b.WriteString(" " + strings.Join(n.Flags, ","))
	}
	return b.String()
}

// formatLogFlags prints log flags as nft lists them (statement.c
// log_stmt_print): `all` when every flag is set.
func formatLogFlags(f LogFlags) string {
	if f == 0 {
		return ""
	}
	if f&LogFlagAll == LogFlagAll {
		return " flags all"
	}
	out := ""
	switch f & (LogTCPSeq | LogTCPOpt) {
	case LogTCPSeq:
		out += " flags tcp sequence"
	case LogTCPOpt:
		out += " flags tcp options"
	case LogTCPSeq | LogTCPOpt:
		out += " flags tcp sequence,options"
	}
	if f&LogIPOpt != 0 {
		out += " flags ip options"
	}
	if f&LogUID != 0 {
		out += " flags skuid"
	}
	if f&LogMACDec != 0 {
		out += " flags ether"
	}
	return out
}

// formatBytes prints a byte amount in the largest unit that divides it,
// as nft does (datatype.c data_unit_parse's units).
func formatBytes(n uint64) string {
	switch {
	case n != 0 && n%(1024*1024) == 0:
		return fmt.Sprintf("%d mbytes", n/(1024*1024))
	case n != 0 && n%1024 == 0:
		return fmt.Sprintf("%d kbytes", n/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}
