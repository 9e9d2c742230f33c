package parser

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Parsing of field selectors: the two-word forms come from the table
// (selectors), the others — conntrack directions, options and extension
// headers, fib, socket, osf, ipsec, numgen, raw payloads — are built here
// as table entries (Intern), so the rest of nfd sees one kind of field.

// moreSecondWords are second words parsed here, for error messages.
var moreSecondWords = map[string][]string{"tcp": {"option"}, "ip": {"option"}, "sctp": {"chunk"}, "ct": {"original", "reply"}}

// fieldStarts are the first words of selectors parsed here.
var fieldStarts = map[string]bool{
	"fib": true, "rt": true, "socket": true, "osf": true, "ipsec": true, "numgen": true,
	"jhash": true, "symhash": true,
	"exthdr": true, "hbh": true, "rt0": true, "rt2": true, "srh": true, "frag": true, "dst": true, "mh": true,
}

// isFieldStart reports whether tok begins a match.
func isFieldStart(tok token) bool {
	switch tok.kind {
	case tSetRef:
		switch tok.text {
		case "ll", "nh", "th", "ih":
			return true
		}
		return false
	case tWord:
		_, sel := selectors[tok.text]
		return sel || shorthands[tok.text] != FieldNone || fieldStarts[tok.text]
	}
	return false
}

// family is the family of the table being parsed.
func (p *parser) family() Family {
	if p.curTable == nil {
		return FamilyInet
	}
	return p.curTable.Family
}

func (p *parser) internField(pos Pos, fi FieldInfo) (Field, bool) {
	if !p.fieldAllowed(pos, &fi) {
		return 0, false
	}
	if needsFamilyVariant(&fi, p.family()) {
		fi.NoFamilyDep = true
	}
	f, err := internFor(fi, p.fields)
	if err != nil {
		p.errorf(pos, "%s", err)
		return 0, false
	}
	if p.curRule != nil && int(f) >= staticFields {
		p.ruleDyn = append(p.ruleDyn, f)
	}
	return f, true
}

// useField checks a field of the table before use.
func (p *parser) useField(pos Pos, f Field) (Field, bool) {
	if !p.fieldAllowed(pos, f.Info()) {
		return 0, false
	}
	if fi := *f.Info(); needsFamilyVariant(&fi, p.family()) {
		fi.NoFamilyDep = true
		return p.internField(pos, fi)
	}
	return f, true
}

// needsFamilyVariant: an ICMP, ICMPv6 or IGMP field outside inet tables
// depends on the transport protocol only.
func needsFamilyVariant(fi *FieldInfo, fam Family) bool {
	if fam == FamilyInet || fi.NoFamilyDep {
		return false
	}
	switch fi.Proto {
	case ProtoICMP, ProtoICMP6, ProtoIGMP:
		return true
	}
	return false
}

// fieldAllowed refuses a field nft or the kernel refuses in every rule of
// this table's family.
func (p *parser) fieldAllowed(pos Pos, fi *FieldInfo) bool {
	if fi.Refuse != "" {
		p.errorf(pos, "%s", fi.Refuse)
		return false
	}
	if fi.Families != 0 && fi.Families&(1<<p.family()) == 0 {
		p.errorf(pos, "`%s` is not available in %s tables (the kernel refuses it)", fi.Name, p.family())
		return false
	}
	return true
}

// parseFieldName parses a selector: `ip saddr`, `meta mark`, `iifname`,
// `tcp option maxseg size`, `ct original ip saddr`, `fib saddr . iif oif`,
// `@th,16,16`, ...
func (p *parser) parseFieldName() (Field, bool) {
	t := p.peek()
	if t.kind == tSetRef {
		return p.parseRawPayload()
	}
	if t.kind != tWord {
		p.errorf(t.pos, "found %s, expected a field such as `ip saddr` or `tcp dport`", t.describe())
		return 0, false
	}
	n := p.peekAt(1)
	switch t.text {
	case "tcp":
		if n.kind == tWord && n.text == "option" {
			p.next()
			p.next()
			return p.parseTCPOption(t.pos)
		}
	case "ip":
		if n.kind == tWord && n.text == "option" {
			p.next()
			p.next()
			return p.parseIPOption(t.pos)
		}
	case "sctp":
		if n.kind == tWord && n.text == "chunk" {
			p.next()
			p.next()
			return p.parseSCTPChunk(t.pos)
		}
	case "ct":
		if n.kind == tWord && (n.text == "original" || n.text == "reply") {
			p.next()
			p.next()
			return p.parseCtDir(t.pos, n.text)
		}
	case "rt":
		if n.kind == tWord && ip6ExtFields["rt"][n.text].name != "" {
			p.next()
			return p.parseIP6Ext(t.pos, "rt")
		}
		p.next()
		return p.parseRt(t.pos)
	case "fib":
		p.next()
		return p.parseFib(t.pos)
	case "socket":
		p.next()
		return p.parseSocket(t.pos)
	case "osf":
		p.next()
		return p.parseOsf(t.pos)
	case "ipsec":
		p.next()
		return p.parseIpsec(t.pos)
	case "numgen":
		p.next()
		return p.parseNumgen(t.pos)
	case "jhash", "symhash":
		p.next()
		return p.parseHash(t.pos, t.text)
	case "exthdr":
		p.next()
		return p.parseExthdrExists(t.pos)
	case "hbh", "rt0", "rt2", "srh", "frag", "dst", "mh":
		p.next()
		return p.parseIP6Ext(t.pos, t.text)
	}
	p.next()
	if sel, ok := selectors[t.text]; ok {
		if n.kind == tWord {
			if f, ok := sel[n.text]; ok {
				p.next()
				return p.useField(t.pos, f)
			}
		}
		var names []string
		for k := range sel {
			names = append(names, k)
		}
		names = append(names, moreSecondWords[t.text]...)
		sort.Strings(names)
		p.errorf(n.pos, "%s", expected(n.describe(), "a `"+t.text+"` field ("+strings.Join(names, ", ")+")", names))
		return 0, false
	}
	if f, ok := shorthands[t.text]; ok {
		return p.useField(t.pos, f)
	}
	var all []string
	for k := range selectors {
		all = append(all, k)
	}
	for k := range shorthands {
		all = append(all, k)
	}
	sort.Strings(all)
	p.errorf(t.pos, "%s", expected(t.describe(), "a field such as `ip saddr` or `tcp dport`", all))
	return 0, false
}

// word consumes one of words and returns it.
func (p *parser) oneOf(what string, words ...string) (string, Pos, bool) {
	t := p.peek()
	if t.kind == tWord {
		for _, w := range words {
			if t.text == w {
				p.next()
				return w, t.pos, true
			}
		}
	}
	p.errorf(t.pos, "%s", expected(t.describe(), what, words))
	return "", t.pos, false
}

func (p *parser) smallUint(what string, max uint64) (uint64, bool) {
	t := p.peek()
	if t.kind == tWord {
		if v, err := parseNftUint(t.text, 64); err == nil && v <= max {
			p.next()
			return v, true
		}
	}
	p.errorf(t.pos, "found %s, expected %s (0 to %d)", t.describe(), what, max)
	return 0, false
}

// parseRawPayload: `@base,offset,length`, nft's raw payload expression.
func (p *parser) parseRawPayload() (Field, bool) {
	t := p.next()
	base := map[string]Base{"ll": BaseLL, "nh": BaseNH, "th": BaseTH, "ih": BaseIH}[t.text]
	if base == BaseNone {
		p.errorf(t.pos, "`@%s` is not a payload base (ll, nh, th, ih)", t.text)
		return 0, false
	}
	var nums [2]uint64
	for i := range nums {
		if _, ok := p.expect(tComma, "`,`"); !ok {
			return 0, false
		}
		v, ok := p.smallUint("a bit offset or length", 1<<16)
		if !ok {
			return 0, false
		}
		nums[i] = v
	}
	if nums[1] == 0 || nums[1] > 128 {
		p.errorf(t.pos, "raw payload length %d: must be 1 to 128 bits", nums[1])
		return 0, false
	}
	typ := intBits(int(nums[1]))
	if nums[1] > 64 && nums[1] != 128 {
		p.errorf(t.pos, "raw payload length %d: nfd supports up to 64 bits, or 128", nums[1])
		return 0, false
	}
	fi := pl(fmt.Sprintf("@%s,%d,%d", t.text, nums[0], nums[1]), ProtoNone, base, uint32(nums[0]), uint32(nums[1]), typ, false)
	if base == BaseIH {
		fi.KernelOnly = "the inner header base is evaluated only by the kernel in nfd"
	}
	return p.internField(t.pos, fi)
}

// TCP options (nft's tcpopt.c): kind, and fields by bit offset within
// the option.
type optField struct {
	name      string
	off, bits uint32
	typ       *Type
}

type optDesc struct {
	kind   uint32
	fields []optField
}

// nft 1.0.6 has `length` for every option; `kind` is not a field there.
var optCommon = []optField{{"length", 8, 8, TypeU8}}

func sackFields(n uint32) []optField {
	return []optField{{"left", 16 + 64*n, 32, TypeU32}, {"right", 48 + 64*n, 32, TypeU32}}
}

var tcpOptions = map[string]optDesc{
	"eol":            {0, nil},
	"nop":            {1, nil},
	"maxseg":         {2, []optField{{"size", 16, 16, TypeU16}}},
	"window":         {3, []optField{{"count", 16, 8, TypeU8}}},
	"sack-perm":      {4, nil},
	"sack-permitted": {4, nil},
	"mss":            {2, []optField{{"size", 16, 16, TypeU16}}},
	"sack":           {5, sackFields(0)},
	"sack0":          {5, sackFields(0)},
	"sack1":          {5, sackFields(1)},
	"sack2":          {5, sackFields(2)},
	"sack3":          {5, sackFields(3)},
	"timestamp":      {8, []optField{{"tsval", 16, 32, TypeU32}, {"tsecr", 48, 32, TypeU32}}},
	"md5sig":         {19, nil},
	"mptcp":          {30, []optField{{"subtype", 16, 4, intBits(4)}}},
	"fastopen":       {34, nil},
}

func (d optDesc) field(name string) (optField, bool) {
	for _, f := range append(append([]optField(nil), optCommon...), d.fields...) {
		if f.name == name {
			return f, true
		}
	}
	return optField{}, false
}

func (p *parser) parseTCPOption(pos Pos) (Field, bool) {
	t := p.peek()
	var names []string
	for k := range tcpOptions {
		names = append(names, k)
	}
	sort.Strings(names)
	var d optDesc
	var optName string
	switch {
	case t.kind == tSetRef:
		// raw: `tcp option @kind,offset,length` (bits)
		p.next()
		kind, err := strconv.ParseUint(t.text, 10, 8)
		if err != nil {
			p.errorf(t.pos, "`@%s`: a TCP option kind is 0 to 255", t.text)
			return 0, false
		}
		var nums [2]uint64
		for i := range nums {
			if _, ok := p.expect(tComma, "`,`"); !ok {
				return 0, false
			}
			v, ok := p.smallUint("a bit offset or length", 320)
			if !ok {
				return 0, false
			}
			nums[i] = v
		}
		if nums[1] == 0 || nums[1] > 64 {
			p.errorf(t.pos, "raw TCP option length %d: nfd supports 1 to 64 bits", nums[1])
			return 0, false
		}
		return p.internField(pos, FieldInfo{Name: fmt.Sprintf("tcp option @%d,%d,%d", kind, nums[0], nums[1]), Base: BaseTCPOpt,
			Key: uint32(kind), Proto: ProtoTCP, Off: uint32(nums[0]), Len: uint32(nums[1]), Type: intBits(int(nums[1]))})
	case t.kind == tWord && isDigits(t.text):
		// numeric kinds: `tcp option 254 exists`
		v, ok := p.smallUint("a TCP option kind", 255)
		if !ok {
			return 0, false
		}
		d, optName = optDesc{kind: uint32(v)}, strconv.FormatUint(v, 10)
	default:
		o, _, ok := p.oneOf("a TCP option", names...)
		if !ok {
			return 0, false
		}
		d, optName = tcpOptions[o], o
	}
	fi := FieldInfo{Base: BaseTCPOpt, Key: d.kind, Proto: ProtoTCP}
	if n := p.peek(); n.kind == tWord {
		if of, ok := d.field(n.text); ok {
			p.next()
			fi.Name = "tcp option " + optName + " " + of.name
			fi.Off, fi.Len, fi.Type = of.off, of.bits, of.typ
			return p.internField(pos, fi)
		}
	}
	fi.Name, fi.Type, fi.Exists, fi.Len = "tcp option "+optName, TypeBool, true, 8
	return p.internField(pos, fi)
}

// IPv4 options nft knows (ipopt.c), found by ipv4_find_option().
var ipOptions = map[string]optDesc{
	"lsrr": {131, []optField{{"ptr", 16, 8, TypeU8}, {"addr", 24, 32, TypeU32}}},
	"ssrr": {137, []optField{{"ptr", 16, 8, TypeU8}, {"addr", 24, 32, TypeU32}}},
	"rr":   {7, []optField{{"ptr", 16, 8, TypeU8}, {"addr", 24, 32, TypeU32}}},
	"ra":   {148, []optField{{"value", 16, 16, TypeU16}}},
}

func (p *parser) parseIPOption(pos Pos) (Field, bool) {
	o, _, ok := p.oneOf("an IP option", "lsrr", "ra", "rr", "ssrr")
	if !ok {
		return 0, false
	}
	d := ipOptions[o]
	fi := FieldInfo{Base: BaseIPOpt, Key: d.kind, Proto: ProtoIP}
	if n := p.peek(); n.kind == tWord {
		if n.text == "type" {
			p.next()
			fi.Name, fi.Off, fi.Len, fi.Type = "ip option "+o+" type", 0, 8, TypeU8
			return p.internField(pos, fi)
		}
		if of, ok := d.field(n.text); ok {
			p.next()
			fi.Name = "ip option " + o + " " + of.name
			fi.Off, fi.Len, fi.Type = of.off, of.bits, of.typ
			return p.internField(pos, fi)
		}
	}
	fi.Name, fi.Type, fi.Exists, fi.Len = "ip option "+o, TypeBool, true, 8
	return p.internField(pos, fi)
}

// SCTP chunks (nft's sctp_chunk.c).
var sctpChunkCommon = []optField{{"type", 0, 8, TypeU8}, {"flags", 8, 8, TypeU8}, {"length", 16, 16, TypeU16}}

var sctpChunks = map[string]optDesc{
	"data": {0, []optField{{"tsn", 32, 32, TypeU32}, {"stream", 64, 16, TypeU16}, {"ssn", 80, 16, TypeU16}, {"ppid", 96, 32, TypeU32}}},
	"init": {1, []optField{{"init-tag", 32, 32, TypeU32}, {"a-rwnd", 64, 32, TypeU32}, {"num-outbound-streams", 96, 16, TypeU16},
		{"num-inbound-streams", 112, 16, TypeU16}, {"initial-tsn", 128, 32, TypeU32}}},
	"init-ack": {2, []optField{{"init-tag", 32, 32, TypeU32}, {"a-rwnd", 64, 32, TypeU32}, {"num-outbound-streams", 96, 16, TypeU16},
		{"num-inbound-streams", 112, 16, TypeU16}, {"initial-tsn", 128, 32, TypeU32}}},
	"sack": {3, []optField{{"cum-tsn-ack", 32, 32, TypeU32}, {"a-rwnd", 64, 32, TypeU32}, {"num-gap-ack-blocks", 96, 16, TypeU16},
		{"num-dup-tsns", 112, 16, TypeU16}}},
	"heartbeat":         {4, nil},
	"heartbeat-ack":     {5, nil},
	"abort":             {6, nil},
	"shutdown":          {7, []optField{{"cum-tsn-ack", 32, 32, TypeU32}}},
	"shutdown-ack":      {8, nil},
	"error":             {9, nil},
	"cookie-echo":       {10, nil},
	"cookie-ack":        {11, nil},
	"ecne":              {12, []optField{{"lowest-tsn", 32, 32, TypeU32}}},
	"cwr":               {13, []optField{{"lowest-tsn", 32, 32, TypeU32}}},
	"shutdown-complete": {14, nil},
	"asconf-ack":        {128, []optField{{"seqno", 32, 32, TypeU32}}},
	"forward-tsn":       {192, []optField{{"new-cum-tsn", 32, 32, TypeU32}}},
	"asconf":            {193, []optField{{"seqno", 32, 32, TypeU32}}},
}

func (p *parser) parseSCTPChunk(pos Pos) (Field, bool) {
	var names []string
	for k := range sctpChunks {
		names = append(names, k)
	}
	sort.Strings(names)
	c, _, ok := p.oneOf("an SCTP chunk type", names...)
	if !ok {
		return 0, false
	}
	d := sctpChunks[c]
	fi := FieldInfo{Base: BaseSCTP, Key: d.kind, Proto: ProtoSCTP}
	if n := p.peek(); n.kind == tWord {
		for _, of := range append(append([]optField(nil), sctpChunkCommon...), d.fields...) {
			if of.name == n.text {
				p.next()
				fi.Name = "sctp chunk " + c + " " + of.name
				fi.Off, fi.Len, fi.Type = of.off, of.bits, of.typ
				return p.internField(pos, fi)
			}
		}
	}
	fi.Name, fi.Type, fi.Exists, fi.Len = "sctp chunk "+c, TypeBool, true, 8
	return p.internField(pos, fi)
}

// IPv6 extension headers (nft's exthdr.c), by their next-header numbers.
type extField struct {
	name      string
	off, bits uint32
	typ       *Type
}

var ip6ExtTypes = map[string]uint32{"hbh": 0, "rt": 43, "rt0": 43, "rt2": 43, "srh": 43, "frag": 44, "dst": 60, "mh": 135}

var ip6ExtFields = map[string]map[string]extField{
	"hbh": {"nexthdr": {"nexthdr", 0, 8, TypeProto}, "hdrlength": {"hdrlength", 8, 8, TypeU8}},
	"rt": {"nexthdr": {"nexthdr", 0, 8, TypeProto}, "hdrlength": {"hdrlength", 8, 8, TypeU8},
		"type": {"type", 16, 8, TypeU8}, "seg-left": {"seg-left", 24, 8, TypeU8}},
	"rt0": {},
	"rt2": {},
	"srh": {"last-entry": {"last-entry", 32, 8, TypeU8}, "flags": {"flags", 40, 8, TypeU8}, "tag": {"tag", 48, 16, TypeU16}},
	"frag": {"nexthdr": {"nexthdr", 0, 8, TypeProto}, "reserved": {"reserved", 8, 8, TypeU8},
		"frag-off": {"frag-off", 16, 13, intBits(13)}, "reserved2": {"reserved2", 29, 2, intBits(2)},
		"more-fragments": {"more-fragments", 31, 1, intBits(1)}, "id": {"id", 32, 32, TypeU32}},
	"dst": {"nexthdr": {"nexthdr", 0, 8, TypeProto}, "hdrlength": {"hdrlength", 8, 8, TypeU8}},
	"mh": {"nexthdr": {"nexthdr", 0, 8, TypeProto}, "hdrlength": {"hdrlength", 8, 8, TypeU8},
		"type": {"type", 16, 8, TypeMHType}, "reserved": {"reserved", 24, 8, TypeU8}, "checksum": {"checksum", 32, 16, TypeU16}},
}

func (p *parser) parseIP6Ext(pos Pos, hdr string) (Field, bool) {
	n := p.peek()
	fi := FieldInfo{Base: BaseIP6Ext, Key: ip6ExtTypes[hdr], Proto: ProtoIP6}
	// rt0 addr[N], srh sid[N]
	if n.kind == tWord && ((hdr == "rt0" && n.text == "addr") || (hdr == "srh" && n.text == "sid")) {
		p.next()
		if _, ok := p.expect(tLBrack, "`[`"); !ok {
			return 0, false
		}
		i, ok := p.smallUint("an index", 255)
		if !ok {
			return 0, false
		}
		if _, ok := p.expect(tRBrack, "`]`"); !ok {
			return 0, false
		}
		if i == 0 {
			p.errorf(n.pos, "`%s %s[0]`: indexes start at 1", hdr, n.text)
			return 0, false
		}
		fi.Name = fmt.Sprintf("%s %s[%d]", hdr, n.text, i)
		fi.Off, fi.Len, fi.Type = uint32(64+128*(i-1)), 128, TypeIPv6
		return p.internField(pos, fi)
	}
	fields := ip6ExtFields[hdr]
	if n.kind == tWord {
		if f, ok := fields[n.text]; ok {
			p.next()
			fi.Name = hdr + " " + f.name
			fi.Off, fi.Len, fi.Type = f.off, f.bits, f.typ
			return p.internField(pos, fi)
		}
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	p.errorf(n.pos, "%s", expected(n.describe(), "a `"+hdr+"` field ("+strings.Join(names, ", ")+")", names))
	return 0, false
}

// `exthdr hbh exists`: the presence of an IPv6 extension header.
func (p *parser) parseExthdrExists(pos Pos) (Field, bool) {
	h, _, ok := p.oneOf("an IPv6 extension header", "dst", "frag", "hbh", "mh", "rt")
	if !ok {
		return 0, false
	}
	return p.internField(pos, FieldInfo{Name: "exthdr " + h, Base: BaseIP6Ext, Key: ip6ExtTypes[h], Proto: ProtoIP6,
		Type: TypeBool, Exists: true, Len: 8})
}

// ct original|reply KEY (nft_ct with a direction).
func (p *parser) parseCtDir(pos Pos, dir string) (Field, bool) {
	d := uint8(1)
	if dir == "reply" {
		d = 2
	}
	w, wpos, ok := p.oneOf("a `ct "+dir+"` field", "saddr", "daddr", "ip", "ip6", "proto-src", "proto-dst",
		"l3proto", "protocol", "bytes", "packets", "avgpkt", "zone")
	if !ok {
		return 0, false
	}
	fi := FieldInfo{Base: BaseCt, Dir: d, KernelOnly: koCt}
	switch w {
	case "ip", "ip6":
		a, _, ok := p.oneOf("saddr or daddr", "saddr", "daddr")
		if !ok {
			return 0, false
		}
		fi.Name = "ct " + dir + " " + w + " " + a
		fi.Type, fi.Proto = TypeIPv4, ProtoIP
		fi.Key = map[string]uint32{"saddr": xNFT_CT_SRC_IP, "daddr": xNFT_CT_DST_IP}[a]
		if w == "ip6" {
			fi.Type, fi.Proto = TypeIPv6, ProtoIP6
			fi.Key = map[string]uint32{"saddr": xNFT_CT_SRC_IP6, "daddr": xNFT_CT_DST_IP6}[a]
		}
	case "saddr", "daddr":
		// The family comes from the table; in inet from the rule's
		// network context (ruleNetwork), else nft needs `ip` or `ip6`.
		fi.Name = "ct " + dir + " " + w
		fam := p.family()
		if fam == FamilyInet {
			fam = p.ruleNetwork()
		}
		switch fam {
		case FamilyIP:
			fi.Type, fi.Proto = TypeIPv4, ProtoIP
			fi.Key = map[string]uint32{"saddr": xNFT_CT_SRC_IP, "daddr": xNFT_CT_DST_IP}[w]
		case FamilyIP6:
			fi.Type, fi.Proto = TypeIPv6, ProtoIP6
			fi.Key = map[string]uint32{"saddr": xNFT_CT_SRC_IP6, "daddr": xNFT_CT_DST_IP6}[w]
		default:
			p.errorf(pos, "cannot determine ip protocol version, use \"ip %s\" or \"ip6 %s\" instead", w, w)
			return 0, false
		}
	case "proto-src", "proto-dst":
		fi.Name, fi.Type = "ct "+dir+" "+w, TypeService
		fi.Key = map[string]uint32{"proto-src": unix.NFT_CT_PROTO_SRC, "proto-dst": unix.NFT_CT_PROTO_DST}[w]
	case "l3proto":
		fi.Name, fi.Type, fi.Key = "ct "+dir+" l3proto", TypeNfProto, unix.NFT_CT_L3PROTOCOL
	case "protocol":
		fi.Name, fi.Type, fi.Key = "ct "+dir+" protocol", TypeProto, unix.NFT_CT_PROTOCOL
	case "bytes", "packets", "avgpkt":
		fi.Name, fi.Type, fi.Host = "ct "+dir+" "+w, TypeU64, true
		fi.Key = map[string]uint32{"bytes": unix.NFT_CT_BYTES, "packets": unix.NFT_CT_PKTS, "avgpkt": unix.NFT_CT_AVGPKT}[w]
	case "zone":
		fi.Name, fi.Type, fi.Host, fi.Key = "ct "+dir+" zone", TypeU16, true, unix.NFT_CT_ZONE
	}
	_ = wpos
	return p.internField(pos, fi)
}

// fib FLAGS RESULT (nft_fib): `fib saddr . iif oif`, `fib daddr type`.
func (p *parser) parseFib(pos Pos) (Field, bool) {
	var flags uint32
	var parts []string
	for {
		w, _, ok := p.oneOf("a fib input (saddr, daddr, mark, iif, oif)", "saddr", "daddr", "mark", "iif", "oif")
		if !ok {
			return 0, false
		}
		flags |= map[string]uint32{"saddr": unix.NFTA_FIB_F_SADDR, "daddr": unix.NFTA_FIB_F_DADDR,
			"mark": unix.NFTA_FIB_F_MARK, "iif": unix.NFTA_FIB_F_IIF, "oif": unix.NFTA_FIB_F_OIF}[w]
		parts = append(parts, w)
		if p.peek().kind != tDot {
			break
		}
		p.next()
	}
	res, rpos, ok := p.oneOf("a fib result (oif, oifname, type)", "oif", "oifname", "type")
	if !ok {
		return 0, false
	}
	if flags&(unix.NFTA_FIB_F_SADDR|unix.NFTA_FIB_F_DADDR) == 0 {
		p.errorf(pos, "fib: one of saddr or daddr is required")
		return 0, false
	}
	if flags&unix.NFTA_FIB_F_SADDR != 0 && flags&unix.NFTA_FIB_F_DADDR != 0 {
		p.errorf(pos, "fib: saddr and daddr are mutually exclusive")
		return 0, false
	}
	if flags&unix.NFTA_FIB_F_IIF != 0 && flags&unix.NFTA_FIB_F_OIF != 0 {
		p.errorf(pos, "fib: iif and oif are mutually exclusive")
		return 0, false
	}
	fi := FieldInfo{Name: "fib " + strings.Join(parts, " . ") + " " + res, Base: BaseFib, Flags: flags, KernelOnly: koRoute}
	// nft_fib_validate()
	switch {
	case res != "type":
		fi.Hooks = hooksIn
	case flags&unix.NFTA_FIB_F_IIF != 0:
		fi.Hooks = hooksIn
	case flags&unix.NFTA_FIB_F_OIF != 0:
		fi.Hooks = hooksOut
	default:
		fi.Hooks = 1<<HookInput | 1<<HookOutput | 1<<HookForward | 1<<HookPrerouting
	}
	// `fib ... oif exists|missing`: nft sets NFTA_FIB_F_PRESENT and the
	// kernel stores 1 or 0 in one byte (nft_fib_store_result). The
	// kernel refuses the flag with any other result.
	// (`oif exists`, `oif != missing`, `oif eq exists`)
	v := p.peek()
	if n := p.peekAt(1); v.kind == tEq || v.kind == tNe || (v.kind == tWord && (v.text == "eq" || v.text == "ne")) {
		v = n
	}
	if v.kind == tWord && (v.text == "exists" || v.text == "missing") {
		if res != "oif" {
			p.errorf(rpos, "`fib ... %s %s`: only the `oif` result can be tested with exists or missing (the kernel refuses it otherwise)", res, v.text)
			return 0, false
		}
		fi.Flags |= unix.NFTA_FIB_F_PRESENT
		fi.Key, fi.Type = unix.NFT_FIB_RESULT_OIF, TypeBool
		return p.internField(pos, fi)
	}
	switch res {
	case "oif":
		fi.Key, fi.Type, fi.Host = unix.NFT_FIB_RESULT_OIF, TypeIfindexN, true
	case "oifname":
		fi.Key, fi.Type = unix.NFT_FIB_RESULT_OIFNAME, TypeString16
	case "type":
		fi.Key, fi.Type, fi.Host = unix.NFT_FIB_RESULT_ADDRTYPE, TypeFibAddr, true
	}
	return p.internField(pos, fi)
}

// rt KEY (nft_rt): classid, mtu, ipsec, [ip|ip6] nexthop.
func (p *parser) parseRt(pos Pos) (Field, bool) {
	w, _, ok := p.oneOf("an `rt` key", "classid", "mtu", "ipsec", "nexthop", "ip", "ip6",
		"nexthdr", "hdrlength", "type", "seg-left")
	if !ok {
		return 0, false
	}
	switch w {
	case "ip", "ip6":
		if _, _, ok := p.oneOf("nexthop", "nexthop"); !ok {
			return 0, false
		}
		return p.useField(pos, byName["rt "+w+" nexthop"])
	case "nexthop":
		fam := p.family()
		if fam == FamilyInet {
			fam = p.ruleNetwork()
		}
		switch fam {
		case FamilyIP:
			return p.useField(pos, byName["rt ip nexthop"])
		case FamilyIP6:
			return p.useField(pos, byName["rt ip6 nexthop"])
		}
		p.errorf(pos, "cannot determine ip protocol version, use \"ip nexthop\" or \"ip6 nexthop\" instead")
		return 0, false
	}
	return p.useField(pos, byName["rt "+w])
}

// socket KEY (nft_socket).
func (p *parser) parseSocket(pos Pos) (Field, bool) {
	w, _, ok := p.oneOf("a `socket` key", "transparent", "mark", "wildcard", "cgroupv2")
	if !ok {
		return 0, false
	}
	if w != "cgroupv2" {
		return p.useField(pos, byName["socket "+w])
	}
	if _, _, ok := p.oneOf("level", "level"); !ok {
		return 0, false
	}
	lv, ok := p.smallUint("a cgroup level", 255)
	if !ok {
		return 0, false
	}
	return p.internField(pos, FieldInfo{Name: fmt.Sprintf("socket cgroupv2 level %d", lv), Type: TypeCgroupv2,
		Base: BaseSocket, Key: xNFT_SOCKET_CGROUPV2, Level: uint32(lv), Host: true, KernelOnly: koSocket})
}

// osf [ttl loose|skip] name|version (nft_osf).
func (p *parser) parseOsf(pos Pos) (Field, bool) {
	name := "osf"
	var ttl uint32
	if p.isWord("ttl") {
		p.next()
		m, _, ok := p.oneOf("loose or skip", "loose", "skip")
		if !ok {
			return 0, false
		}
		name += " ttl " + m
		ttl = map[string]uint32{"loose": 1, "skip": 2}[m]
	}
	w, _, ok := p.oneOf("name or version", "name", "version")
	if !ok {
		return 0, false
	}
	fi := FieldInfo{Name: name + " " + w, Type: TypeString16, Base: BaseOsf, Key: ttl, KernelOnly: koOsf,
		Hooks: hooksIn, Families: 1<<FamilyIP | 1<<FamilyInet} // nft_osf_validate()
	if w == "version" {
		fi.Flags = 1 // NFT_OSF_F_VERSION
	}
	return p.internField(pos, fi)
}

// ipsec in|out [spnum N] KEY (nft_xfrm).
func (p *parser) parseIpsec(pos Pos) (Field, bool) {
	dir, _, ok := p.oneOf("in or out", "in", "out")
	if !ok {
		return 0, false
	}
	name := "ipsec " + dir
	var spnum uint64
	if p.isWord("spnum") {
		p.next()
		if spnum, ok = p.smallUint("an SP number", 5); !ok {
			return 0, false
		}
		name += fmt.Sprintf(" spnum %d", spnum)
	}
	w, _, ok := p.oneOf("an ipsec key", "reqid", "spi", "ip", "ip6")
	if !ok {
		return 0, false
	}
	fi := FieldInfo{Base: BaseXfrm, Dir: map[string]uint8{"in": 1, "out": 2}[dir], Level: uint32(spnum), KernelOnly: koXfrm}
	// nft_xfrm_validate()
	fi.Hooks = hooksIn
	if dir == "out" {
		fi.Hooks = hooksOut
	}
	switch w {
	case "reqid":
		fi.Name, fi.Type, fi.Key, fi.Host = name+" reqid", TypeU32, xNFT_XFRM_KEY_REQID, true
	case "spi":
		fi.Name, fi.Type, fi.Key = name+" spi", TypeU32, xNFT_XFRM_KEY_SPI
	default:
		a, _, ok := p.oneOf("saddr or daddr", "saddr", "daddr")
		if !ok {
			return 0, false
		}
		fi.Name = name + " " + w + " " + a
		if w == "ip" {
			fi.Type, fi.Proto = TypeIPv4, ProtoIP
			fi.Key = map[string]uint32{"saddr": xNFT_XFRM_KEY_SADDR_IP4, "daddr": xNFT_XFRM_KEY_DADDR_IP4}[a]
		} else {
			fi.Type, fi.Proto = TypeIPv6, ProtoIP6
			fi.Key = map[string]uint32{"saddr": xNFT_XFRM_KEY_SADDR_IP6, "daddr": xNFT_XFRM_KEY_DADDR_IP6}[a]
		}
	}
	return p.internField(pos, fi)
}

// numgen inc|random mod N [offset M] (nft_ng).
func (p *parser) parseNumgen(pos Pos) (Field, bool) {
	mode, _, ok := p.oneOf("inc or random", "inc", "random")
	if !ok {
		return 0, false
	}
	if _, _, ok := p.oneOf("mod", "mod"); !ok {
		return 0, false
	}
	mod, ok := p.smallUint("a modulus", 1<<32-1)
	if !ok {
		return 0, false
	}
	if mod == 0 {
		p.errorf(pos, "numgen: the modulus must be at least 1")
		return 0, false
	}
	name := fmt.Sprintf("numgen %s mod %d", mode, mod)
	var off uint64
	if p.isWord("offset") {
		p.next()
		if off, ok = p.smallUint("an offset", 1<<32-1); !ok {
			return 0, false
		}
		name += fmt.Sprintf(" offset %d", off)
	}
	// nft types the value by the range numgen yields: offset to
	// offset+mod-1 ("Value 2 exceeds valid range 0-1" for mod 2).
	t := TypeU32
	if hi := off + mod - 1; hi < 1<<32-1 && hi > 0 {
		t = &Type{Name: "integer", Size: 4, Max: hi}
	}
	return p.internField(pos, FieldInfo{Name: name, Type: t, Base: BaseNumgen,
		Key:   map[string]uint32{"inc": unix.NFT_NG_INCREMENTAL, "random": unix.NFT_NG_RANDOM}[mode],
		Level: uint32(mod), Off: uint32(off), Host: true,
		KernelOnly: "numgen keeps its counter in the kernel"})
}

// Hash sources: the fields a jhash hashes, by the hash field.
var (
	hashMu      sync.Mutex
	hashSources = map[Field][]Field{}
)

// HashSources are the fields a `jhash` field hashes, concatenated.
func (f Field) HashSources() []Field {
	hashMu.Lock()
	defer hashMu.Unlock()
	return hashSources[f]
}

// parseHash: `jhash EXPR [. EXPR] mod N [seed S] [offset O]`, `symhash mod
// N [offset O]` (nft_hash).
func (p *parser) parseHash(pos Pos, kind string) (Field, bool) {
	var srcs []Field
	var names []string
	if kind == "jhash" {
		for {
			f, ok := p.parseFieldName()
			if !ok {
				return 0, false
			}
			if f.Info().Base == BaseHash || f.Type().Size == 0 {
				p.errorf(pos, "jhash cannot hash `%s`", f)
				return 0, false
			}
			srcs = append(srcs, f)
			names = append(names, f.String())
			if p.peek().kind != tDot {
				break
			}
			p.next()
		}
	}
	if _, _, ok := p.oneOf("mod", "mod"); !ok {
		return 0, false
	}
	mod, ok := p.smallUint("a modulus", 1<<32-1)
	if !ok {
		return 0, false
	}
	if mod == 0 {
		p.errorf(pos, "%s: the modulus must be at least 1", kind)
		return 0, false
	}
	name := kind
	if len(names) > 0 {
		name += " " + strings.Join(names, " . ")
	}
	name += fmt.Sprintf(" mod %d", mod)
	var seed, off uint64
	if kind == "jhash" && p.isWord("seed") {
		p.next()
		if seed, ok = p.smallUint("a seed", 1<<32-1); !ok {
			return 0, false
		}
		name += fmt.Sprintf(" seed 0x%x", seed)
	}
	if p.isWord("offset") {
		p.next()
		if off, ok = p.smallUint("an offset", 1<<32-1); !ok {
			return 0, false
		}
		name += fmt.Sprintf(" offset %d", off)
	}
	fi := FieldInfo{Name: name, Type: TypeU32, Base: BaseHash, Level: uint32(mod), Off: uint32(off), Flags: uint32(seed),
		Host: true, KernelOnly: "the kernel computes the hash (nft_hash)"}
	if kind == "symhash" {
		fi.Key = 1
	}
	f, ok := p.internField(pos, fi)
	if ok && len(srcs) > 0 {
		hashMu.Lock()
		hashSources[f] = srcs
		hashMu.Unlock()
	}
	return f, ok
}

// ruleNetwork is the network protocol the statements parsed so far in an
// inet rule establish, as nft's protocol context has it when it types
// `ct saddr` or `rt nexthop` (expr_evaluate_ct: the network header's
// description): `meta nfproto ipv4|ipv6`, or a match on an ip or ip6
// header field. FamilyInet when none.
func (p *parser) ruleNetwork() Family {
	if p.curRule == nil {
		return FamilyInet
	}
	for _, st := range p.curRule.Stmts {
		m, ok := st.(*Match)
		if !ok || len(m.Keys) != 1 {
			continue
		}
		k := m.Keys[0]
		if k == FieldMetaNfproto {
			// One value (nft makes a one-element set a value), `==`.
			if (m.Op != OpEq && m.Op != OpImplicit) || m.Val.SetRef != "" || len(m.Val.Elems) != 1 || len(m.Val.Elems[0].Lo) != 1 ||
				!bytes.Equal(m.Val.Elems[0].Lo, m.Val.Elems[0].Hi) {
				continue
			}
			switch m.Val.Elems[0].Lo[0] {
			case unix.NFPROTO_IPV4:
				return FamilyIP
			case unix.NFPROTO_IPV6:
				return FamilyIP6
			}
			continue
		}
		switch k.Info().Proto {
		case ProtoIP:
			return FamilyIP
		case ProtoIP6:
			return FamilyIP6
		}
	}
	return FamilyInet
}
