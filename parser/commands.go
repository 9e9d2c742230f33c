// Top-level statements and command forms: define, include, flush, delete,
// add/create/insert.

package parser

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// ---- top level ----

var topKeywords = []string{"table", "define", "redefine", "undefine", "include", "flush", "delete", "add", "create", "insert"}

func (p *parser) parseTop() {
	for {
		sep := p.lastEnd // an `add rule` unit starts here (memo.go)
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
		case "define", "redefine", "undefine":
			p.next()
			ok = p.parseScopedDefine(t.text)
		case "include":
			p.next()
			ok = p.parseInclude()
		case "flush":
			p.next()
			ok = p.parseFlush()
		case "delete", "destroy":
			p.next()
			ok = p.parseDelete()
		case "add", "create", "insert":
			// an `add rule` line is left out of the skeleton (memo.go)
			p.unitStart, p.unitSep = -1, sep
			if !t.exp {
				p.unitStart = int(t.off)
			}
			p.next()
			ok = p.parseAdd(t.text == "insert")
			p.unitStart = -1
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

// parseScopedDefine reads what follows `define`, `redefine` or
// `undefine`, at the top level or inside a table or chain block.
func (p *parser) parseScopedDefine(kw string) bool {
	if kw != "undefine" {
		return p.parseDefine(kw == "redefine")
	}
	n, ok := p.declName("variable name")
	if !ok {
		return false
	}
	if _, exists := p.defines[n.text]; !exists {
		p.errorf(n.pos, "undefine of `%s`, which is not defined", n.text)
	}
	delete(p.defines, n.text)
	return true
}

// openScope starts a table or chain block's scope: what it defines,
// redefines or undefines holds until the block closes, as nft's scopes do
// (parser_bison.y open_scope/close_scope); the returned function closes
// it. Defining a name an outer scope holds is still a redefinition error,
// since nft's symbol_lookup searches the outer scopes.
func (p *parser) openScope() func() {
	saved := make(map[string]*define, len(p.defines))
	for k, v := range p.defines {
		saved[k] = v
	}
	return func() { p.defines = saved }
}

func (p *parser) parseDefine(redefine bool) bool {
	n, ok := p.declName("variable name")
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
		p.skelTo(p.lastEnd)
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
		n, ok := p.declName("set name")
		if !ok {
			return false
		}
		s := tb.Set(n.text)
		if s == nil {
			p.errorf(n.pos, "set `%s` does not exist in table `%s`", n.text, tb.Name)
			return false
		}
		s.Elems, s.Packed, s.CatchAll = nil, nil, nil
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
	n, ok := p.declName("table name")
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
	n, ok := p.declName("chain name")
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
	t, ok := p.name("`table`, `chain`, `rule`, `set`, `map`, `element` or an object")
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
		unit := -1
		if p.unitStart >= 0 && t.text == "rule" {
			unit = p.unitStart
		}
		p.unitStart = -1
		var r *Rule
		if unit >= 0 {
			r = p.memoRule(tb, c, unit, p.unitSep)
		} else {
			r = p.parseRuleStmts(tb, c)
		}
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
	case "counter", "quota", "limit":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		return p.objectDecl(tb, t, true)
	case "synproxy":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		return p.parseKernelObjectDecl(tb, "synproxy", t)
	case "ct":
		k := p.peek()
		if k.kind != tWord || k.text != "helper" && k.text != "timeout" && k.text != "expectation" {
			p.errorf(k.pos, "found %s after `add ct`, expected `helper`, `timeout` or `expectation`", k.describe())
			return false
		}
		p.next()
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		return p.parseKernelObjectDecl(tb, "ct "+k.text, t)
	case "element":
		tb := p.tableRef(false)
		if tb == nil {
			return false
		}
		n, ok := p.declName("set name")
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
		from := p.elemsFrom(p.lastEnd)
		elems, ok := p.parseElemList(s.Key, s.mapData())
		p.elemsTo(from)
		ok = ok && p.checkElemOptions(s, elems)
		elems, ca := splitCatchAll(elems)
		if ca != nil {
			s.CatchAll = ca
		}
		s.unpack()
		s.Elems = append(s.Elems, elems...)
		return ok
	}
	p.errorf(t.pos, "%s", expected("`"+t.text+"`", "`table`, `chain`, `rule`, `set`, `map`, `element` or an object", []string{"table", "chain", "rule", "set", "map", "element", "counter", "quota", "limit", "ct", "synproxy"}))
	return false
}
