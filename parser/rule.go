package parser

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

var stmtKeywords = []string{"ip", "ip6", "tcp", "udp", "th", "icmp", "icmpv6", "meta", "ct", "iif", "oif",
	"iifname", "oifname", "mark", "l4proto", "tls", "http", "dns", "counter", "log", "limit", "accept",
	"drop", "continue", "return", "jump", "goto", "reject", "masquerade", "snat", "dnat", "redirect",
	"comment", "notrack", "quota", "synproxy", "tproxy", "dup", "add", "update", "delete", "meter"}

func (p *parser) parseRule(t *Table, c *Chain) *Rule { return p.parseRuleStmts(t, c) }

// parseRuleStmts parses statements up to the end of the line. On an error
// it reports it, skips the rest of the rule and returns nil.
func (p *parser) parseRuleStmts(t *Table, c *Chain) *Rule {
	r := p.newRule()
	r.Pos = p.peek().pos
	if p.prev != nil {
		p.markUnmerged(c) // parsed here: checkTable merges it
	}
	p.curTable = t
	saved := p.curRule
	p.curRule = r
	defer func() { p.curRule = saved }()
	for !p.atEnd() {
		tok := p.peek()
		if tok.kind == tSetRef && isFieldStart(tok) {
			s, ok := p.parseMatch()
			if !ok {
				p.sync()
				return nil
			}
			r.Stmts = append(r.Stmts, s)
			continue
		}
		if tok.kind != tWord {
			p.errorf(tok.pos, "found %s, expected a match or a statement", tok.describe())
			p.sync()
			return nil
		}
		var s Stmt
		ok := true
		switch tok.text {
		case "counter":
			s, ok = p.parseCounter()
		case "log":
			s, ok = p.parseLog()
		case "limit":
			s, ok = p.parseLimit()
		case "quota":
			s, ok = p.parseQuota()
		case "accept", "drop", "continue", "return", "jump", "goto":
			if (tok.text == "jump" || tok.text == "goto") && p.peekAt(1).kind == tLBrace {
				s, ok = p.parseBoundChain(t)
			} else {
				s, ok = p.parseVerdictWord()
			}
		case "reject":
			s, ok = p.parseReject()
		case "snat", "dnat", "masquerade", "redirect":
			s, ok = p.parseNAT()
		case "notrack":
			p.next()
			s = &Notrack{Pos: tok.pos}
		case "synproxy":
			s, ok = p.parseSynProxy()
		case "tproxy":
			s, ok = p.parseTProxy()
		case "dup":
			s, ok = p.parseDup()
		case "add", "update", "delete", "meter":
			s, ok = p.parseSetUpdate(t)
		case "set":
			// nft's older form `set add|update|delete KEY [timeout T]
			// @set` (parser_bison.y set_stmt), the same statement.
			if n := p.peekAt(1); n.kind == tWord && (n.text == "add" || n.text == "update" || n.text == "delete") {
				s, ok = p.parseLegacySetUpdate()
			} else {
				s, ok = p.parseMatch()
			}
		case "comment":
			p.next()
			var c token
			if r.Comment != "" {
				p.errorf(tok.pos, "a rule has one comment; nft refuses a second")
				ok = false
			} else if c, ok = p.expect(tString, "a quoted comment"); ok {
				if ok = p.commentFits(c); ok {
					r.Comment = c.text
				}
			}
		case "queue":
			p.errorf(tok.pos, "`queue` is how nfd itself reaches its engine; a rule file cannot queue packets")
			ok = false
		case "ct":
			if n := p.peekAt(1); n.kind == tWord && n.text == "count" {
				s, ok = p.parseCtCount()
			} else if p.isCtObjSet() {
				s, ok = p.parseCtObjSet()
			} else if p.isKernelKeySet() {
				s, ok = p.parseKeySet()
			} else {
				s, ok = p.parseMatch()
			}
		default:
			if p.isKernelKeySet() {
				s, ok = p.parseKeySet()
			} else if isFieldStart(tok) {
				s, ok = p.parseMatch()
			} else {
				p.errorf(tok.pos, "%s", expected(tok.describe(), "a match or a statement", stmtKeywords))
				ok = false
			}
		}
		if !ok {
			p.sync()
			return nil
		}
		if s != nil {
			r.Stmts = append(r.Stmts, s)
			if KernelOnly(s) != "" && !p.checkKernelStmt(t, c, r, s) {
				p.sync()
				return nil
			}
		}
	}
	if len(r.Stmts) == 0 && r.Comment == "" {
		return nil
	}
	return r
}

func (p *parser) parseOp() Op {
	t := p.peek()
	var op Op
	switch t.kind {
	case tEq:
		op = OpEq
	case tNe:
		op = OpNe
	case tLt:
		op = OpLt
	case tGt:
		op = OpGt
	case tLe:
		op = OpLe
	case tGe:
		op = OpGe
	case tWord:
		switch t.text {
		case "eq":
			op = OpEq
		case "ne":
			op = OpNe
		case "lt":
			op = OpLt
		case "gt":
			op = OpGt
		case "le":
			op = OpLe
		case "ge":
			op = OpGe
		}
	}
	if op != OpImplicit {
		p.next()
	}
	return op
}

func (p *parser) parseMatch() (Stmt, bool) {
	start := p.peek().pos
	f, ok := p.parseFieldName()
	if !ok {
		return nil, false
	}
	if p.isWord("set") {
		if f != FieldMetaMark && f != FieldCtMark {
			p.next()
			return p.parsePayloadSet(start, f)
		}
		p.next()
		return p.parseMarkSet(start, f == FieldCtMark)
	}
	keys := []Field{f}
	for p.peek().kind == tDot {
		p.next()
		f2, ok := p.parseFieldName()
		if !ok {
			return nil, false
		}
		keys = append(keys, f2)
	}
	types := make([]*Type, len(keys))
	for i, k := range keys {
		types[i] = k.Type()
		if len(keys) > 1 && types[i].Size == 0 {
			p.errorf(start, "`%s` cannot be part of a concatenation", k)
			return nil, false
		}
	}
	if p.isWord("vmap") {
		vp := p.next().pos
		v, ok := p.parseMapValue(types, vp)
		if !ok {
			return nil, false
		}
		return &VMap{Pos: start, Keys: keys, Val: v}, true
	}
	if p.isWord("map") {
		p.errorf(p.peek().pos, "data maps in expressions are not supported by nfd; use `vmap` for verdicts")
		return nil, false
	}
	m := &Match{Pos: start, Keys: keys}
	if p.binopNext() {
		if len(keys) > 1 || types[0].Size == 0 || types[0].kind == kIfname || types[0].kind == kString {
			p.errorf(p.peek().pos, "`%s` needs a single numeric field, not `%s`", p.peek().text, keyNames(keys))
			return nil, false
		}
		mask, xor, ok := p.parseBinops(types[0])
		if !ok {
			return nil, false
		}
		m.Mask, m.Xor = mask, xor
	}
	m.Op = p.parseOp()
	// `fib ... oif exists|missing`: whether the lookup found a route,
	// that is oif != 0 / oif == 0.
	if fi := keys[0].Info(); len(keys) == 1 && fi.Base == BaseFib && fi.Type == TypeIfindexN && (p.isWord("exists") || p.isWord("missing")) && (m.Op == OpImplicit || m.Op == OpEq || m.Op == OpNe) {
		w := p.next()
		exists := (w.text == "exists") != (m.Op == OpNe)
		m.Op = OpImplicit
		if exists {
			m.Op = OpNe
		}
		m.Val = Value{Pos: w.pos, Elems: []Elem{{Lo: make([]byte, 4), Hi: make([]byte, 4)}}}
		return m, true
	}
	if m.Op == OpImplicit && p.peek().kind == tNot {
		np := p.next().pos
		if len(keys) > 1 || !types[0].Bitmask {
			p.errorf(np, "`!` before a value needs a flag field such as `tcp flags`; write `!=` to compare")
			return nil, false
		}
		m.Op = OpNeg
	}
	if p.atEnd() {
		t := p.peek()
		p.errorf(t.pos, "found %s, expected a value for `%s`", t.describe(), keyNames(keys))
		return nil, false
	}
	v, ok := p.parseValue(types)
	if !ok {
		return nil, false
	}
	m.Val = v
	if fi := keys[0].Info(); fi.NftAbortsEqProto && (m.Op == OpImplicit || m.Op == OpEq) {
		for _, e := range v.Elems {
			if string(e.Lo) == string(e.Hi) && nftKnownProto[e.Lo[0]] {
				p.errorf(start, "nft 1.0.6 aborts on `%s` compared with a protocol it knows (%s); write `!=`, or match `meta l4proto`", keys[0], TypeProto.FormatValue(e.Lo))
				return nil, false
			}
		}
	}
	// A wrapping hour range ("22:00"-"02:00") is the complement of the
	// range between, as nft's range_expr_swap_values makes it.
	if types[0].kind == kHour && !v.Anon && v.SetRef == "" && len(v.Elems) == 1 && string(v.Elems[0].Lo) > string(v.Elems[0].Hi) {
		e := &m.Val.Elems[0]
		e.Lo, e.Hi = e.Hi, e.Lo
		switch m.Op {
		case OpImplicit, OpEq:
			m.Op = OpNe
		case OpNe:
			m.Op = OpImplicit
		}
	}
	if p.peek().kind == tSlash {
		sp := p.next().pos
		if len(keys) > 1 || m.Mask != nil || !types[0].Bitmask || v.SetRef != "" || v.Anon {
			p.errorf(sp, "the `value / mask` form needs a single flag field such as `tcp flags`")
			return nil, false
		}
		mv, ok := p.parseBitmask(types[0])
		if !ok {
			return nil, false
		}
		m.Mask = make([]byte, types[0].Size)
		putUint(m.Mask, mv)
		if m.Op == OpImplicit {
			m.Op = OpEq
		}
	}
	// With a mask, no operator means `==`, for flags too: nft's evaluator
	// turns `tcp flags & (syn|ack) syn` into `(flags & (syn|ack)) == syn`
	// (it lists it as `tcp flags syn / syn,ack`); only a bare flag field
	// keeps the "any of these bits" meaning.
	if m.Mask != nil && m.Op == OpImplicit {
		m.Op = OpEq
	}
	// `==` and no operator mean the same for plain values: keep one form.
	if !(len(keys) == 1 && types[0].Bitmask) {
		if m.Op == OpEq && m.Mask == nil {
			m.Op = OpImplicit
		} else if m.Op == OpImplicit && m.Mask != nil {
			m.Op = OpEq
		}
	}
	if m.Op.Ordered() && (v.Anon || v.SetRef != "" || len(v.Elems) != 1 || string(v.Elems[0].Lo) != string(v.Elems[0].Hi)) {
		p.errorf(v.Pos, "`%s` compares with a single value, not a set or range", m.Op)
		return nil, false
	}
	if m.Op.Ordered() && types[0].Size == 0 {
		p.errorf(start, "`%s` cannot be ordered with `%s`", keyNames(keys), m.Op)
		return nil, false
	}
	return m, true
}

// parseMask reads the operand of `&`: one value, or for flags one symbol or
// a parenthesised expression. nft binds `|` and `,` looser than `&`
// (`tcp flags & syn,ack syn` is a syntax error in nft), so they are left to
// the caller.
func (p *parser) parseMask(t *Type) (lo, hi []byte, ok bool) {
	if !t.Bitmask || p.peek().kind == tLParen {
		return p.parseLiteral(t)
	}
	b, ok := p.scalarToken(t, false)
	return b, b, ok
}

func keyNames(keys []Field) string {
	var n []string
	for _, k := range keys {
		n = append(n, k.String())
	}
	return strings.Join(n, " . ")
}

// parseValue parses the right-hand side of a match.
func (p *parser) parseValue(types []*Type) (Value, bool) {
	t := p.peek()
	v := Value{Pos: t.pos}
	switch t.kind {
	case tSetRef:
		p.next()
		v.SetRef = t.text
		return v, p.setRefOK(t)
	case tLBrace:
		p.next()
		els, ok := p.parseElemList(types, nil)
		if !ok {
			return v, false
		}
		if !p.refuseElemOptions(els) {
			return v, false
		}
		els, v.CatchAll = splitCatchAll(els)
		if len(els) == 0 && v.CatchAll == nil {
			p.errorf(t.pos, "empty anonymous set")
			return v, false
		}
		v.Anon, v.Elems = true, els
		return v, true
	}
	e, ok := p.parseElem(types, nil)
	if !ok {
		return v, false
	}
	v.Elems = []Elem{e}
	if p.peek().kind == tComma && !types[0].Bitmask {
		p.errorf(p.peek().pos, "a list of values needs braces, as in `{ 22, 80 }`")
		return v, false
	}
	return v, true
}

func (p *parser) parseMapValue(types []*Type, pos Pos) (Value, bool) {
	t := p.peek()
	v := Value{Pos: t.pos}
	switch t.kind {
	case tSetRef:
		p.next()
		v.SetRef = t.text
		return v, p.setRefOK(t)
	case tLBrace:
		p.next()
		els, ok := p.parseElemList(types, []*Type{TypeVerdict})
		if !ok {
			return v, false
		}
		if !p.refuseElemOptions(els) {
			return v, false
		}
		els, v.CatchAll = splitCatchAll(els)
		if len(els) == 0 && v.CatchAll == nil {
			p.errorf(t.pos, "empty verdict map")
			return v, false
		}
		v.Anon, v.Elems = true, els
		return v, true
	}
	p.errorf(t.pos, "found %s, expected `{` or `@map` after `vmap`", t.describe())
	return v, false
}

func (p *parser) parseVerdictWord() (*Verdict, bool) {
	t := p.peek()
	v := &Verdict{Pos: t.pos}
	if t.kind == tWord {
		switch t.text {
		case "accept":
			v.Kind = VerdictAccept
		case "drop":
			v.Kind = VerdictDrop
		case "continue":
			v.Kind = VerdictContinue
		case "return":
			v.Kind = VerdictReturn
		case "jump":
			v.Kind = VerdictJump
		case "goto":
			v.Kind = VerdictGoto
		}
	}
	if v.Kind == 0 {
		words := []string{"accept", "drop", "continue", "return", "jump", "goto"}
		p.errorf(t.pos, "%s", expected(t.describe(), "a verdict (accept, drop, continue, return, jump CHAIN, goto CHAIN)", words))
		return nil, false
	}
	p.next()
	if v.Kind == VerdictJump || v.Kind == VerdictGoto {
		n, ok := p.declName("chain name")
		if !ok {
			return nil, false
		}
		v.Target = n.text
	}
	return v, true
}

func (p *parser) parseCounter() (Stmt, bool) {
	kw := p.next()
	c := &Counter{Pos: kw.pos}
	if p.isWord("name") {
		return p.parseObjRef(kw)
	}
	// `packets N` and `bytes N`, either, both, in either order, the last
	// of each counting (parser_bison.y counter_args).
	for p.isWord("packets") || p.isWord("bytes") {
		w := p.next()
		n, ok := p.uintWord(64)
		if !ok {
			return nil, false
		}
		if w.text == "packets" {
			c.Packets = n
		} else {
			c.Bytes = n
		}
	}
	return c, true
}

func (p *parser) uintWord(bits int) (uint64, bool) {
	t, ok := p.name("a number")
	if !ok {
		return 0, false
	}
	v, err := parseNftUint(t.text, bits)
	if err != nil {
		p.errorf(t.pos, "found `%s`, expected a number below 2^%d", t.text, bits)
		return 0, false
	}
	return v, true
}

var logLevels = []string{"emerg", "alert", "crit", "err", "warn", "notice", "info", "debug", "audit"}

func (p *parser) parseLog() (Stmt, bool) {
	l := &Log{Pos: p.next().pos}
	var optPos Pos // first option other than level, for the audit check
	hasOpt := false
	for {
		t := p.peek()
		if t.kind != tWord {
			return l, p.checkLog(l, hasOpt, optPos)
		}
		if t.text != "level" && !hasOpt {
			switch t.text {
			case "prefix", "group", "snaplen", "queue-threshold", "flags":
				hasOpt, optPos = true, t.pos
			}
		}
		switch t.text {
		case "prefix":
			p.next()
			s := p.peek()
			if s.kind == tWord && !logKeywords[s.text] {
				// nft takes one unquoted word as the prefix too
				p.next()
			} else if _, good := p.expect(tString, "a quoted log prefix"); !good {
				return nil, false
			}
			if len(s.text) > 127 {
				p.errorf(s.pos, "log prefix is longer than 127 characters")
				return nil, false
			}
			l.Prefix = s.text
		case "level":
			p.next()
			n, ok := p.name("a log level")
			if !ok {
				return nil, false
			}
			found := false
			for _, lv := range logLevels {
				found = found || lv == n.text
			}
			if !found {
				p.errorf(n.pos, "%s", expected("`"+n.text+"`", "a log level ("+strings.Join(logLevels, ", ")+")", logLevels))
				return nil, false
			}
			l.Level = n.text
		case "group", "snaplen", "queue-threshold":
			p.next()
			// nft reads each as a number and stores it in the kernel
			// attribute's width (parser_bison.y log_arg): a group of
			// 70000 silently becomes 4464, as with nft.
			v, ok := p.uintWord(64)
			if !ok {
				return nil, false
			}
			switch t.text {
			case "group":
				l.HasGroup, l.Group = true, uint16(v)
			case "snaplen":
				l.HasSnaplen, l.Snaplen = true, uint32(v)
			default:
				l.HasQThreshold, l.QThreshold = true, uint16(v)
			}
		case "flags":
			p.next()
			if !p.parseLogFlags(l) {
				return nil, false
			}
		default:
			return l, p.checkLog(l, hasOpt, optPos)
		}
	}
}

// parseLogFlags reads what follows `log flags`: `tcp sequence[,options]`,
// `ip options`, `skuid`, `ether` or `all` (parser_bison.y log_flags).
func (p *parser) parseLogFlags(l *Log) bool {
	words := []string{"tcp", "ip", "skuid", "ether", "all"}
	t, ok := p.name("log flags (" + strings.Join(words, ", ") + ")")
	if !ok {
		return false
	}
	switch t.text {
	case "tcp":
		for {
			n, ok := p.name("`sequence` or `options`")
			if !ok {
				return false
			}
			switch n.text {
			case "sequence":
				l.Flags |= LogTCPSeq
			case "options":
				l.Flags |= LogTCPOpt
			default:
				p.errorf(n.pos, "%s", expected("`"+n.text+"`", "`sequence` or `options`", []string{"sequence", "options"}))
				return false
			}
			if !p.accept(tComma) {
				return true
			}
		}
	case "ip":
		if !p.acceptWord("options") {
			n := p.peek()
			p.errorf(n.pos, "found %s, expected `options`", n.describe())
			return false
		}
		l.Flags |= LogIPOpt
	case "skuid":
		l.Flags |= LogUID
	case "ether":
		l.Flags |= LogMACDec
	case "all":
		l.Flags |= LogFlagAll
	default:
		p.errorf(t.pos, "%s", expected("`"+t.text+"`", "log flags ("+strings.Join(words, ", ")+")", words))
		return false
	}
	return true
}

// checkLog refuses the combinations nft's evaluator refuses
// (evaluate.c stmt_evaluate_log).
func (p *parser) checkLog(l *Log, hasOpt bool, optPos Pos) bool {
	if l.HasGroup || l.HasSnaplen || l.HasQThreshold {
		if l.Level != "" {
			p.errorf(l.Pos, "log `level` and `group` are mutually exclusive")
			return false
		}
		if l.Flags != 0 {
			p.errorf(l.Pos, "log `flags` and `group` are mutually exclusive")
			return false
		}
	}
	if l.Level == "audit" && hasOpt {
		p.errorf(optPos, "`log level audit` takes no other option")
		return false
	}
	return true
}

// parseQuota reads `quota [over|until] N unit [used M unit]`
// (parser_bison.y quota_stmt); the kernel refuses a quota above 2^63-1
// bytes and a used amount above the quota (nft_quota_do_init).
func (p *parser) parseQuota() (Stmt, bool) {
	kw := p.next()
	if p.isWord("name") {
		return p.parseObjRef(kw)
	}
	q, ok := p.parseQuotaBody(kw.pos)
	if !ok {
		return nil, false
	}
	return q, true
}

// parseQuotaBody reads what follows `quota` in a statement, or the body
// of a quota object.
func (p *parser) parseQuotaBody(pos Pos) (*Quota, bool) {
	q := &Quota{Pos: pos}
	if p.acceptWord("over") {
		q.Over = true
	} else {
		p.acceptWord("until")
	}
	var ok bool
	if q.Bytes, ok = p.byteAmount(); !ok {
		return nil, false
	}
	if p.acceptWord("used") {
		if q.Used, ok = p.byteAmount(); !ok {
			return nil, false
		}
	}
	if q.Bytes > 1<<63-1 {
		p.errorf(q.Pos, "a quota of %d bytes is too large: the kernel takes at most 2^63-1", q.Bytes)
		return nil, false
	}
	if q.Used > q.Bytes {
		p.errorf(q.Pos, "the quota has used %d bytes of %d: the kernel refuses more used than the quota", q.Used, q.Bytes)
		return nil, false
	}
	return q, true
}

// byteAmount reads `N bytes|kbytes|mbytes` (nft's data_unit_parse knows no
// larger unit).
func (p *parser) byteAmount() (uint64, bool) {
	n, ok := p.uintWord(64)
	if !ok {
		return 0, false
	}
	u, ok := p.name("a unit (bytes, kbytes, mbytes)")
	if !ok {
		return 0, false
	}
	units := []string{"bytes", "kbytes", "mbytes"}
	mult := map[string]uint64{"bytes": 1, "kbytes": 1024, "mbytes": 1024 * 1024}[u.text]
	if mult == 0 {
		p.errorf(u.pos, "%s", expected("`"+u.text+"`", "a unit (bytes, kbytes, mbytes)", units))
		return 0, false
	}
	if n > (1<<64-1)/mult {
		p.errorf(u.pos, "%d %s does not fit in 64 bits", n, u.text)
		return 0, false
	}
	return n * mult, true
}

func (p *parser) parseLimit() (Stmt, bool) {
	kw := p.next()
	if p.isWord("name") {
		return p.parseObjRef(kw)
	}
	return p.parseLimitBody(kw.pos)
}

// parseLimitBody reads `rate [over] N/unit [burst M unit]`, a limit
// statement's or a limit object's.
func (p *parser) parseLimitBody(pos Pos) (Stmt, bool) {
	l := &Limit{Pos: pos}
	if !p.acceptWord("rate") {
		t := p.peek()
		p.errorf(t.pos, "%s", expected(t.describe(), "`rate`", []string{"rate"}))
		return nil, false
	}
	if p.acceptWord("over") {
		l.Over = true
	}
	n, ok := p.name("a rate such as 10/second")
	if !ok {
		return nil, false
	}
	num, unit, hasSlash := strings.Cut(n.text, "/")
	if hasSlash && num == "" {
		// `limit rate /second`: nft wants a number before the unit.
		p.errorf(n.pos, "found `%s`, expected a positive rate such as 10/second", n.text)
		return nil, false
	}
	if !hasSlash {
		// "10 mbytes/second" or "10 /second"
		u := p.peek()
		if u.kind == tSlash {
			p.next()
			u2, ok := p.name("a time unit")
			if !ok {
				return nil, false
			}
			unit = u2.text
		} else if u.kind == tWord && strings.Contains(u.text, "/") {
			p.next()
			var bu string
			bu, unit, _ = strings.Cut(u.text, "/")
			mult := map[string]uint64{"bytes": 1, "kbytes": 1024, "mbytes": 1024 * 1024}[bu]
			if mult == 0 {
				p.errorf(u.pos, "%s", expected("`"+bu+"`", "bytes, kbytes or mbytes", []string{"bytes", "kbytes", "mbytes"}))
				return nil, false
			}
			l.Bytes = true
			v, err := strconv.ParseUint(num, 10, 64)
			if err != nil || v == 0 || v > ^uint64(0)/mult {
				p.errorf(n.pos, "found `%s`, expected a positive rate (at most 64 bits of bytes)", num)
				return nil, false
			}
			l.Rate = v * mult
			num = ""
		} else {
			p.errorf(u.pos, "found %s, expected a unit such as `/second`", u.describe())
			return nil, false
		}
	}
	if num != "" {
		v, err := strconv.ParseUint(num, 10, 64)
		if err != nil || v == 0 {
			p.errorf(n.pos, "found `%s`, expected a positive rate", num)
			return nil, false
		}
		l.Rate = v
	}
	switch unit {
	case "second":
		l.Unit = PerSecond
	case "minute":
		l.Unit = PerMinute
	case "hour":
		l.Unit = PerHour
	case "day":
		l.Unit = PerDay
	case "week":
		l.Unit = PerWeek
	default:
		p.errorf(n.pos, "%s", expected("`"+unit+"`", "second, minute, hour, day or week", rateUnitNames[:]))
		return nil, false
	}
	if p.acceptWord("burst") {
		b, ok := p.uintWord(32)
		if !ok {
			return nil, false
		}
		l.Burst = uint32(b)
		u, ok := p.name("`packets` or `bytes`")
		if !ok {
			return nil, false
		}
		if b == 0 && u.text == "packets" {
			// nft: "packet limit burst must be > 0"
			p.errorf(u.pos, "found a burst of 0 packets, expected at least 1")
			return nil, false
		}
		switch {
		case u.text == "packets" && !l.Bytes:
		case u.text == "bytes" && l.Bytes:
		case u.text == "kbytes" && l.Bytes:
			l.Burst *= 1024
		case u.text == "mbytes" && l.Bytes:
			l.Burst *= 1024 * 1024
		default:
			want := "packets"
			if l.Bytes {
				want = "bytes"
			}
			p.errorf(u.pos, "found `%s`, expected `%s`", u.text, want)
			return nil, false
		}
	}
	if msg := limitOverflow(l); msg != "" {
		p.errorf(l.Pos, "%s", msg)
		return nil, false
	}
	return l, true
}

// limitOverflow is the kernel's refusal of a limit whose token bucket
// overflows 64 bits (nft_limit_init: EOVERFLOW, "Value too large for
// defined data type"), known at check time.
func limitOverflow(l *Limit) string {
	const max = ^uint64(0)
	unit := uint64(l.Unit.Seconds())
	if unit > max/1e9 {
		return "the kernel refuses this limit: its unit overflows (value too large for defined data type)"
	}
	nsecs := unit * 1e9
	burst := uint64(l.Burst)
	if !l.Bytes && burst == 0 {
		burst = 5 // NFT_LIMIT_PKT_BURST_DEFAULT
	}
	if l.Rate == 0 || l.Rate > max-burst {
		return "the kernel refuses this limit: rate plus burst overflows (value too large for defined data type)"
	}
	if l.Bytes {
		if nsecs != 0 && l.Rate+burst > max/nsecs {
			return "the kernel refuses this limit: the byte bucket (nanoseconds per unit × (rate + burst)) overflows 64 bits (value too large for defined data type)"
		}
	} else if tmp := nsecs / l.Rate; burst != 0 && tmp > max/burst {
		return "the kernel refuses this limit: its packet bucket overflows 64 bits (value too large for defined data type)"
	}
	return ""
}

func (p *parser) parseMarkSet(pos Pos, ct bool) (Stmt, bool) {
	s := &MarkSet{Pos: pos, Ct: ct}
	t := p.peek()
	if isFieldStart(t) {
		return s, p.parseMarkFrom(s)
	}
	lo, hi, ok := p.parseLiteral(TypeMark)
	if !ok {
		return nil, false
	}
	if string(lo) != string(hi) {
		p.errorf(t.pos, "a mark must be a single value")
		return nil, false
	}
	s.Value = uint32(Uint(lo))
	if !p.parseMarkOps(s) {
		return nil, false
	}
	if s.Ops { // a constant expression: fold it
		s.Value, s.Ops, s.Mask, s.Xor = s.Value&s.Mask^s.Xor, false, 0, 0
	}
	return s, true
}

// parseMarkOps reads `& V`, `| V` (or `and`, `or`, `xor`) after the value
// of a mark set, folding them into Mask and Xor as nft's evaluator folds
// binary operations with constants (evaluate.c expr_evaluate_binop):
// `& v` keeps the bits of v, `| v` sets them, `xor v` flips them.
func (p *parser) parseMarkOps(s *MarkSet) bool {
	for {
		t := p.peek()
		op := ""
		switch {
		case t.kind == tAmp || t.kind == tWord && t.text == "and":
			op = "and"
		case t.kind == tPipe || t.kind == tWord && t.text == "or":
			op = "or"
		case t.kind == tCaret || t.kind == tWord && t.text == "xor":
			op = "xor"
		default:
			return true
		}
		p.next()
		// One operand: the operators are left-associative, so `x & a | b`
		// is `(x & a) | b`; a parenthesised `(a | b)` is one value.
		var v uint32
		if p.peek().kind == tLParen {
			lo, hi, ok := p.parseLiteral(TypeMark)
			if !ok {
				return false
			}
			if string(lo) != string(hi) {
				p.errorf(t.pos, "`%s` takes a single value", op)
				return false
			}
			v = uint32(Uint(lo))
		} else {
			n, ok := p.name("a mark value")
			if !ok {
				return false
			}
			b, err := TypeMark.parseScalar(n.text, false)
			if err != nil {
				p.errorf(n.pos, "%s", err)
				return false
			}
			v = uint32(Uint(b))
		}
		if !s.Ops {
			s.Ops, s.Mask, s.Xor = true, 0xffffffff, 0
		}
		switch op {
		case "and":
			s.Mask &= v
			s.Xor &= v
		case "or":
			s.Mask &^= v
			s.Xor |= v
		case "xor":
			s.Xor ^= v
		}
	}
}

func (p *parser) parseReject() (Stmt, bool) {
	r := &Reject{Pos: p.next().pos}
	if !p.acceptWord("with") {
		return r, true
	}
	t, ok := p.name("`tcp reset`, `icmp`, `icmpv6` or `icmpx`")
	if !ok {
		return nil, false
	}
	var ct *Type
	switch t.text {
	case "tcp":
		if !p.acceptWord("reset") {
			n := p.peek()
			p.errorf(n.pos, "found %s, expected `reset`", n.describe())
			return nil, false
		}
		r.Kind = RejectTCPReset
		return r, true
	case "icmp":
		r.Kind, ct = RejectICMP, TypeICMPCode
	case "icmpv6":
		r.Kind, ct = RejectICMPv6, TypeICMP6Code
	case "icmpx":
		r.Kind, ct = RejectICMPx, TypeICMPxCode
	default:
		p.errorf(t.pos, "%s", expected("`"+t.text+"`", "`tcp reset`, `icmp`, `icmpv6` or `icmpx`", []string{"tcp", "icmp", "icmpv6", "icmpx"}))
		return nil, false
	}
	p.acceptWord("type")
	n, ok := p.name("an ICMP code such as port-unreachable")
	if !ok {
		return nil, false
	}
	b, err := ct.parseScalar(n.text, false)
	if err != nil {
		p.errorf(n.pos, "%s", err)
		return nil, false
	}
	if r.Kind == RejectICMPx && b[0] > 3 {
		// nft_reject_inet_init: codes above NFT_REJECT_ICMPX_MAX are EINVAL.
		p.errorf(n.pos, "icmpx code %d is not one the kernel knows (0 no-route to 3 admin-prohibited)", b[0])
		return nil, false
	}
	r.Code = b[0]
	return r, true
}

func (p *parser) parseNAT() (Stmt, bool) {
	t := p.next()
	n := &NAT{Pos: t.pos}
	switch t.text {
	case "snat":
		n.Kind = NATSnat
	case "dnat":
		n.Kind = NATDnat
	case "masquerade":
		n.Kind = NATMasquerade
	case "redirect":
		n.Kind = NATRedirect
	}
	if n.Kind == NATSnat || n.Kind == NATDnat {
		// `snat ip to ...` names the family; in `snat ip saddr map
		// {...}` ip starts the key (parser_bison.y nat_stmt_args: the
		// family only before `to` or `prefix`, and `to` optional before an
		// address or a map).
		if w := p.peekAt(1); w.kind == tWord && (w.text == "to" || w.text == "prefix") {
			if p.acceptWord("ip") {
				n.Family = FamilyIP
			} else if p.acceptWord("ip6") {
				n.Family = FamilyIP6
			}
		}
		n.Prefix = p.acceptWord("prefix")
		if !p.acceptWord("to") {
			x := p.peek()
			if n.Prefix || x.kind != tWord || n.Family != 0 {
				p.errorf(x.pos, "%s", expected(x.describe(), "`to` and an address", []string{"to"}))
				return nil, false
			}
		}
		if !p.parseNATAddr(n) {
			return nil, false
		}
		if n.Prefix && n.AddrMap == nil && string(n.AddrLo) == string(n.AddrHi) {
			p.errorf(n.Pos, "`%s prefix to` needs a prefix such as 10.0.0.0/24", n.Kind)
			return nil, false
		}
	} else if p.acceptWord("to") {
		if !p.accept(tColon) && n.Kind == NATMasquerade {
			x := p.peek()
			p.errorf(x.pos, "found %s, expected `:PORT`", x.describe())
			return nil, false
		}
		if !p.parseNATPorts(n) {
			return nil, false
		}
	}
	for {
		x := p.peek()
		if x.kind != tWord {
			break
		}
		if x.text != "random" && x.text != "fully-random" && x.text != "persistent" {
			break
		}
		p.next()
		n.Flags = append(n.Flags, x.text)
		if !p.accept(tComma) {
			break
		}
	}
	return n, true
}

func (p *parser) parseNATAddr(n *NAT) bool {
	if isFieldStart(p.peek()) {
		// `dnat to KEY map { ... }`: the address (and port) a key maps to
		addr, fam := p.natAddrType(n)
		m, ok := p.parseDataMap([]*Type{addr, TypeService}, true)
		if !ok {
			return false
		}
		if d := m.Data; d[0] != addr || (len(d) == 2 && d[1] != TypeService) || len(d) > 2 {
			p.errorf(m.Val.Pos, "datatype mismatch: map `@%s` holds %s, `%s` expects %s or %s . inet_service", m.Val.SetRef, typeList(d), n.Kind, addr.Name, addr.Name)
			return false
		}
		n.AddrMap, n.AddrFamily = m, fam
		if len(m.Data) == 2 {
			n.HasPort = true
		}
		if n.Prefix && !m.Interval && m.Val.SetRef == "" {
			p.errorf(m.Val.Pos, "`%s prefix to` needs prefixes as the map's values", n.Kind)
			return false
		}
		if p.accept(tColon) {
			if n.HasPort {
				p.errorf(p.last.pos, "the map gives the port already")
				return false
			}
			return p.parseNATPorts(n)
		}
		return true
	}
	lo, hi, ok := p.parseNATOneAddr(n)
	if !ok {
		return false
	}
	if p.isWord("-") && p.peekAt(1).kind == tLBrack {
		// [a]-[b]: a range of bracketed IPv6 addresses
		p.next()
		h, _, ok := p.parseNATOneAddr(n)
		if !ok {
			return false
		}
		if h.Is4() != lo.Is4() || h.Less(lo) {
			p.errorf(p.last.pos, "found `%s-%s`, expected an address range", lo, h)
			return false
		}
		hi = h
	}
	n.AddrLo, n.AddrHi = lo.AsSlice(), hi.AsSlice()
	if p.accept(tColon) {
		return p.parseNATPorts(n)
	}
	return true
}

// parseNATOneAddr reads an address, a range `a-b` or a prefix `a/n`,
// bracketed or not.
func (p *parser) parseNATOneAddr(n *NAT) (lo, hi netip.Addr, ok bool) {
	brack := p.accept(tLBrack)
	a, ok := p.name("an address")
	if !ok {
		return lo, hi, false
	}
	loS, hiS, isRange := strings.Cut(a.text, "-")
	var err error
	if pfx, e := netip.ParsePrefix(loS); e == nil && !isRange && strings.Contains(a.text, "/") {
		pfx = pfx.Masked()
		lo = pfx.Addr()
		hi = lastAddr(pfx)
	} else if lo, err = netip.ParseAddr(loS); err != nil {
		p.errorf(a.pos, "found `%s`, expected an address", a.text)
		return lo, hi, false
	} else {
		hi = lo
	}
	if isRange {
		if hi, err = netip.ParseAddr(hiS); err != nil || hi.Is4() != lo.Is4() || hi.Less(lo) {
			p.errorf(a.pos, "found `%s`, expected an address range", a.text)
			return lo, hi, false
		}
	}
	fam := FamilyIP
	if lo.Is6() {
		fam = FamilyIP6
	}
	if n.Family != 0 && n.Family != fam {
		p.errorf(a.pos, "`%s %s to` with an %s address", n.Kind, n.Family, map[Family]string{FamilyIP: "IPv4", FamilyIP6: "IPv6"}[fam])
		return lo, hi, false
	}
	n.AddrFamily = fam
	if brack {
		if _, ok := p.expect(tRBrack, "`]`"); !ok {
			return lo, hi, false
		}
		if x := p.peek(); x.kind == tWord && strings.HasPrefix(x.text, "/") && lo == hi {
			// [2001:db8::]/64
			pfx, err := netip.ParsePrefix(lo.String() + x.text)
			if err != nil {
				p.errorf(x.pos, "found `%s`, expected a prefix length", x.text)
				return lo, hi, false
			}
			p.next()
			pfx = pfx.Masked()
			lo, hi = pfx.Addr(), lastAddr(pfx)
		}
	}
	return lo, hi, true
}

// lastAddr is the last address of a prefix.
func lastAddr(pfx netip.Prefix) netip.Addr {
	b := pfx.Addr().AsSlice()
	for i := pfx.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// logKeywords are the words after `log prefix` that are not a prefix.
var logKeywords = map[string]bool{"level": true, "group": true, "snaplen": true, "queue-threshold": true, "flags": true, "prefix": true}

func (p *parser) parseNATPorts(n *NAT) bool {
	if isFieldStart(p.peek()) {
		// `redirect to :tcp dport map { 22 : 2222 }`
		m, ok := p.parseDataMap([]*Type{TypeService}, false)
		if !ok {
			return false
		}
		n.PortMap, n.HasPort = m, true
		return true
	}
	t, ok := p.name("a port or port range")
	if !ok {
		return false
	}
	lo, hi, err := TypeService.ParseLiteral(t.text, false)
	if err != nil {
		p.errorf(t.pos, "%s", err)
		return false
	}
	n.PortLo, n.PortHi, n.HasPort = uint16(Uint(lo)), uint16(Uint(hi)), true
	return true
}

// nftKnownProto are the upper-layer protocols nft has header templates for.
var nftKnownProto = map[byte]bool{1: true, 2: true, 6: true, 17: true, 33: true, 50: true, 51: true, 58: true, 108: true, 132: true, 136: true}

// parseBoundChain reads `jump { RULE; ... }` (or goto): an anonymous
// chain of the table, bound to this verdict, as nft's chain bindings.
func (p *parser) parseBoundChain(t *Table) (Stmt, bool) {
	kw := p.next()
	p.next() // {
	n := 0
	for _, c := range t.Chains {
		if c.Bound {
			n++
		}
	}
	ch := &Chain{Pos: kw.pos, Name: fmt.Sprintf("__chain%d", n), Bound: true}
	for t.Chain(ch.Name) != nil {
		n++
		ch.Name = fmt.Sprintf("__chain%d", n)
	}
	for {
		p.skipNewlines()
		tok := p.peek()
		if tok.kind == tRBrace {
			p.next()
			break
		}
		if tok.kind == tEOF {
			p.errorf(tok.pos, "found end of file, expected `}` closing the chain of `%s { ... }`", kw.text)
			return nil, false
		}
		r := p.parseRule(t, ch)
		if r == nil {
			return nil, false
		}
		ch.Rules = append(ch.Rules, r)
		if e := p.peek(); e.kind == tRBrace {
			// nft's grammar ends every rule of a chain block with a
			// newline or `;`, the last one too.
			p.errorf(e.pos, "found `}`, expected `;` or a newline after the rule")
			return nil, false
		}
	}
	t.Chains = append(t.Chains, ch)
	v := &Verdict{Pos: kw.pos, Kind: VerdictJump, Target: ch.Name, Bound: ch}
	if kw.text == "goto" {
		v.Kind = VerdictGoto
	}
	return v, true
}
