package parser

import (
	"strconv"
	"strings"
)

// SetUpdate is `add|update|delete @set { KEY [timeout T] [STMT...] }`: the
// rule adds the packet's key to a named set (nft_dynset), refreshing its
// timeout on update, with stateful statements (counter, limit, quota) kept
// per element and evaluated on it.
type SetUpdate struct {
	Pos     Pos
	Op      string // add, update, delete
	Set     string
	Keys    []Field
	Timeout uint64 // seconds, 0 = the set's
	Stmts   []Stmt // *Counter, *Limit, *Quota, *CtCount

	// For a map: the value written with the key (`{ KEY : VALUE }`),
	// DataTok as written, Data parsed as the map's data type (DataType)
	// when the table is checked.
	DataTok  *token
	Data     []byte
	DataType *Type

	// Meter is `meter NAME [size N] { ... }`: an update of a set of its
	// own, which the rule declares (Set is its name).
	Meter bool
	Size  uint32 // a meter's size, 0 = nft's default
}

func (s *SetUpdate) StmtPos() Pos { return s.Pos }

// parseSetUpdate reads what follows `add`, `update` or `delete` in a rule.
func (p *parser) parseSetUpdate(t *Table) (Stmt, bool) {
	op := p.next()
	s := &SetUpdate{Pos: op.pos, Op: op.text}
	if op.text == "meter" {
		n, ok := p.declName("meter name")
		if !ok {
			return nil, false
		}
		s.Op, s.Set, s.Meter = "update", n.text, true
		if p.acceptWord("size") {
			v, ok := p.uintWord(32)
			if !ok {
				return nil, false
			}
			s.Size = uint32(v)
		}
	} else {
		ref := p.peek()
		if ref.kind != tSetRef {
			p.errorf(ref.pos, "found %s, expected `@set` after `%s`", ref.describe(), op.text)
			return nil, false
		}
		p.next()
		if !p.setRefOK(ref) {
			return nil, false
		}
		s.Set = ref.text
	}
	if _, ok := p.expect(tLBrace, "`{`"); !ok {
		return nil, false
	}
	if !p.parseDynsetKey(s) {
		return nil, false
	}
	for !p.accept(tRBrace) {
		t := p.peek()
		var st Stmt
		ok := false
		switch {
		case t.kind == tColon && s.DataTok == nil:
			// `{ KEY [timeout T] : VALUE }`, a map's element
			p.next()
			v := p.peek()
			if v.kind != tWord && v.kind != tString {
				p.errorf(v.pos, "found %s, expected the value the key maps to in `%s @%s`", v.describe(), s.Op, s.Set)
				return nil, false
			}
			p.next()
			s.DataTok = &v
			if x := p.peek(); x.kind != tRBrace {
				p.errorf(x.pos, "found %s, expected `}` after the value in `%s @%s`", x.describe(), s.Op, s.Set)
				return nil, false
			}
			continue
		case t.kind == tWord && t.text == "ct" && p.peekAt(1).kind == tWord && p.peekAt(1).text == "count":
			st, ok = p.parseCtCount()
		case t.kind == tWord && t.text == "counter":
			st, ok = p.parseCounter()
		case t.kind == tWord && t.text == "limit":
			st, ok = p.parseLimit()
		case t.kind == tWord && t.text == "quota":
			st, ok = p.parseQuota()
		default:
			p.errorf(t.pos, "found %s, expected `counter`, `limit`, `quota`, `ct count`, `:` or `}` in the element of `%s @%s`", t.describe(), s.Op, s.Set)
		}
		if !ok {
			return nil, false
		}
		if _, named := st.(*ObjRef); named {
			p.errorf(t.pos, "a named %s cannot be kept per element of `%s @%s`", t.text, s.Op, s.Set)
			return nil, false
		}
		s.Stmts = append(s.Stmts, st)
	}
	return s, true // checked with the whole table (checkSetUpdate)
}

// parseDynsetKey reads an element's key (a field or a concatenation) and
// its optional `timeout T`.
func (p *parser) parseDynsetKey(s *SetUpdate) bool {
	for {
		f, ok := p.parseFieldName()
		if !ok {
			return false
		}
		s.Keys = append(s.Keys, f)
		if !p.accept(tDot) {
			break
		}
	}
	if p.acceptWord("timeout") {
		d, ok := p.parseDuration()
		if !ok {
			return false
		}
		s.Timeout = d
	}
	return true
}

// parseLegacySetUpdate reads `set add|update|delete KEY [timeout T]
// @set`, nft's older spelling of `add @set { KEY [timeout T] }`: the key
// comes before the set and takes no statements (parser_bison.y set_stmt:
// SET set_stmt_op set_elem_expr_stmt set_ref_expr). nft lists it in the
// newer form, and so does nfd.
func (p *parser) parseLegacySetUpdate() (Stmt, bool) {
	p.next() // set
	op := p.next()
	s := &SetUpdate{Pos: op.pos, Op: op.text}
	if !p.parseDynsetKey(s) {
		return nil, false
	}
	ref := p.peek()
	if ref.kind != tSetRef {
		p.errorf(ref.pos, "found %s, expected `@set` after the key of `set %s`", ref.describe(), op.text)
		return nil, false
	}
	p.next()
	if !p.setRefOK(ref) {
		return nil, false
	}
	s.Set = ref.text
	return s, true // checked with the whole table (checkSetUpdate)
}

// checkSetUpdate refuses what nft or the kernel refuse: an unknown set, a
// key of other types than the set's, an element timeout in a set without
// timeouts (nft_dynset_init: EOPNOTSUPP), statements on `delete`, and
// statements of a set with a different set-level statement.
func (p *parser) checkSetUpdate(t *Table, s *SetUpdate) bool {
	if s.Meter {
		if t.Set(s.Set) != nil {
			p.errorf(s.Pos, "meter `%s` has the name of a set of table `%s %s`", s.Set, t.Family, t.Name)
			return false
		}
		if len(s.Stmts) == 0 {
			p.errorf(s.Pos, "meter `%s` has no statement (counter, limit, quota) for its elements", s.Set)
			return false
		}
		return true
	}
	set := t.Set(s.Set)
	if set == nil {
		p.errorf(s.Pos, "undefined set `@%s` in table `%s %s`", s.Set, t.Family, t.Name)
		return false
	}
	switch {
	case set.IsMap && s.Op == "delete":
		p.errorf(s.Pos, "`delete @%s` from a map is not supported by nfd", s.Set)
		return false
	case set.IsMap && s.DataTok == nil:
		p.errorf(s.Pos, "`%s @%s` needs the value the key maps to: `{ KEY : VALUE }`", s.Op, s.Set)
		return false
	case !set.IsMap && s.DataTok != nil:
		p.errorf(s.DataTok.pos, "`@%s` is a set: its elements map to nothing", s.Set)
		return false
	case set.IsMap:
		dt := set.mapData()
		if len(dt) != 1 || dt[0] == TypeVerdict {
			p.errorf(s.Pos, "`%s @%s`: nfd updates maps to one value (not verdicts or concatenations) from rules", s.Op, s.Set)
			return false
		}
		b, err := dt[0].parseScalar(s.DataTok.text, s.DataTok.kind == tString)
		if err != nil {
			p.errorf(s.DataTok.pos, "%v", err)
			return false
		}
		s.Data, s.DataType = b, dt[0]
	}
	types := make([]*Type, len(s.Keys))
	for i, k := range s.Keys {
		types[i] = k.Type()
	}
	if !sameTypes(types, set.Key) {
		p.errorf(s.Pos, "`%s` is %s, but set `%s` holds %s", keyNames(s.Keys), typeList(types), s.Set, typeList(set.Key))
		return false
	}
	if set.Flags&SetInterval != 0 {
		p.errorf(s.Pos, "`%s @%s`: the kernel does not update interval sets from rules", s.Op, s.Set)
		return false
	}
	if s.Timeout != 0 && !set.HasTimeout() {
		p.errorf(s.Pos, "element timeout in `%s @%s`, but the set has no `flags timeout`", s.Op, s.Set)
		return false
	}
	if s.Op == "delete" && s.Timeout != 0 {
		p.errorf(s.Pos, "`delete @%s` takes no timeout", s.Set)
		return false
	}
	return true
}

func formatSetUpdate(s *SetUpdate) string {
	var b strings.Builder
	if s.Meter {
		b.WriteString("meter " + quoteName(s.Set))
		if s.Size != 0 {
			b.WriteString(" size " + strconv.Itoa(int(s.Size)))
		}
		b.WriteString(" { " + keyNames(s.Keys))
	} else {
		b.WriteString(s.Op + " @" + quoteName(s.Set) + " { " + keyNames(s.Keys))
	}
	if s.Timeout != 0 {
		b.WriteString(" timeout " + formatDuration(s.Timeout))
	}
	for _, st := range s.Stmts {
		b.WriteString(" " + FormatStmt(st))
	}
	if s.DataTok != nil {
		v := s.DataTok.text
		if s.DataType != nil {
			v = s.DataType.FormatValue(s.Data)
		}
		b.WriteString(" : " + v)
	}
	b.WriteString(" }")
	return b.String()
}
