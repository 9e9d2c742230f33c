package parser

import (
	stdctx "context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// MaxFileSize bounds one rule file (and each include).
const MaxFileSize = 64 << 20

// maxIncludeDepth bounds include nesting, as nft's own limit does.
const maxIncludeDepth = 16

// ParseFile reads, parses and validates a rule file and everything it
// includes. On any error it returns a nil ruleset and an ErrorList.
func ParseFile(path string) (*Ruleset, error) {
	src, err := ReadRuleFile(path)
	if err != nil {
		return nil, ErrorList{{Pos: Pos{File: path}, Msg: err.Error()}}
	}
	return Parse(path, src)
}

// Parse parses and validates src, named name; includes are resolved relative
// to name's directory.
func Parse(name string, src []byte) (*Ruleset, error) {
	return ParseContext(stdctx.Background(), name, src)
}

// ParseContext is Parse that gives up when ctx ends (a daemon stopping
// while it parses a large file): it then returns ctx's error.
func ParseContext(ctx stdctx.Context, name string, src []byte) (*Ruleset, error) {
	p := &parser{
		ctx:     ctx,
		srcs:    map[string]string{},
		defines: map[string]*define{},
		rs:      &Ruleset{},
		active:  map[string]bool{},
	}
	p.run(name, src)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(p.errs) == 0 {
		p.finish()
		checkRuleset(p.rs, p)
	}
	if len(p.errs) > 0 {
		p.errs.sort()
		return nil, p.errs
	}
	return p.rs, nil
}

type define struct {
	pos  Pos
	toks []token
}

type parser struct {
	lex     *lexer
	buf     []token // lookahead and expanded $variables, in order
	last    token   // the last token consumed
	errs    ErrorList
	srcs    map[string]string
	defines map[string]*define
	rs      *Ruleset
	active  map[string]bool // files being included: loop detection
	depth   int
	ctx     stdctx.Context // checked every ctxEvery tokens
	ntok    int
	// commaIsElemSep is set inside `{ ... }` element lists, where a comma
	// separates elements instead of joining flags.
	commaIsElemSep bool
}

var errTooMany = errors.New("too many errors")

// errCancelled unwinds a parse whose context ended.
var errCancelled = errors.New("parse cancelled")

// ctxEvery is how many tokens the parser reads between context checks.
const ctxEvery = 1 << 12

func (p *parser) run(name string, src []byte) {
	defer func() {
		if r := recover(); r != nil && r != errTooMany && r != errCancelled { //nolint:errorlint
			panic(r)
		}
	}()
	p.parseSource(name, src)
}

func (p *parser) parseSource(name string, src []byte) {
	abs, _ := filepath.Abs(name)
	p.active[abs] = true
	defer delete(p.active, abs)
	p.rs.Files = append(p.rs.Files, name)
	p.srcs[name] = string(src)
	savedLex, savedBuf := p.lex, p.buf
	p.lex, p.buf = newLexer(name, src), nil
	p.parseTop()
	p.lex, p.buf = savedLex, savedBuf
}

// ---- diagnostics ----

func (p *parser) errorf(pos Pos, format string, args ...any) {
	if len(p.errs) >= MaxErrors {
		return
	}
	// One error per line: what follows the first is usually its echo.
	if n := len(p.errs); n > 0 && p.errs[n-1].Pos.File == pos.File && p.errs[n-1].Pos.Line == pos.Line {
		return
	}
	p.errs = append(p.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Line: lineText(p.srcs[pos.File], pos.Line)})
	if len(p.errs) == MaxErrors {
		p.errs = append(p.errs, &Error{Pos: pos, Msg: fmt.Sprintf("too many errors (%d), giving up", MaxErrors)})
		panic(errTooMany)
	}
}

// ---- token stream ----

// fill makes sure buf holds at least n tokens, expanding $variables.
func (p *parser) fill(n int) {
	for len(p.buf) < n {
		if p.ntok++; p.ntok%ctxEvery == 0 && p.ctx.Err() != nil {
			panic(errCancelled)
		}
		t := p.lex.next()
		if t.kind == tError {
			p.errorf(t.pos, "%s", t.text)
			continue
		}
		if t.kind == tVar {
			d, ok := p.defines[t.text]
			if !ok {
				var names []string
				for k := range p.defines {
					names = append(names, k)
				}
				sort.Strings(names)
				msg := fmt.Sprintf("undefined variable `$%s`", t.text)
				if s := suggest(t.text, names); s != "" {
					msg += fmt.Sprintf(", did you mean `$%s`?", s)
				}
				p.errorf(t.pos, "%s", msg)
				// Stand in a harmless word so parsing continues.
				p.buf = append(p.buf, token{kind: tWord, text: "0", pos: t.pos})
				continue
			}
			p.buf = append(p.buf, d.toks...)
			continue
		}
		p.buf = append(p.buf, t)
	}
}

func (p *parser) peek() token { p.fill(1); return p.buf[0] }

func (p *parser) peekAt(i int) token { p.fill(i + 1); return p.buf[i] }

func (p *parser) next() token {
	p.fill(1)
	t := p.buf[0]
	p.buf = p.buf[1:]
	p.last = t
	return t
}

func (p *parser) isWord(s string) bool {
	t := p.peek()
	return t.kind == tWord && t.text == s
}

func (p *parser) acceptWord(s string) bool {
	if p.isWord(s) {
		p.next()
		return true
	}
	return false
}

func (p *parser) accept(k tokKind) bool {
	if p.peek().kind == k {
		p.next()
		return true
	}
	return false
}

// expect consumes a token of kind k or reports "found X, expected Y".
func (p *parser) expect(k tokKind, what string) (token, bool) {
	t := p.peek()
	if t.kind != k {
		p.errorf(t.pos, "found %s, expected %s", t.describe(), what)
		return t, false
	}
	return p.next(), true
}

// name consumes an identifier (word or quoted string).
func (p *parser) name(what string) (token, bool) {
	t := p.peek()
	if t.kind == tWord || t.kind == tString {
		if t.text == "" {
			p.errorf(t.pos, "empty %s", what)
			return p.next(), false
		}
		return p.next(), true
	}
	p.errorf(t.pos, "found %s, expected %s", t.describe(), what)
	return t, false
}

func (p *parser) skipNewlines() {
	for {
		k := p.peek().kind
		if k != tNewline && k != tSemi {
			return
		}
		p.next()
	}
}

func (p *parser) skipBlankLines() {
	for p.peek().kind == tNewline {
		p.next()
	}
}

// atEnd reports whether the current statement list ends here.
func (p *parser) atEnd() bool {
	switch p.peek().kind {
	case tNewline, tSemi, tRBrace, tEOF:
		return true
	}
	return false
}

// sync skips the rest of a broken statement: up to the end of the line or
// `;` at brace depth 0, or just before the `}` closing the enclosing block.
func (p *parser) sync() {
	depth := 0
	for {
		t := p.peek()
		switch t.kind {
		case tEOF:
			return
		case tLBrace:
			depth++
		case tRBrace:
			if depth == 0 {
				return
			}
			depth--
		case tNewline, tSemi:
			if depth == 0 {
				p.next()
				return
			}
		}
		p.next()
	}
}

// skipBlock skips a whole `{ ... }` block, starting at its `{`.
func (p *parser) skipBlock() {
	if p.peek().kind != tLBrace {
		return
	}
	depth := 0
	for {
		t := p.next()
		switch t.kind {
		case tEOF:
			return
		case tLBrace:
			depth++
		case tRBrace:
			depth--
			if depth == 0 {
				return
			}
		}
	}
}

// ---- top level ----

var topKeywords = []string{"table", "define", "redefine", "undefine", "include", "flush", "delete", "add", "create", "insert"}

func (p *parser) parseTop() {
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == tEOF {
			return
		}
		if t.kind != tWord {
			p.errorf(t.pos, "found %s, expected a command such as `table`, `define` or `include`", t.describe())
			p.next()
			p.sync()
			continue
		}
		ok := true
		switch t.text {
		case "table":
			p.next()
			ok = p.parseTableCmd(true)
		case "define", "redefine":
			p.next()
			ok = p.parseDefine(t.text == "redefine")
		case "undefine":
			p.next()
			if n, ok2 := p.name("variable name"); ok2 {
				if _, exists := p.defines[n.text]; !exists {
					p.errorf(n.pos, "undefine of `%s`, which is not defined", n.text)
				}
				delete(p.defines, n.text)
			}
		case "include":
			p.next()
			ok = p.parseInclude()
		case "flush":
			p.next()
			ok = p.parseFlush()
		case "delete", "destroy":
			p.next()
			ok = p.parseDelete()
		case "add", "create":
			p.next()
			ok = p.parseAdd(false)
		case "insert":
			p.next()
			ok = p.parseAdd(true)
		case "list", "monitor", "describe", "reset", "export", "import", "rename", "replace":
			p.errorf(t.pos, "`%s` is an nft command nfd does not take in a rule file", t.text)
			ok = false
		default:
			p.errorf(t.pos, "%s", expected(t.describe(), "a command (table, define, include, flush, add, insert, delete)", topKeywords))
			ok = false
		}
		if !ok {
			p.sync()
			continue
		}
		if !p.atEnd() {
			t := p.peek()
			p.errorf(t.pos, "found %s, expected end of line", t.describe())
			p.sync()
		}
	}
}

func (p *parser) parseDefine(redefine bool) bool {
	n, ok := p.name("variable name")
	if !ok {
		return false
	}
	if _, exists := p.defines[n.text]; exists && !redefine {
		p.errorf(n.pos, "variable `%s` is already defined (use `redefine` to change it)", n.text)
		return false
	}
	if _, ok := p.expect(tAssign, "`=`"); !ok {
		return false
	}
	var toks []token
	depth := 0
	for {
		t := p.peek()
		if t.kind == tEOF || (depth == 0 && (t.kind == tNewline || t.kind == tSemi)) {
			break
		}
		p.next()
		switch t.kind {
		case tLBrace:
			depth++
		case tRBrace:
			depth--
		case tNewline:
			continue // newlines inside braces are layout
		}
		toks = append(toks, t)
		if depth < 0 {
			p.errorf(t.pos, "found `}`, expected a value")
			return false
		}
	}
	if len(toks) == 0 {
		p.errorf(n.pos, "variable `%s` has no value", n.text)
		return false
	}
	p.defines[n.text] = &define{pos: n.pos, toks: toks}
	return true
}

func (p *parser) parseInclude() bool {
	t, ok := p.expect(tString, "a quoted file name")
	if !ok {
		return false
	}
	if p.depth >= maxIncludeDepth {
		p.errorf(t.pos, "includes nested deeper than %d", maxIncludeDepth)
		return false
	}
	pat := t.text
	if !filepath.IsAbs(pat) {
		pat = filepath.Join(filepath.Dir(t.pos.File), pat)
	}
	var files []string
	if strings.ContainsAny(pat, "*?[") {
		m, err := filepath.Glob(pat)
		if err != nil {
			p.errorf(t.pos, "bad include pattern %q: %v", t.text, err)
			return false
		}
		files = m // a glob matching nothing is fine, as in nft
	} else {
		files = []string{pat}
	}
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		if p.active[abs] {
			p.errorf(t.pos, "include loop: %q includes itself", f)
			return false
		}
		src, err := ReadRuleFile(f)
		if err != nil {
			p.errorf(t.pos, "cannot include %q: %v", t.text, unwrapPathErr(err))
			return false
		}
		p.depth++
		p.parseSource(f, src)
		p.depth--
	}
	return true
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var familyWords = []string{"ip", "ip6", "inet", "bridge", "arp", "netdev"}

// parseFamily reads an optional family; the default is ip, as in nft.
func (p *parser) parseFamily() (Family, bool) {
	t := p.peek()
	if t.kind != tWord {
		return FamilyIP, true
	}
	switch t.text {
	case "ip":
		p.next()
		return FamilyIP, true
	case "ip6":
		p.next()
		return FamilyIP6, true
	case "inet":
		p.next()
		return FamilyInet, true
	case "bridge", "arp", "netdev":
		p.next()
		p.errorf(t.pos, "family `%s` is not supported by nfd (supported: ip, ip6, inet)", t.text)
		return 0, false
	}
	// A table name that looks like a misspelt family, followed by another name.
	if n := p.peekAt(1); n.kind == tWord || n.kind == tString {
		if s := suggest(t.text, familyWords); s != "" {
			p.errorf(t.pos, "unknown family `%s`, did you mean `%s`?", t.text, s)
			return 0, false
		}
	}
	return FamilyIP, true
}

func (p *parser) table(f Family, name string, pos Pos, create bool) *Table {
	if t := p.rs.Table(f, name); t != nil {
		return t
	}
	if !create {
		p.errorf(pos, "table `%s %s` does not exist", f, name)
		return nil
	}
	t := &Table{Pos: pos, Family: f, Name: name}
	p.rs.Tables = append(p.rs.Tables, t)
	return t
}

// parseTableCmd parses `[family] name [{ body }]` after `table`.
func (p *parser) parseTableCmd(block bool) bool {
	fam, ok := p.parseFamily()
	if !ok {
		p.skipToBlockEnd()
		return false
	}
	n, ok := p.name("table name")
	if !ok {
		return false
	}
	t := p.table(fam, n.text, n.pos, true)
	if p.peek().kind != tLBrace {
		return true
	}
	p.next()
	p.parseTableBody(t)
	return true
}

// skipToBlockEnd skips the rest of the line and, if it opens a block, the block.
func (p *parser) skipToBlockEnd() {
	for !p.atEnd() && p.peek().kind != tLBrace {
		p.next()
	}
	p.skipBlock()
}

var tableKeywords = []string{"chain", "set", "map", "comment", "flags"}

func (p *parser) parseTableBody(t *Table) {
	for {
		p.skipNewlines()
		tok := p.peek()
		switch tok.kind {
		case tRBrace:
			p.next()
			return
		case tEOF:
			p.errorf(tok.pos, "found end of file, expected `}` closing table `%s`", t.Name)
			return
		case tWord:
		default:
			p.errorf(tok.pos, "found %s, expected `chain`, `set`, `map` or `}`", tok.describe())
			p.sync()
			continue
		}
		p.next()
		ok := true
		switch tok.text {
		case "chain":
			ok = p.parseChainDecl(t)
		case "set", "map":
			ok = p.parseSetDecl(t, tok.text == "map")
		case "comment":
			var s token
			if s, ok = p.expect(tString, "a quoted comment"); ok {
				t.Comment = s.text
			}
		case "flowtable", "counter", "quota", "limit", "secmark", "synproxy", "ct":
			p.errorf(tok.pos, "`%s` objects are not supported by nfd", tok.text)
			p.skipToBlockEnd()
			continue
		case "flags":
			p.errorf(tok.pos, "table flags are not supported by nfd")
			ok = false
		default:
			p.errorf(tok.pos, "%s", expected(tok.describe(), "`chain`, `set`, `map` or `}`", tableKeywords))
			ok = false
		}
		if !ok {
			p.sync()
		}
	}
}

func (p *parser) parseChainDecl(t *Table) bool {
	n, ok := p.name("chain name")
	if !ok {
		return false
	}
	c := t.Chain(n.text)
	if c == nil {
		c = &Chain{Pos: n.pos, Name: n.text}
		t.Chains = append(t.Chains, c)
	}
	if p.peek().kind != tLBrace {
		return true
	}
	p.next()
	p.parseChainBody(t, c, false)
	return true
}

var chainKeywords = []string{"type", "policy", "comment", "devices"}

func (p *parser) parseChainBody(t *Table, c *Chain, insert bool) {
	var inserted []*Rule
	defer func() {
		if insert {
			c.Rules = append(inserted, c.Rules...)
		}
	}()
	for {
		p.skipNewlines()
		tok := p.peek()
		switch tok.kind {
		case tRBrace:
			p.next()
			return
		case tEOF:
			p.errorf(tok.pos, "found end of file, expected `}` closing chain `%s`", c.Name)
			return
		}
		if tok.kind == tWord {
			switch tok.text {
			case "type":
				p.next()
				if !p.parseBaseSpec(t, c, tok.pos) {
					p.sync()
				}
				continue
			case "policy":
				p.next()
				if !p.parsePolicy(c, tok.pos) {
					p.sync()
				}
				continue
			case "comment":
				if k := p.peekAt(1).kind; k == tString {
					if n := p.peekAt(2).kind; n == tNewline || n == tSemi || n == tRBrace {
						p.next()
						c.Comment = p.next().text
						continue
					}
				}
			case "devices", "device":
				p.errorf(tok.pos, "`%s` belongs to netdev chains, which nfd does not support", tok.text)
				p.sync()
				continue
			}
		}
		r := p.parseRule(t, c)
		if r != nil {
			if insert {
				inserted = append(inserted, r)
			} else {
				c.Rules = append(c.Rules, r)
			}
		}
	}
}

var priorityNames = map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

func (p *parser) parseBaseSpec(t *Table, c *Chain, pos Pos) bool {
	bs := &BaseSpec{Pos: pos}
	tt, ok := p.name("chain type")
	if !ok {
		return false
	}
	switch tt.text {
	case "filter":
		bs.Type = ChainFilter
	case "nat":
		bs.Type = ChainNAT
	case "route":
		bs.Type = ChainRoute
	default:
		p.errorf(tt.pos, "%s", expected("`"+tt.text+"`", "chain type filter, nat or route", []string{"filter", "nat", "route"}))
		return false
	}
	if !p.acceptWord("hook") {
		tok := p.peek()
		p.errorf(tok.pos, "%s", expected(tok.describe(), "`hook`", []string{"hook"}))
		return false
	}
	h, ok := p.name("hook name")
	if !ok {
		return false
	}
	hook, found := ParseHook(h.text)
	if !found {
		if h.text == "ingress" || h.text == "egress" {
			p.errorf(h.pos, "hook `%s` belongs to netdev tables, which nfd does not support", h.text)
		} else {
			p.errorf(h.pos, "%s", expected("`"+h.text+"`", "a hook (prerouting, input, forward, output, postrouting)", hookNames[:]))
		}
		return false
	}
	bs.Hook = hook
	if p.isWord("device") {
		p.errorf(p.peek().pos, "`device` belongs to netdev chains, which nfd does not support")
		return false
	}
	if !p.acceptWord("priority") {
		tok := p.peek()
		p.errorf(tok.pos, "%s", expected(tok.describe(), "`priority`", []string{"priority"}))
		return false
	}
	prioTok := p.peek()
	prio, ok := p.parsePriority()
	if !ok {
		return false
	}
	if kw := strings.TrimRight(strings.SplitN(strings.SplitN(prioTok.text, "+", 2)[0], "-", 2)[0], " "); priorityNames[kw] != 0 || kw == "filter" {
		if !prioValidAt(kw, hook) {
			p.errorf(prioTok.pos, "priority `%s` is not valid at the %s hook (nft allows dstnat at prerouting, srcnat at postrouting)", kw, hook)
			return false
		}
	}
	bs.Priority = prio
	p.accept(tSemi)
	if p.isWord("policy") {
		tok := p.next()
		if !p.parsePolicyInto(bs, tok.pos) {
			return false
		}
	}
	if old := c.Base; old != nil {
		if old.Type != bs.Type || old.Hook != bs.Hook || old.Priority != bs.Priority {
			p.errorf(pos, "chain `%s` is already a base chain with a different type, hook or priority (declared at %s)", c.Name, old.Pos)
			return false
		}
		if bs.Policy != 0 {
			old.Policy = bs.Policy
		}
		return true
	}
	if bs.Policy == 0 {
		bs.Policy = VerdictAccept
	}
	c.Base = bs
	return true
}

func (p *parser) parsePriority() (int, bool) {
	t, ok := p.name("a priority (number or raw, mangle, dstnat, filter, security, srcnat)")
	if !ok {
		return 0, false
	}
	s := t.text
	if v, err := strconv.Atoi(s); err == nil {
		return v, true
	}
	// keyword, keyword+N, keyword-N, keyword + N, keyword - N
	kw, off := s, ""
	if i := strings.IndexAny(s, "+-"); i > 0 {
		kw, off = s[:i], s[i:]
	}
	base, ok := priorityNames[kw]
	if !ok {
		var names []string
		for k := range priorityNames {
			names = append(names, k)
		}
		sort.Strings(names)
		p.errorf(t.pos, "%s", expected("`"+kw+"`", "a priority (number or raw, mangle, dstnat, filter, security, srcnat)", names))
		return 0, false
	}
	if off == "" {
		sign := 0
		if p.accept(tPlus) {
			sign = 1
		} else if p.isWord("-") {
			p.next()
			sign = -1
		} else if n := p.peek(); n.kind == tWord && strings.HasPrefix(n.text, "-") {
			off = n.text
			p.next()
		}
		if sign != 0 {
			n, ok := p.name("a number")
			if !ok {
				return 0, false
			}
			v, err := strconv.Atoi(n.text)
			if err != nil {
				p.errorf(n.pos, "found `%s`, expected a number", n.text)
				return 0, false
			}
			return base + sign*v, true
		}
	}
	if off != "" {
		v, err := strconv.Atoi(off)
		if err != nil {
			p.errorf(t.pos, "found `%s`, expected a priority offset such as `%s + 10`", s, kw)
			return 0, false
		}
		return base + v, true
	}
	return base, true
}

func (p *parser) parsePolicy(c *Chain, pos Pos) bool {
	if c.Base == nil {
		p.errorf(pos, "`policy` needs a base chain: put `type filter hook HOOK priority P;` first")
		p.next()
		return false
	}
	return p.parsePolicyInto(c.Base, pos)
}

func (p *parser) parsePolicyInto(bs *BaseSpec, pos Pos) bool {
	t, ok := p.name("`accept` or `drop`")
	if !ok {
		return false
	}
	switch t.text {
	case "accept":
		bs.Policy = VerdictAccept
	case "drop":
		bs.Policy = VerdictDrop
	default:
		p.errorf(t.pos, "%s", expected("`"+t.text+"`", "policy `accept` or `drop`", []string{"accept", "drop"}))
		return false
	}
	p.accept(tSemi)
	return true
}

// ---- command forms ----

func (p *parser) parseFlush() bool {
	t, ok := p.name("`ruleset`, `table`, `chain` or `set`")
	if !ok {
		return false
	}
	switch t.text {
	case "ruleset":
		p.acceptFamilyWord()
		p.rs.Tables = nil
		return true
	case "table":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		for _, c := range tb.Chains {
			c.Rules = nil
		}
		return true
	case "chain":
		tb, c := p.chainRef(false)
		if c == nil {
			return tb != nil
		}
		c.Rules = nil
		return true
	case "set", "map":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		n, ok := p.name("set name")
		if !ok {
			return false
		}
		s := tb.Set(n.text)
		if s == nil {
			p.errorf(n.pos, "set `%s` does not exist in table `%s`", n.text, tb.Name)
			return false
		}
		s.Elems = nil
		return true
	}
	p.errorf(t.pos, "%s", expected("`"+t.text+"`", "`ruleset`, `table`, `chain` or `set`", []string{"ruleset", "table", "chain", "set"}))
	return false
}

func (p *parser) acceptFamilyWord() {
	if t := p.peek(); t.kind == tWord {
		switch t.text {
		case "ip", "ip6", "inet":
			p.next()
		}
	}
}

func (p *parser) parseDelete() bool {
	t, ok := p.name("`table` or `chain`")
	if !ok {
		return false
	}
	switch t.text {
	case "table":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		for i, x := range p.rs.Tables {
			if x == tb {
				p.rs.Tables = append(p.rs.Tables[:i], p.rs.Tables[i+1:]...)
				break
			}
		}
		return true
	case "chain":
		tb, c := p.chainRef(false)
		if c == nil {
			return tb != nil
		}
		for i, x := range tb.Chains {
			if x == c {
				tb.Chains = append(tb.Chains[:i], tb.Chains[i+1:]...)
				break
			}
		}
		return true
	}
	p.errorf(t.pos, "%s", expected("`"+t.text+"`", "`table` or `chain`", []string{"table", "chain"}))
	return false
}

func (p *parser) tableRef(create bool) *Table {
	fam, ok := p.parseFamily()
	if !ok {
		return nil
	}
	n, ok := p.name("table name")
	if !ok {
		return nil
	}
	return p.table(fam, n.text, n.pos, create)
}

// chainRef reads `[family] table chain`; missing chains are reported.
func (p *parser) chainRef(create bool) (*Table, *Chain) {
	tb := p.tableRef(false)
	if tb == nil {
		return nil, nil
	}
	n, ok := p.name("chain name")
	if !ok {
		return tb, nil
	}
	c := tb.Chain(n.text)
	if c == nil {
		if create {
			c = &Chain{Pos: n.pos, Name: n.text}
			tb.Chains = append(tb.Chains, c)
			return tb, c
		}
		p.errorf(n.pos, "chain `%s` does not exist in table `%s %s`", n.text, tb.Family, tb.Name)
	}
	return tb, c
}

func (p *parser) parseAdd(insert bool) bool {
	t, ok := p.name("`table`, `chain`, `rule`, `set`, `map` or `element`")
	if !ok {
		return false
	}
	if insert && t.text != "rule" {
		p.errorf(t.pos, "found `%s`, expected `rule` after `insert`", t.text)
		return false
	}
	switch t.text {
	case "table":
		return p.parseTableCmd(false)
	case "chain":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		return p.parseChainDecl(tb)
	case "rule":
		tb, c := p.chainRef(false)
		if c == nil {
			return false
		}
		for _, w := range []string{"position", "handle", "index"} {
			if p.isWord(w) {
				p.errorf(p.peek().pos, "`%s` refers to a live ruleset; nfd rule files are loaded whole", w)
				return false
			}
		}
		r := p.parseRuleStmts(tb, c)
		if r == nil {
			return true // errors already reported, line consumed
		}
		if insert {
			c.Rules = append([]*Rule{r}, c.Rules...)
		} else {
			c.Rules = append(c.Rules, r)
		}
		return true
	case "set", "map":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		return p.parseSetDecl(tb, t.text == "map")
	case "element":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		n, ok := p.name("set name")
		if !ok {
			return false
		}
		s := tb.Set(n.text)
		if s == nil {
			p.errorf(n.pos, "set `%s` does not exist in table `%s %s`", n.text, tb.Family, tb.Name)
			return false
		}
		if _, ok := p.expect(tLBrace, "`{`"); !ok {
			return false
		}
		elems, ok := p.parseElemList(s.Key, s.mapData())
		s.Elems = append(s.Elems, elems...)
		return ok
	}
	p.errorf(t.pos, "%s", expected("`"+t.text+"`", "`table`, `chain`, `rule`, `set`, `map` or `element`", []string{"table", "chain", "rule", "set", "map", "element"}))
	return false
}

// ---- sets ----

func (s *Set) mapData() *Type {
	if s.IsMap {
		return s.Data
	}
	return nil
}

var setKeywords = []string{"type", "typeof", "flags", "elements", "timeout", "size", "comment", "auto-merge", "policy"}

func (p *parser) parseSetDecl(t *Table, isMap bool) bool {
	n, ok := p.name("set name")
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
				s.Comment = c.text
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
			el, ok = p.parseElemList(s.Key, s.mapData())
			s.Elems = append(s.Elems, el...)
		case "counter", "gc-interval":
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
	if old := t.Set(s.Name); old != nil {
		if old.IsMap != s.IsMap || !sameTypes(old.Key, s.Key) || old.Data != s.Data {
			p.errorf(s.Pos, "set `%s` is already declared with a different type (at %s)", s.Name, old.Pos)
			return true
		}
		old.Elems = append(old.Elems, s.Elems...)
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
		} else if ty := lookupSetType(n.text); ty != nil && ty.kind != kHostname {
			s.Data = ty
		} else {
			p.errorf(n.pos, "found `%s`, expected a map data type (verdict or a data type)", n.text)
			return false
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
func (p *parser) parseElemList(key []*Type, data *Type) ([]Elem, bool) {
	saved := p.commaIsElemSep
	p.commaIsElemSep = true
	defer func() { p.commaIsElemSep = saved }()
	var out []Elem
	ok := true
	for {
		p.skipBlankLines()
		if p.accept(tRBrace) {
			return out, ok
		}
		if p.peek().kind == tEOF {
			p.errorf(p.peek().pos, "found end of file, expected `}` closing the element list")
			return out, false
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
func (p *parser) parseElem(key []*Type, data *Type) (Elem, bool) {
	var e Elem
	if len(key) == 1 {
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
	if data == TypeVerdict {
		v, ok := p.parseVerdictWord()
		if !ok {
			return e, false
		}
		e.Verdict = v
		return e, true
	}
	lo, hi, ok := p.parseLiteral(data)
	if !ok {
		return e, false
	}
	if string(lo) != string(hi) {
		p.errorf(p.last.pos, "a map value must be a single %s", data.Name)
		return e, false
	}
	e.Data = lo
	return e, true
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
	if tok.kind != tWord && tok.kind != tString {
		p.errorf(tok.pos, "found %s, expected %s", tok.describe(), describeType(t))
		return nil, nil, false
	}
	p.next()
	text := tok.text
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

func describeType(t *Type) string {
	switch t.kind {
	case kIPv4:
		return "an IPv4 address"
	case kIPv6:
		return "an IPv6 address"
	case kIfname:
		return "an interface name"
	case kHostname:
		return "a host name or pattern"
	}
	if t == TypeService {
		return "a port number or service name"
	}
	return "a " + t.Name + " value"
}

// parseBitmask reads `a`, `a,b`, `a|b`, `(a|b)`; values are OR'd.
func (p *parser) parseBitmask(t *Type) (uint64, bool) {
	paren := p.accept(tLParen)
	var v uint64
	for {
		n := p.peek()
		if n.kind != tWord {
			p.errorf(n.pos, "found %s, expected %s", n.describe(), describeType(t))
			return 0, false
		}
		p.next()
		b, err := t.parseScalar(n.text, false)
		if err != nil {
			p.errorf(n.pos, "%s", err)
			return 0, false
		}
		v |= Uint(b)
		if p.accept(tPipe) {
			continue
		}
		if !paren && p.peek().kind == tComma && p.peekAt(1).kind == tWord {
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
