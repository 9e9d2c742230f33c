package parser

import (
	stdctx "context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
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
	return ParseWith(ctx, name, src, ParseOptions{})
}

type define struct {
	pos  Pos
	toks []token
}

type parser struct {
	lex      *lexer
	buf      []token // lookahead and expanded $variables, in order
	bufArr   []token // buf's array
	last     token   // the last token consumed
	errs     ErrorList
	srcs     map[string]string
	defines  map[string]*define
	rs       *Ruleset
	curTable *Table          // the table whose rules are being parsed
	active   map[string]bool // files being included: loop detection
	depth    int
	ctx      stdctx.Context // checked every ctxEvery tokens
	ntok     int
	// commaIsElemSep is set inside `{ ... }` element lists, where a comma
	// separates elements instead of joining flags.
	commaIsElemSep bool
	// natData is set while a NAT map's elements are read: their data may
	// be an address range or prefix, or address . port (parseElemData).
	natData bool
	// curRule is the rule being parsed (its statements so far).
	curRule *Rule
	// regular holds the chains declared with a body and no hook, where:
	// a later declaration cannot make them base chains.
	regular map[*Chain]Pos
	// policySeen: the chain block being parsed has set its policy.
	policySeen bool
	// fields holds the dynamic fields this parse interned (fieldlife.go).
	fields *fieldOwner

	// Rule keys and reuse (memo.go).
	skel     skelState
	skelFrom int // the current file's bytes before it are in the skeleton or left out
	lastEnd  int // the end of the last token consumed in the current file
	// unitStart is the offset of the `add`/`insert` of an `add rule`
	// command being read (-1 otherwise), unitSep the end of what preceded it.
	unitStart, unitSep int
	prev               *prevParse // ParseWith's Prev
	declSame           bool       // the declarations are Prev's
	seq                []*Rule    // reusable rules in parse order, for the next parse
	ruleDyn            []Field    // dynamic fields of the rule being parsed
	ruleSlab           []Rule     // newRule's block
	srcSlab            []ruleSrc  // newSrc's block
	triedFast          bool       // fastRule looked the next rule up and missed
	// unmerged: with Prev, the chains that hold rules not taken from
	// Prev checked (rules added to a chain otherwise are marked too).
	unmerged map[*Chain]bool
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
	text := string(src) // one copy, for the lexer and the error lines
	p.srcs[name] = text
	// the lookahead is kept apart: the buffer's array is reused (fill)
	savedLex, savedBuf := p.lex, append([]token(nil), p.buf...)
	savedFrom, savedEnd := p.skelFrom, p.lastEnd
	p.lex, p.buf = &lexer{file: name, src: text, line: 1, col: 1}, nil
	p.skelFrom, p.lastEnd = 0, 0
	p.skel.writeDecl("\x00file\x00" + name + "\x00")
	defer func() {
		// also when unwinding (too many errors): the caller's lexer is back
		p.lex, p.buf = savedLex, savedBuf
		p.skelFrom, p.lastEnd = savedFrom, savedEnd
	}()
	p.parseTop()
	p.skelTo(len(p.lex.src))
	p.skel.writeDecl("\x00end\x00")
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
	if len(p.buf) == 0 && p.bufArr != nil {
		// start again at the array's front rather than grow it
		p.buf = p.bufArr[:0]
	}
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
				p.buf = append(p.buf, token{kind: tWord, text: "0", pos: t.pos, exp: true, off: t.off, end: t.end})
				continue
			}
			for _, dt := range d.toks {
				dt.exp, dt.off, dt.end = true, t.off, t.end
				p.buf = append(p.buf, dt)
			}
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
	p.lastEnd = int(t.end)
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
