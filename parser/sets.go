// Sets and maps: declarations, types, flags, timeouts and element lists.

package parser

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// mapData is the map's data type (one, or a concatenation); nil for sets.
func (s *Set) mapData() []*Type {
	switch {
	case !s.IsMap || s.Data == nil:
		return nil
	case s.DataCat != nil:
		return s.DataCat
	}
	return []*Type{s.Data}
}

var setKeywords = []string{"type", "typeof", "flags", "elements", "timeout", "size", "comment", "auto-merge", "policy"}

func (p *parser) parseSetDecl(t *Table, isMap bool) bool {
	// the table whose family a `typeof` field takes (and not the one of
	// the last rule parsed: rules must leave no state behind, memo.go)
	p.curTable = t
	n, ok := p.declName("set name")
	if !ok {
		return false
	}
	s := &Set{Pos: n.pos, Name: n.text, IsMap: isMap}
	if _, ok := p.expect(tLBrace, "`{`"); !ok {
		return false
	}
	bad := false
	for {
		p.skipNewlines()
		tok := p.peek()
		if tok.kind == tRBrace {
			p.next()
			break
		}
		if tok.kind == tEOF {
			p.errorf(tok.pos, "found end of file, expected `}` closing set `%s`", s.Name)
			return false
		}
		if tok.kind != tWord {
			p.errorf(tok.pos, "found %s, expected a set property (type, flags, elements)", tok.describe())
			p.sync()
			bad = true
			continue
		}
		p.next()
		ok := true
		switch tok.text {
		case "type":
			ok = p.parseSetType(s)
		case "typeof":
			ok = p.parseSetTypeof(s)
		case "flags":
			ok = p.parseSetFlags(s)
		case "timeout":
			var d uint64
			if d, ok = p.parseDuration(); ok {
				s.Timeout = d
			}
		case "size":
			var v token
			if v, ok = p.name("a number"); ok {
				x, err := strconv.ParseUint(v.text, 10, 32)
				if err != nil {
					p.errorf(v.pos, "found `%s`, expected a set size", v.text)
					ok = false
				}
				s.Size = uint32(x)
			}
		case "comment":
			var c token
			if c, ok = p.expect(tString, "a quoted comment"); ok {
				if ok = p.commentFits(c); ok {
					s.Comment = c.text
				}
			}
		case "auto-merge":
			s.AutoMerg = true
		case "policy":
			var v token
			if v, ok = p.name("`performance` or `memory`"); ok && v.text != "performance" && v.text != "memory" {
				p.errorf(v.pos, "found `%s`, expected `performance` or `memory`", v.text)
				ok = false
			}
		case "elements":
			if len(s.Key) == 0 {
				p.errorf(tok.pos, "set `%s`: `elements` before `type`", s.Name)
				ok = false
				break
			}
			if _, ok = p.expect(tAssign, "`=`"); !ok {
				break
			}
			if _, ok = p.expect(tLBrace, "`{`"); !ok {
				break
			}
			var el []Elem
			from := p.elemsFrom(p.lastEnd)
			if p.packAtParse(s, isMap) {
				var pk *ElemPack
				if pk, el, ok = p.parsePackedElems(s.Key); pk != nil {
					if s.Elems == nil && s.Packed == nil {
						s.Packed = pk
						p.elemsTo(from)
						break
					}
					el = pk.Unpack()
				}
				s.unpack()
			} else {
				el, ok = p.parseElemList(s.Key, s.mapData())
			}
			p.elemsTo(from)
			var ca *Elem
			el, ca = splitCatchAll(el)
			if ca != nil {
				s.CatchAll = ca
			}
			// One copy of a large list: the parsed slice becomes the
			// set's (s.Elems holds this declaration's elements only).
			if s.Elems == nil {
				s.Elems = el
			} else {
				s.Elems = append(s.Elems, el...)
			}
		case "counter":
			s.Counter = true
		case "dns":
			ok = p.parseSetDNS(s, tok)
		case "gc-interval":
			p.errorf(tok.pos, "set option `%s` is not supported by nfd", tok.text)
			ok = false
		default:
			p.errorf(tok.pos, "%s", expected(tok.describe(), "a set property (type, typeof, flags, elements, timeout, size, comment)", setKeywords))
			ok = false
		}
		if !ok {
			bad = true
			p.sync()
			continue
		}
		if !p.atEnd() {
			t2 := p.peek()
			p.errorf(t2.pos, "found %s, expected end of line", t2.describe())
			p.sync()
			bad = true
		}
	}
	if bad {
		return true // already reported; the block was consumed
	}
	if len(s.Key) == 0 {
		p.errorf(s.Pos, "set `%s` has no `type` or `typeof`", s.Name)
		return true
	}
	if isMap && s.Data == nil {
		p.errorf(s.Pos, "map `%s` needs a data type: `type KEY : DATA`", s.Name)
		return true
	}
	if !p.checkElemOptions(s, s.Elems) { // now that the flags and counter are known
		return true
	}
	if s.CatchAll != nil && !p.checkElemOptions(s, []Elem{*s.CatchAll}) {
		return true
	}
	p.checkSetDNS(s)
	if old := t.Set(s.Name); old != nil {
		if old.IsMap != s.IsMap || !sameTypes(old.Key, s.Key) || old.Data != s.Data {
			p.errorf(s.Pos, "set `%s` is already declared with a different type (at %s)", s.Name, old.Pos)
			return true
		}
		old.unpack()
		s.unpack()
		old.Elems = append(old.Elems, s.Elems...)
		if s.CatchAll != nil {
			old.CatchAll = s.CatchAll
		}
		return true
	}
	t.Sets = append(t.Sets, s)
	return true
}

func sameTypes(a, b []*Type) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (p *parser) parseSetType(s *Set) bool {
	for {
		n, ok := p.name("a data type")
		if !ok {
			return false
		}
		ty := lookupSetType(n.text)
		if ty == nil {
			p.errorf(n.pos, "%s", expected("`"+n.text+"`", "a set data type ("+strings.Join(setTypeNames(), ", ")+")", setTypeNames()))
			return false
		}
		s.Key = append(s.Key, ty)
		if !p.accept(tDot) {
			break
		}
	}
	if p.accept(tColon) {
		if !s.IsMap {
			p.errorf(p.last.pos, "`:` in a set type; declare a `map` for key : value")
			return false
		}
		n, ok := p.name("a data type or `verdict`")
		if !ok {
			return false
		}
		if n.text == "verdict" {
			s.Data = TypeVerdict
			return true
		}
		if objMapKinds[n.text] {
			s.Data, s.ObjKind = typeObjName, n.text
			return true
		}
		for {
			ty := lookupSetType(n.text)
			if ty == nil || ty.kind == kHostname || (len(s.DataCat) > 0 && ty.Size == 0) {
				p.errorf(n.pos, "found `%s`, expected a map data type (verdict or a data type)", n.text)
				return false
			}
			if s.Data == nil {
				s.Data = ty
			}
			s.DataCat = append(s.DataCat, ty)
			if !p.accept(tDot) {
				break
			}
			if n, ok = p.name("a data type"); !ok {
				return false
			}
		}
		if len(s.DataCat) == 1 {
			s.DataCat = nil
		}
	}
	return true
}

func (p *parser) parseSetTypeof(s *Set) bool {
	for {
		f, ok := p.parseFieldName()
		if !ok {
			return false
		}
		s.Key = append(s.Key, f.Type())
		s.Typeof = append(s.Typeof, f)
		if !p.accept(tDot) {
			break
		}
	}
	if p.accept(tColon) {
		if !s.IsMap {
			p.errorf(p.last.pos, "`:` in a set type; declare a `map` for key : value")
			return false
		}
		if p.acceptWord("verdict") {
			s.Data = TypeVerdict
			return true
		}
		f, ok := p.parseFieldName()
		if !ok {
			return false
		}
		if f.Type().Size == 0 {
			p.errorf(p.last.pos, "`%s` cannot be map data", f)
			return false
		}
		s.Data, s.DataOf = f.Type(), f
	}
	return true
}

func (p *parser) parseSetFlags(s *Set) bool {
	for {
		n, ok := p.name("a set flag (constant, interval, timeout, dynamic)")
		if !ok {
			return false
		}
		switch n.text {
		case "constant":
			s.Flags |= SetConstant
		case "interval":
			s.Flags |= SetInterval
		case "timeout":
			s.Flags |= SetTimeout
		case "dynamic":
			s.Flags |= SetDynamic
		default:
			p.errorf(n.pos, "%s", expected("`"+n.text+"`", "a set flag (constant, interval, timeout, dynamic)", []string{"constant", "interval", "timeout", "dynamic"}))
			return false
		}
		if !p.accept(tComma) {
			return true
		}
	}
}

// parseDuration reads "1h", "30m", "1d12h", "45s", "500ms" into seconds.
func (p *parser) parseDuration() (uint64, bool) {
	n, ok := p.name("a duration such as 30s, 5m, 1h or 1d")
	if !ok {
		return 0, false
	}
	d, err := parseDuration(n.text)
	if err != nil {
		p.errorf(n.pos, "found `%s`, expected a duration such as 30s, 5m, 1h or 1d", n.text)
		return 0, false
	}
	return d, true
}

func parseDuration(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	var total uint64
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, errors.New("bad")
		}
		v, _ := strconv.ParseUint(s[:i], 10, 32)
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		switch s[:j] {
		case "d":
			v *= 86400
		case "h":
			v *= 3600
		case "m":
			v *= 60
		case "s", "":
		case "ms":
			v /= 1000
		default:
			return 0, errors.New("bad unit")
		}
		total += v
		s = s[j:]
	}
	return total, nil
}

// parseElemList parses elements up to and including the closing `}`.
// data is the map data type, nil for sets.
func (p *parser) parseElemList(key []*Type, data []*Type) ([]Elem, bool) {
	return p.parseElemListFrom(key, data, nil)
}

// parseElemListFrom is parseElemList after the elements out.
func (p *parser) parseElemListFrom(key []*Type, data []*Type, out []Elem) ([]Elem, bool) {
	saved := p.commaIsElemSep
	p.commaIsElemSep = true
	defer func() { p.commaIsElemSep = saved }()
	ok := true
	fast := data == nil && fastKey(key) && p.ctx.Value(noFastElems{}) == nil
	var slab elemSlab
	if fast && out == nil {
		out = make([]Elem, 0, p.elemsAhead())
	}
	for {
		if fast {
			out = append(out, Elem{})
			if p.fastElemInto(key, &slab, &out[len(out)-1]) {
				continue
			}
			out = out[:len(out)-1]
		}
		p.skipBlankLines()
		if p.accept(tRBrace) {
			return nilIfEmpty(out), ok
		}
		if p.peek().kind == tEOF {
			p.errorf(p.peek().pos, "found end of file, expected `}` closing the element list")
			return nilIfEmpty(out), false
		}
		if data == nil && p.peek().kind == tLBrace {
			// a nested anonymous set `{ { a, b }, c }`: nft flattens it
			p.next()
			inner, good := p.parseElemList(key, data)
			out = append(out, inner...)
			ok = ok && good
			p.skipBlankLines()
			if p.accept(tComma) {
				continue
			}
			if p.accept(tRBrace) {
				return nilIfEmpty(out), ok
			}
			t := p.peek()
			p.errorf(t.pos, "found %s, expected `,` or `}`", t.describe())
			return nilIfEmpty(out), false
		}
		e, good := p.parseElem(key, data)
		if good {
			out = append(out, e)
		} else {
			ok = false
			// skip to the next comma or the closing brace
			for {
				k := p.peek().kind
				if k == tComma || k == tRBrace || k == tEOF {
					break
				}
				if k == tLBrace {
					p.skipBlock()
					continue
				}
				p.next()
			}
		}
		p.skipBlankLines()
		if p.accept(tComma) {
			continue
		}
		if p.peek().kind != tRBrace {
			t := p.peek()
			p.errorf(t.pos, "found %s, expected `,` or `}`", t.describe())
			for k := p.peek().kind; k != tRBrace && k != tEOF; k = p.peek().kind {
				p.next()
			}
			ok = false
		}
	}
}

// parseElem parses one element: literals joined by `.` for each key type,
// then `: data` for maps.
func (p *parser) parseElem(key []*Type, data []*Type) (Elem, bool) {
	var e Elem
	if p.isWord("*") {
		p.next()
		e.CatchAll = true
	} else if len(key) == 1 {
		lo, hi, ok := p.parseLiteral(key[0])
		if !ok {
			return e, false
		}
		e.Lo, e.Hi = lo, hi
	} else {
		size := 0
		for _, t := range key {
			size += t.Size
		}
		e.Lo, e.Hi = make([]byte, 0, size), make([]byte, 0, size)
		for i, t := range key {
			if i > 0 {
				if _, ok := p.expect(tDot, fmt.Sprintf("`.` and a %s (the key is %s)", t.Name, typeList(key))); !ok {
					return e, false
				}
			}
			lo, hi, ok := p.parseLiteral(t)
			if !ok {
				return e, false
			}
			if t.Size == 0 {
				p.errorf(p.last.pos, "%s cannot be part of a concatenation", t.Name)
				return e, false
			}
			e.Lo, e.Hi = append(e.Lo, lo...), append(e.Hi, hi...)
		}
	}
	if p.peek().kind == tDot {
		p.errorf(p.peek().pos, "found `.`, expected `,` or `}`: the key is %s", typeList(key))
		return e, false
	}
	// Options follow elements inside `{ ... }` only: after a single value
	// in a rule, `counter` is the rule's next statement.
	if p.commaIsElemSep && !p.parseElemOptions(&e) {
		return e, false
	}
	if data == nil {
		if p.peek().kind == tColon {
			p.errorf(p.peek().pos, "found `:` in a set; `key : value` pairs need a map")
			return e, false
		}
		return e, true
	}
	if _, ok := p.expect(tColon, "`:` and the mapped value"); !ok {
		return e, false
	}
	if data[0] == TypeVerdict {
		v, ok := p.parseVerdictWord()
		if !ok {
			return e, false
		}
		e.Verdict = v
		return e, true
	}
	return e, p.parseElemData(&e, data)
}

// parseElemData reads a map element's data: one value of each data type,
// joined by `.`. Inside a NAT map (p.natData) the data may be a range or
// a prefix of one address (nft's interval data), and an address may be
// followed by `. PORT` (the map's data is then address . port).
func (p *parser) parseElemData(e *Elem, data []*Type) bool {
	var lo, hi []byte
	for i, t := range data {
		if i > 0 {
			if p.natData && i == len(data)-1 && p.peek().kind != tDot {
				break
			}
			if _, ok := p.expect(tDot, fmt.Sprintf("`.` and a %s (the data is %s)", t.Name, typeList(data))); !ok {
				return false
			}
		}
		l, h, ok := p.parseLiteral(t)
		if !ok {
			return false
		}
		lo, hi = append(lo, l...), append(hi, h...)
	}
	if string(lo) != string(hi) {
		if !p.natData {
			p.errorf(p.last.pos, "a map value must be a single %s", typeList(data))
			return false
		}
		e.DataHi = hi
	}
	e.Data = lo
	return true
}

func typeList(ts []*Type) string {
	var n []string
	for _, t := range ts {
		n = append(n, t.Name)
	}
	return strings.Join(n, " . ")
}

// parseLiteral parses one literal of type t, including `a - b` ranges
// written with spaces and bitmask expressions.
func (p *parser) parseLiteral(t *Type) (lo, hi []byte, ok bool) {
	if t == TypeCtLabel {
		return p.parseCtLabel()
	}
	if tok := p.peek(); t == TypeBitmask8 && tok.kind == tWord && strings.Contains(tok.text, "-") {
		// a range of a plain bitmask (`comp flags 0x33-0x45`)
		p.next()
		lo, hi, err := (&Type{Name: t.Name, Size: t.Size}).ParseLiteral(tok.text, false)
		if err != nil {
			p.errorf(tok.pos, "%s", err)
			return nil, nil, false
		}
		return lo, hi, true
	}
	if t.Bitmask {
		v, ok := p.parseBitmask(t)
		if !ok {
			return nil, nil, false
		}
		b := make([]byte, t.Size)
		putUint(b, v)
		return b, b, true
	}
	tok := p.peek()
	if t.kind == kInt && !t.Bitmask && (tok.kind == tLParen || p.peekAt(1).kind == tPipe) {
		return p.parseIntOr(t)
	}
	if tok.kind != tWord && tok.kind != tString {
		p.errorf(tok.pos, "found %s, expected %s", tok.describe(), describeType(t))
		return nil, nil, false
	}
	p.next()
	text := tok.text
	// "a"-"b": a range of quoted values (nft's hour and time ranges)
	if tok.kind == tString && p.isWord("-") && p.peekAt(1).kind == tString {
		p.next()
		h := p.next()
		lo, err := t.parseScalar(tok.text, true)
		if err == nil {
			hi, err = t.parseScalar(h.text, true)
		}
		if err != nil {
			p.errorf(tok.pos, "%s", err)
			return nil, nil, false
		}
		if string(lo) > string(hi) && t.kind != kHour {
			p.errorf(tok.pos, "range `%s-%s` is empty", tok.text, h.text)
			return nil, nil, false
		}
		return lo, hi, true
	}
	if tok.kind == tWord && (t.kind == kEther || t.kind == kHour || t.kind == kNamed) {
		text = p.joinColons(tok)
	}
	// "a - b" with spaces
	if tok.kind == tWord && p.isWord("-") && t.IsInterval() && t.kind != kIfname {
		p.next()
		h, ok := p.name(describeType(t))
		if !ok {
			return nil, nil, false
		}
		text = text + "-" + h.text
	}
	lo, hi, err := t.ParseLiteral(text, tok.kind == tString)
	if err != nil {
		p.errorf(tok.pos, "%s", err)
		return nil, nil, false
	}
	return lo, hi, true
}

// parseIntOr reads an integer value written as an expression of ORed
// constants, `1 | 2` or `(1 | 2)`, which nft folds into one value.
func (p *parser) parseIntOr(t *Type) (lo, hi []byte, ok bool) {
	paren := p.accept(tLParen)
	var v []byte
	for {
		b, ok := p.scalarToken(t, false)
		if !ok {
			return nil, nil, false
		}
		if v == nil {
			v = b
		} else {
			for i := range v {
				v[i] |= b[i]
			}
		}
		if p.peek().kind != tPipe {
			break
		}
		p.next()
	}
	if paren {
		if _, ok := p.expect(tRParen, "`)`"); !ok {
			return nil, nil, false
		}
	}
	return v, v, true
}

// joinColons rejoins a value the lexer split at colons (an Ethernet
// address, an hour "17:30"): adjacent `:` and word tokens.
func (p *parser) joinColons(first token) string {
	text := first.text
	end := first.pos.Col + len(first.text)
	for {
		c := p.peek()
		if c.kind != tColon || c.pos.Line != first.pos.Line || c.pos.Col != end {
			return text
		}
		n := p.peekAt(1)
		if n.kind != tWord || n.pos.Col != end+1 {
			return text
		}
		p.next()
		p.next()
		text += ":" + n.text
		end = n.pos.Col + len(n.text)
	}
}

func describeType(t *Type) string {
	switch t.kind {
	case kIPv4:
		return "an IPv4 address"
	case kIPv6:
		return "an IPv6 address"
	case kIfname:
		return "an interface name"
	case kIfindex:
		return "an interface name or index"
	case kHostname:
		return "a host name or pattern"
	}
	if t == TypeService {
		return "a port number or service name"
	}
	return "a " + t.Name + " value"
}

// scalarToken reads one value of t from the next token: a word, or with
// quoted also a string, reporting what is wrong at the token.
func (p *parser) scalarToken(t *Type, quoted bool) ([]byte, bool) {
	n := p.peek()
	if n.kind != tWord && !(quoted && n.kind == tString) {
		p.errorf(n.pos, "found %s, expected %s", n.describe(), describeType(t))
		return nil, false
	}
	p.next()
	b, err := t.parseScalar(n.text, n.kind == tString)
	if err != nil {
		p.errorf(n.pos, "%s", err)
		return nil, false
	}
	return b, true
}

// parseBitmask reads `a`, `a,b`, `a|b`, `(a|b)`; values are OR'd.
func (p *parser) parseBitmask(t *Type) (uint64, bool) {
	paren := p.accept(tLParen)
	var v uint64
	for {
		// nft resolves a quoted flag name too: tcp flags "syn".
		b, ok := p.scalarToken(t, true)
		if !ok {
			return 0, false
		}
		v |= Uint(b)
		if p.accept(tPipe) {
			continue
		}
		if !paren && p.peek().kind == tComma && (p.peekAt(1).kind == tWord || p.peekAt(1).kind == tString) {
			// A comma list, unless we are inside braces where the comma
			// separates elements: the caller passes inBraces via context.
			if p.commaIsElemSep {
				break
			}
			p.next()
			continue
		}
		break
	}
	if paren {
		if _, ok := p.expect(tRParen, "`)`"); !ok {
			return 0, false
		}
	}
	return v, true
}

// parseCtLabel reads conntrack labels as nft does: bit numbers 0 to 127
// (or names from /etc/connlabel.conf), joined with `,` or `|`, into the
// 128-bit bitmap, most significant byte first (the kernel holds it in
// host order; the field is Host).
func (p *parser) parseCtLabel() (lo, hi []byte, ok bool) {
	b := make([]byte, 16)
	for {
		n := p.peek()
		if n.kind != tWord && n.kind != tString {
			p.errorf(n.pos, "found %s, expected a conntrack label (a bit number 0 to 127)", n.describe())
			return nil, nil, false
		}
		p.next()
		bit, err := strconv.ParseUint(n.text, 0, 64)
		if err != nil {
			if v, ok := lookupTable("/etc/connlabel.conf", n.text); ok {
				bit, err = v, nil
			}
		}
		if err != nil {
			p.errorf(n.pos, "/etc/connlabel.conf: could not parse conntrack label %q", n.text)
			return nil, nil, false
		}
		if bit > 127 {
			p.errorf(n.pos, "%d: bit %d out of range (127 max)", bit, bit)
			return nil, nil, false
		}
		b[15-bit/8] |= 1 << (bit % 8)
		if k := p.peek().kind; k == tPipe || (k == tComma && !p.commaIsElemSep) {
			p.next()
			continue
		}
		return b, b, true
	}
}

// splitCatchAll takes the `*` element out of a parsed element list (the
// last one wins, as a later catch-all replaces an earlier one in the
// kernel).
func splitCatchAll(els []Elem) ([]Elem, *Elem) {
	var ca *Elem
	out := els[:0]
	for i := range els {
		if els[i].CatchAll {
			e := els[i]
			ca = &e
			continue
		}
		out = append(out, els[i])
	}
	return out, ca
}

// parseElemOptions reads what may follow an element's key: statements
// (`counter`), then options (`timeout`, `expires`, `comment`) in any order,
// as nft's grammar orders them (set_elem_expr_alloc, set_elem_expr_options).
func (p *parser) parseElemOptions(e *Elem) bool {
	for p.isWord("counter") {
		t := p.peek()
		if e.OptPos.Line == 0 {
			e.OptPos = t.pos
		}
		s, ok := p.parseCounter()
		if !ok {
			return false
		}
		c, isCounter := s.(*Counter)
		if !isCounter {
			p.errorf(t.pos, "a named counter cannot count a set element")
			return false
		}
		e.Counter = c
	}
	for {
		t := p.peek()
		if t.kind != tWord {
			return true
		}
		switch t.text {
		case "timeout", "expires":
			p.next()
			d, ok := p.parseDuration()
			if !ok {
				return false
			}
			if t.text == "timeout" {
				e.Timeout = d
			} else {
				e.Expires = d
			}
		case "comment":
			p.next()
			c, ok := p.expect(tString, "a quoted comment")
			if !ok {
				return false
			}
			e.Comment = c.text
		case "quota", "limit", "counter", "last":
			p.errorf(t.pos, "found `%s` after the element's options: nft takes statements (`counter`) right after the key, before `timeout`, `expires` and `comment`", t.text)
			return false
		default:
			return true
		}
		if e.OptPos.Line == 0 {
			e.OptPos = t.pos
		}
	}
}

// checkElemOptions refuses what nft or the kernel refuse of a named set's
// element options: a counter on an element of a set without `counter`
// (nft: missing statement in set declaration), a timeout without `flags
// timeout` (nft_add_set_elem: EINVAL), `expires` with no timeout to
// count down (EOPNOTSUPP) or longer than it (ERANGE).
func (p *parser) checkElemOptions(s *Set, els []Elem) bool {
	ok := true
	for i := range els {
		e := &els[i]
		if !e.HasOptions() {
			continue
		}
		timeout := e.Timeout
		if timeout == 0 {
			timeout = s.Timeout
		}
		switch {
		case e.Counter != nil && !s.Counter:
			p.errorf(e.OptPos, "element counter in set `%s`, which has no `counter`: add `counter` to the set", s.Name)
		case (e.Timeout != 0 || e.Expires != 0) && !s.HasTimeout():
			p.errorf(e.OptPos, "element timeout in set `%s`, which has no `flags timeout`", s.Name)
		case e.Expires != 0 && timeout == 0:
			p.errorf(e.OptPos, "element `expires` without a timeout (on the element or the set `%s`)", s.Name)
		case e.Expires > timeout:
			p.errorf(e.OptPos, "element expires in %s, after its timeout of %s", formatDuration(e.Expires), formatDuration(timeout))
		default:
			continue
		}
		ok = false
	}
	return ok
}

// refuseElemOptions refuses element options where nfd keeps none: in
// anonymous sets and maps.
func (p *parser) refuseElemOptions(els []Elem) bool {
	for i := range els {
		if els[i].HasOptions() {
			p.errorf(els[i].OptPos, "element options (counter, timeout, expires, comment) belong in named sets and maps")
			return false
		}
	}
	return true
}

// HasTimeout reports whether the set's elements can time out: `flags
// timeout`, or a set `timeout`, which implies it (nft sets
// NFT_SET_TIMEOUT for it).
func (s *Set) HasTimeout() bool { return s.Flags&SetTimeout != 0 || s.Timeout != 0 }

// ElemTimeout is how long an element lives from when it is loaded, in
// seconds (0 = for ever): its `expires`, else its `timeout`, else the
// set's (nft_add_set_elem).
func (s *Set) ElemTimeout(e *Elem) uint64 {
	switch {
	case !s.HasTimeout():
		return 0
	case e.Expires != 0:
		return e.Expires
	case e.Timeout != 0:
		return e.Timeout
	}
	return s.Timeout
}
