// Reading a rule's extent from the source without tokens (memo.go).

package parser

// Byte classes for scanRule.
const (
	cOther = iota
	cWord
	cBlank
	cNewline
	cSemi
	cLBrace
	cRBrace
	cQuote
	cHash
	cBackslash
	cDollar
	cHigh
)

var scanClass = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 0x80:
			t[c] = cHigh
		case isWordByte(byte(c)):
			t[c] = cWord
		}
	}
	t[' '], t['\t'], t['\r'] = cBlank, cBlank, cBlank
	t['\n'], t[';'], t['{'], t['}'] = cNewline, cSemi, cLBrace, cRBrace
	t['"'], t['#'], t['\\'], t['$'] = cQuote, cHash, cBackslash, cDollar
	return t
}()

// scanRule finds where the rule whose first token starts at off ends, as
// the parser reads it: after its last token before a newline, `;` or `}`
// at brace depth 0, or the end of the file. It returns that end, the
// line and column there, the byte that ends the rule (0 at the end of the
// file), the newlines inside the rule, and whether it holds a `$`. ok is
// false where the lexer would report an error (an unterminated string, a
// byte outside ASCII).
func scanRule(src string, off, line, col int) (end, eline, ecol int, term byte, nl int32, dollar, ok bool) {
	depth := 0
	i := off
	lineStart := off - (col - 1) // offset of column 1 of the current line
	endLine, endLineStart := line, lineStart
	end = off
	nlAtEnd := int32(0)
	for i < len(src) {
		switch scanClass[src[i]] {
		case cWord:
			i++
			for i < len(src) && scanClass[src[i]] == cWord {
				i++
			}
		case cBlank:
			i++
			continue
		case cBackslash:
			if i+1 < len(src) && src[i+1] == '\n' {
				i += 2
				line, lineStart, nl = line+1, i, nl+1
				continue
			}
			if i+2 < len(src) && src[i+1] == '\r' && src[i+2] == '\n' {
				i += 3
				line, lineStart, nl = line+1, i, nl+1
				continue
			}
			i++
		case cHash:
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case cNewline:
			if depth == 0 {
				return end, endLine, end - endLineStart + 1, '\n', nlAtEnd, dollar, true
			}
			i++
			line, lineStart, nl = line+1, i, nl+1
			continue
		case cSemi:
			if depth == 0 {
				return end, endLine, end - endLineStart + 1, ';', nlAtEnd, dollar, true
			}
			i++
		case cRBrace:
			if depth == 0 {
				return end, endLine, end - endLineStart + 1, '}', nlAtEnd, dollar, true
			}
			depth--
			i++
		case cLBrace:
			depth++
			i++
		case cQuote:
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return 0, 0, 0, 0, 0, false, false
			}
			i = j + 1
		case cDollar:
			dollar = true
			i++
		case cHigh:
			return 0, 0, 0, 0, 0, false, false
		default:
			i++
		}
		end, endLine, endLineStart, nlAtEnd = i, line, lineStart, nl
	}
	return end, endLine, end - endLineStart + 1, 0, nlAtEnd, dollar, true
}

// endsWith reports whether only blanks, comments and line continuations
// come between off and the terminator term (0: the end of src).
func endsWith(src string, off int, term byte) bool {
	for off < len(src) {
		switch c := src[off]; scanClass[c] {
		case cBlank:
			off++
		case cHash:
			for off < len(src) && src[off] != '\n' {
				off++
			}
		case cBackslash:
			switch {
			case off+1 < len(src) && src[off+1] == '\n':
				off += 2
			case off+2 < len(src) && src[off+1] == '\r' && src[off+2] == '\n':
				off += 3
			default:
				return false
			}
		default:
			return c == term
		}
	}
	return term == 0
}

// find returns the rule of Prev to reuse for a rule with this hash,
// terminator and defines, pairing equal rules in order.
func (pp *prevParse) find(h [2]uint64, term byte, defs uint64) *Rule {
	seq := pp.memo.seq
	for k := pp.cur; k < len(seq) && k < pp.cur+findWindow; k++ {
		if pp.match(seq[k], h, term, defs) {
			pp.cur = k + 1
			return seq[k]
		}
	}
	pp.misses++
	if pp.misses < missWindow {
		return nil
	}
	if pp.index == nil {
		pp.index = make(map[[2]uint64][]int, len(seq))
		for k, r := range seq {
			if !r.src.ok {
				continue
			}
			pp.index[r.src.hash] = append(pp.index[r.src.hash], k)
		}
	}
	ks := pp.index[h]
	best := -1
	for _, k := range ks {
		if pp.match(seq[k], h, term, defs) && (best < 0 || best < pp.cur && k >= pp.cur) {
			best = k
		}
	}
	if best < 0 {
		return nil
	}
	pp.cur = best + 1
	return seq[best]
}
