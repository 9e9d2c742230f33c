package parser

import (
	"fmt"
	"net/netip"
	"strings"
)

// tokKind is the lexical class of a token.
type tokKind uint8

const (
	tEOF     tokKind = iota
	tNewline         // end of line: statements end here unless inside braces
	tSemi            // ;
	tLBrace          // {
	tRBrace          // }
	tLParen          // (
	tRParen          // )
	tLBrack          // [
	tRBrack          // ]
	tComma           // ,
	tColon           // :
	tDot             // . (concatenation, always standalone)
	tAssign          // =
	tEq              // ==
	tNe              // !=
	tLt              // <
	tGt              // >
	tLe              // <=
	tGe              // >=
	tAmp             // &
	tPipe            // |
	tCaret           // ^
	tNot             // !
	tSlash           // / (standalone, the mask form of tcp flags)
	tPlus            // +
	tSetRef          // @name (Text is the name)
	tVar             // $name (Text is the name)
	tString          // "..." (Text is the content)
	tWord            // everything else: keywords, numbers, addresses, ranges
	tError           // a lexical error; Text is the message
)

var tokNames = [...]string{
	tEOF: "end of file", tNewline: "end of line", tSemi: "`;`", tLBrace: "`{`", tRBrace: "`}`",
	tLParen: "`(`", tRParen: "`)`", tLBrack: "`[`", tRBrack: "`]`", tComma: "`,`", tColon: "`:`",
	tDot: "`.`", tAssign: "`=`", tEq: "`==`", tNe: "`!=`", tLt: "`<`", tGt: "`>`", tLe: "`<=`",
	tGe: "`>=`", tAmp: "`&`", tPipe: "`|`", tCaret: "`^`", tNot: "`!`", tSlash: "`/`", tPlus: "`+`",
}

type token struct {
	kind tokKind
	// exp marks a token of a $variable's expansion: off and end are then
	// those of the `$name` it replaces.
	exp  bool
	text string
	pos  Pos
	// off and end are the token's byte offsets in its file.
	off, end int32
}

// describe is how a token is named in "found X" messages.
func (t token) describe() string {
	switch t.kind {
	case tWord:
		return "`" + t.text + "`"
	case tString:
		return "string \"" + t.text + "\""
	case tSetRef:
		return "`@" + t.text + "`"
	case tVar:
		return "`$" + t.text + "`"
	case tError:
		return t.text
	}
	return tokNames[t.kind]
}

// lexer turns one file's bytes into tokens. It never fails: bad input
// becomes a tError token and lexing goes on after it.
type lexer struct {
	file string
	src  string
	off  int
	line int
	col  int // column of src[off], 1-based
	// pending holds tokens produced by splitting a word (e.g. "22:accept").
	pending []token
	// tokOff is where the token being read starts.
	tokOff int
}

func newLexer(file string, src []byte) *lexer {
	return &lexer{file: file, src: string(src), line: 1, col: 1}
}

// lineText returns source line n (1-based) for error display.
func lineText(src string, n int) string {
	for i := 1; i < n; i++ {
		j := strings.IndexByte(src, '\n')
		if j < 0 {
			return ""
		}
		src = src[j+1:]
	}
	if j := strings.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	return strings.TrimRight(src, "\r")
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c == '*'
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

func (l *lexer) advance(n int) {
	for i := 0; i < n; i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off++
	}
}

func (l *lexer) next() token {
	if len(l.pending) > 0 {
		t := l.pending[0]
		l.pending = l.pending[1:]
		return t
	}
	t := l.scan()
	if t.end == 0 {
		t.off, t.end = int32(l.tokOff), int32(l.off)
	}
	return t
}

// scan reads the next token; split words set their own offsets.
func (l *lexer) scan() token {
	// Skip blanks, comments and backslash-newline continuations.
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.advance(1)
			continue
		case c == '\\' && l.off+1 < len(l.src) && l.src[l.off+1] == '\n':
			l.advance(2)
			continue
		case c == '\\' && l.off+2 < len(l.src) && l.src[l.off+1] == '\r' && l.src[l.off+2] == '\n':
			l.advance(3)
			continue
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance(1)
			}
			continue
		}
		break
	}
	pos := Pos{File: l.file, Line: l.line, Col: l.col}
	l.tokOff = l.off
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: pos}
	}
	c := l.src[l.off]
	two := ""
	if l.off+1 < len(l.src) {
		two = l.src[l.off : l.off+2]
	}
	single := func(k tokKind) token {
		t := token{kind: k, pos: pos, text: l.src[l.off : l.off+1]}
		l.advance(1)
		return t
	}
	switch c {
	case '\n':
		return single(tNewline)
	case ';':
		return single(tSemi)
	case '{':
		return single(tLBrace)
	case '}':
		return single(tRBrace)
	case '(':
		return single(tLParen)
	case ')':
		return single(tRParen)
	case '[':
		return single(tLBrack)
	case ']':
		return single(tRBrack)
	case ',':
		return single(tComma)
	case '&':
		return single(tAmp)
	case '|':
		return single(tPipe)
	case '^':
		return single(tCaret)
	case '+':
		return single(tPlus)
	case '=':
		if two == "==" {
			l.advance(2)
			return token{kind: tEq, pos: pos, text: "=="}
		}
		return single(tAssign)
	case '!':
		if two == "!=" {
			l.advance(2)
			return token{kind: tNe, pos: pos, text: "!="}
		}
		return single(tNot)
	case '<':
		if two == "<=" {
			l.advance(2)
			return token{kind: tLe, pos: pos, text: "<="}
		}
		return single(tLt)
	case '>':
		if two == ">=" {
			l.advance(2)
			return token{kind: tGe, pos: pos, text: ">="}
		}
		return single(tGt)
	case '"':
		l.advance(1)
		start := l.off
		// nft strings have no escapes: a string ends at the next quote.
		for l.off < len(l.src) && l.src[l.off] != '"' && l.src[l.off] != '\n' {
			l.advance(1)
		}
		if l.off >= len(l.src) || l.src[l.off] != '"' {
			return token{kind: tError, pos: pos, text: "unterminated string"}
		}
		text := l.src[start:l.off]
		l.advance(1)
		return token{kind: tString, pos: pos, text: text}
	case '@', '$':
		l.advance(1)
		start := l.off
		for l.off < len(l.src) && isNameByte(l.src[l.off]) {
			l.advance(1)
		}
		if start == l.off {
			return token{kind: tError, pos: pos, text: fmt.Sprintf("`%c` must be followed by a name", c)}
		}
		k := tSetRef
		if c == '$' {
			k = tVar
		}
		return token{kind: k, pos: pos, text: l.src[start:l.off]}
	}
	if !isWordByte(c) {
		l.advance(1)
		if c >= 0x80 {
			// Skip the rest of a UTF-8 sequence so we report it once.
			for l.off < len(l.src) && l.src[l.off]&0xC0 == 0x80 {
				l.advance(1)
			}
			return token{kind: tError, pos: pos, text: "non-ASCII character outside a string"}
		}
		return token{kind: tError, pos: pos, text: fmt.Sprintf("unexpected character %q", c)}
	}
	start := l.off
	for l.off < len(l.src) && isWordByte(l.src[l.off]) {
		l.advance(1)
	}
	w := l.src[start:l.off]
	switch w {
	case ".":
		return token{kind: tDot, pos: pos, text: w}
	case "/":
		return token{kind: tSlash, pos: pos, text: w}
	}
	if strings.IndexByte(w, ':') >= 0 && !looksIPv6(w) {
		if n := ip6Prefix(w); n > 0 {
			// `aaaa:::accept`: nft's scanner takes the longest IPv6
			// address (`aaaa::`), then `:`, then `accept`.
			first := l.splitColons(w[n:], Pos{File: pos.File, Line: pos.Line, Col: pos.Col + n}, start+n)
			l.pending = append([]token{first}, l.pending...)
			return token{kind: tWord, pos: pos, text: w[:n], off: int32(start), end: int32(start + n)}
		}
		return l.splitColons(w, pos, start)
	}
	return token{kind: tWord, pos: pos, text: w}
}

// looksIPv6 reports whether a word with colons is an IPv6 address, prefix or
// range, which keep their colons; any other colon separates tokens
// ("22:accept", "10.0.0.1:8080").
func looksIPv6(w string) bool {
	for _, part := range strings.SplitN(w, "-", 2) {
		a, _, _ := strings.Cut(part, "/")
		if ip, err := netip.ParseAddr(a); err != nil || !ip.Is6() {
			return false
		}
	}
	return true
}

// ip6Prefix is the length of the longest prefix of w that is an IPv6
// address when a colon follows it (flex's longest match of nft's ip6addr
// rule), or 0.
func ip6Prefix(w string) int {
	for n := len(w) - 1; n >= 2; n-- {
		if a, err := netip.ParseAddr(w[:n]); err == nil && a.Is6() && a.Zone() == "" {
			if w[n] == ':' {
				return n
			}
			return 0
		}
	}
	return 0
}

func (l *lexer) splitColons(w string, pos Pos, off int) token {
	var out []token
	col := pos.Col
	for i, part := range strings.Split(w, ":") {
		if i > 0 {
			out = append(out, token{kind: tColon, text: ":", pos: Pos{File: pos.File, Line: pos.Line, Col: col}, off: int32(off), end: int32(off + 1)})
			col, off = col+1, off+1
		}
		if part != "" {
			out = append(out, token{kind: tWord, text: part, pos: Pos{File: pos.File, Line: pos.Line, Col: col}, off: int32(off), end: int32(off + len(part))})
			col, off = col+len(part), off+len(part)
		}
	}
	l.pending = append(l.pending, out[1:]...)
	return out[0]
}
