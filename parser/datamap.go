package parser

// Data maps in statements: nft's map expression `KEY map { k : v, ... }`
// or `KEY map @m`, the value a statement sets (`meta mark set ip saddr map
// { ... }`, `dnat to tcp dport map @fwd`). The key is a field or a
// concatenation of fields, numgen, jhash and symhash included.

func (s *DataMap) StmtPos() Pos { return s.Pos }

// parseDataMap reads `KEY map { ... }` or `KEY map @m` whose data is of
// type data. With nat, the elements' data may be an address range or
// prefix, or address . port (data is then [address, inet_service]; the
// map found decides).
func (p *parser) parseDataMap(data []*Type, nat bool) (*DataMap, bool) {
	start := p.peek().pos
	var keys []Field
	for {
		f, ok := p.parseFieldName()
		if !ok {
			return nil, false
		}
		keys = append(keys, f)
		if p.peek().kind != tDot {
			break
		}
		p.next()
	}
	types := keyTypes(keys)
	for i, k := range keys {
		if types[i].Size == 0 || (len(keys) > 1 && types[i].kind == kHostname) {
			p.errorf(start, "`%s` cannot be the key of a map", k)
			return nil, false
		}
	}
	if !p.isWord("map") {
		t := p.peek()
		p.errorf(t.pos, "found %s, expected `map` after `%s` (a statement sets a value or what a key maps to)", t.describe(), keyNames(keys))
		return nil, false
	}
	p.next()
	m := &DataMap{Pos: start, Keys: keys, Data: data}
	t := p.peek()
	m.Val.Pos = t.pos
	switch t.kind {
	case tSetRef:
		p.next()
		if !p.setRefOK(t) {
			return nil, false
		}
		m.Val.SetRef = t.text
		if s := p.curTable.Set(t.text); s != nil && s.IsMap && s.Data != TypeVerdict && nat {
			// the declared data decides: address, or address . port
			m.Data = s.mapData()
		}
		return m, true
	case tLBrace:
		p.next()
		saved := p.natData
		p.natData = nat
		els, ok := p.parseElemList(types, data)
		p.natData = saved
		if !ok || !p.refuseElemOptions(els) {
			return nil, false
		}
		els, m.Val.CatchAll = splitCatchAll(els)
		if len(els) == 0 && m.Val.CatchAll == nil {
			p.errorf(t.pos, "empty map")
			return nil, false
		}
		m.Val.Anon, m.Val.Elems = true, els
		if nat {
			// every element's data is the same shape: an address, a
			// range, or address . port
			all := append(append([]Elem(nil), els...), catchAllList(m.Val.CatchAll)...)
			n, ranges := len(all[0].Data), false
			for _, e := range all {
				ranges = ranges || e.DataHi != nil
				if len(e.Data) != n {
					p.errorf(t.pos, "the map's values mix an address and an address . port")
					return nil, false
				}
			}
			if n == data[0].Size {
				m.Data = data[:1]
			}
			if ranges {
				for _, e := range m.Val.Elems {
					if e.DataHi == nil {
						// nft sends a value without a range at half the
						// length of the others; nft_setelem_parse_data
						// refuses it (EINVAL).
						p.errorf(t.pos, "the map's values mix ranges and single values: the kernel refuses the single ones, as it does from nft (write a single value as a range, such as 10.0.0.1-10.0.0.1)")
						return nil, false
					}
				}
				m.Interval = true
			}
		}
		return m, true
	}
	p.errorf(t.pos, "found %s, expected `{` or `@map` after `map`", t.describe())
	return nil, false
}

func catchAllList(e *Elem) []Elem {
	if e == nil {
		return nil
	}
	return []Elem{*e}
}

// formatDataMap prints a map expression as nft lists it.
func formatDataMap(m *DataMap) string {
	return keyNames(m.Keys) + " map " + formatValue(keyTypes(m.Keys), &m.Val, m.Data)
}

// checkDataMapRef checks a named map a map expression reads: it exists, is
// a data map, its key is the expression's key and its data what the
// statement sets.
func checkDataMapRef(t *Table, m *DataMap, p *parser) bool {
	if m.Val.SetRef == "" {
		return true
	}
	s := t.Set(m.Val.SetRef)
	if s == nil {
		checkSetRef(t, m.Keys, &m.Val, true, p) // reports the undefined set
		return false
	}
	if !s.IsMap || s.Data == TypeVerdict {
		p.errorf(m.Val.Pos, "`@%s` is not a data map; `map` needs one declared `type KEY : DATA`", s.Name)
		return false
	}
	want := keyTypes(m.Keys)
	if !sameTypes(want, s.Key) {
		p.errorf(m.Val.Pos, "map `@%s` is keyed by %s, but `%s` is %s", s.Name, typeList(s.Key), keyNames(m.Keys), typeList(want))
		return false
	}
	if !sameDataTypes(s.mapData(), m.Data) {
		p.errorf(m.Val.Pos, "datatype mismatch: map `@%s` holds %s, the statement expects %s", s.Name, typeList(s.mapData()), typeList(m.Data))
		return false
	}
	return true
}

// sameDataTypes compares data types as nft does: integer types of one
// width are one type to it only when named alike, so compare by name.
func sameDataTypes(a, b []*Type) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// natAddrType is the address type of a NAT statement's map data: the
// family written (`dnat ip to`), the table's, or in an inet table the one
// the rule matched before (nft refuses the rule without one; the check
// says so).
func (p *parser) natAddrType(n *NAT) (*Type, Family) {
	fam := n.Family
	if fam == 0 {
		fam = p.family()
	}
	if fam == FamilyInet && p.curRule != nil {
		for _, s := range p.curRule.Stmts {
			if m, ok := s.(*Match); ok {
				for _, k := range m.Keys {
					switch k.Info().Proto {
					case ProtoIP:
						fam = FamilyIP
					case ProtoIP6:
						fam = FamilyIP6
					}
				}
			}
		}
	}
	if fam == FamilyIP6 {
		return TypeIPv6, FamilyIP6
	}
	return TypeIPv4, FamilyIP
}

// parseMarkFrom reads the value of `meta|ct mark set` that is not a
// literal: a mark, a numgen or hash field, or a map expression.
func (p *parser) parseMarkFrom(s *MarkSet) bool {
	// `KEY map ...`: look past the key for `map`.
	if p.keyThenMap() {
		m, ok := p.parseDataMap([]*Type{TypeMark}, false)
		if !ok {
			return false
		}
		s.Map = m
		return true
	}
	t := p.peek()
	f, ok := p.parseFieldName()
	if !ok {
		return false
	}
	fi := f.Info()
	switch {
	case f == FieldMetaMark || f == FieldCtMark:
	case fi.Base == BaseNumgen || fi.Base == BaseHash:
	default:
		p.errorf(t.pos, "found `%s`, expected a mark value, `meta mark`, `ct mark`, numgen, jhash, symhash or a map", f)
		return false
	}
	s.From = f
	if !p.parseShift(s) {
		return false
	}
	return p.parseMarkOps(s)
}

// parseShift reads `<< N`, `>> N` (or `lshift N`, `rshift N`) after the
// source of a mark set: one nft_bitwise shift (NFT_BITWISE_LSHIFT,
// NFT_BITWISE_RSHIFT) before any mask.
func (p *parser) parseShift(s *MarkSet) bool {
	n := p.peek()
	switch {
	case n.kind == tWord && (n.text == "lshift" || n.text == "rshift"):
		p.next()
		s.Shift = map[string]uint8{"lshift": ShiftLeft, "rshift": ShiftRight}[n.text]
	case n.kind == tLt || n.kind == tGt:
		p.next()
		m := p.peek()
		if m.kind != n.kind || m.pos.Line != n.pos.Line || m.pos.Col != n.pos.Col+1 {
			p.errorf(n.pos, "found %s, expected `<<` or `>>` (a mark set takes no comparison)", n.describe())
			return false
		}
		p.next()
		s.Shift = map[tokKind]uint8{tLt: ShiftLeft, tGt: ShiftRight}[n.kind]
	default:
		return true
	}
	v, ok := p.uintWord(32)
	if !ok {
		return false
	}
	if v >= 32 {
		// nft_bitwise_init_shift: EINVAL
		p.errorf(p.last.pos, "shift by %d: the kernel shifts a 32-bit mark by at most 31", v)
		return false
	}
	s.ShiftBy = uint32(v)
	if x := p.peek(); x.kind == tLt || x.kind == tGt || x.kind == tWord && (x.text == "lshift" || x.text == "rshift") {
		p.errorf(x.pos, "a second shift in one mark set is not supported by nfd")
		return false
	}
	return true
}

// keyThenMap reports whether the tokens ahead are a key (fields joined by
// `.`, numgen and hash expressions included) followed by `map`, scanning
// at most to the end of the statement.
func (p *parser) keyThenMap() bool {
	for i := 0; i < 64; i++ {
		t := p.peekAt(i)
		switch t.kind {
		case tWord:
			if t.text == "map" {
				return i > 0
			}
			if t.text == "vmap" || t.text == "set" || t.text == "accept" || t.text == "drop" || t.text == "counter" {
				return false
			}
		case tDot:
		default:
			return false
		}
	}
	return false
}

// checkDataMap checks a map expression's elements or the map it names.
func checkDataMap(t *Table, m *DataMap, p *parser) bool {
	if m.Val.Anon {
		return checkMapElems(keyTypes(m.Keys), m.Val.Elems, m.Val.Pos, p)
	}
	return checkDataMapRef(t, m, p)
}
