// The fast path for large element lists: `elements = { 10.0.0.1, ... }`
// with one address, prefix, range or number per element is read straight
// from the source, without tokens. Anything else (comments, variables,
// options, concatenations, map data, a value the fast path cannot decode)
// leaves the source untouched and the general path parses the element,
// so values and errors are the general path's.

package parser

import (
	"strconv"
	"strings"
)

// elemSlab hands out small key slices from shared blocks: one allocation
// per 4096 bytes of keys instead of one per element.
type elemSlab struct{ buf []byte }

func (s *elemSlab) take(n int) []byte {
	if len(s.buf) < n {
		s.buf = make([]byte, 4096)
	}
	b := s.buf[:n:n]
	s.buf = s.buf[n:]
	return b
}

// noFastElems in a parse's context turns the fast path off (tests compare
// the two paths).
type noFastElems struct{}

// fastElemType reports whether elements of t may take the fast path: the
// kinds whose one-word literal parseLiteral hands to ParseLiteral as is.
func fastElemType(t *Type) bool {
	switch t.kind {
	case kIPv4, kIPv6:
		return true
	case kInt:
		return !t.Bitmask && t != TypeCtLabel && t != TypeBitmask8
	}
	return false
}

// elemsAhead estimates how many elements the list starting here holds
// (the commas before the next `}`, plus one), so that a large list is
// allocated once instead of grown by copying.
func (p *parser) elemsAhead() int {
	rest := p.lex.src[p.lex.off:]
	if i := strings.IndexByte(rest, '}'); i >= 0 {
		rest = rest[:i]
	}
	return strings.Count(rest, ",") + 1
}

// nilIfEmpty keeps an empty list nil whether or not it was preallocated.
func nilIfEmpty(els []Elem) []Elem {
	if len(els) == 0 {
		return nil
	}
	return els
}

// fastKey reports whether a key of these types may take the fast path:
// one fast type, or a concatenation of fast types of fixed size.
func fastKey(key []*Type) bool {
	for _, t := range key {
		if !fastElemType(t) || (len(key) > 1 && t.Size == 0) {
			return false
		}
	}
	return len(key) > 0
}

// fastElem tries to read one element of the key types (one word each,
// joined by a standalone `.` in a concatenation) and the `,` after it
// directly from the source. It returns false, having consumed nothing,
// when the element is not the plain form; the caller then parses it with
// the general path.
func (p *parser) fastElem(key []*Type, slab *elemSlab) (Elem, bool) {
	var e Elem
	ok := p.fastElemInto(key, slab, &e)
	return e, ok
}

// fastElemInto is fastElem reading into *e, a zero Elem (the next of a
// list, so that a large list is written once, not copied).
func (p *parser) fastElemInto(key []*Type, slab *elemSlab, e *Elem) bool {
	if len(p.buf) != 0 || len(p.lex.pending) != 0 {
		return false
	}
	l := p.lex
	src := l.src
	off, line, col := l.off, l.line, l.col
	for off < len(src) {
		switch src[off] {
		case ' ', '\t':
			col++
		case '\n':
			line, col = line+1, 1
		default:
			goto word
		}
		off++
	}
	return false
word:
	var lastWord token
	size := 0
	if len(key) > 1 {
		for _, t := range key {
			size += t.Size
		}
		e.Lo, e.Hi = slab.take(size)[:0], slab.take(size)[:0]
	}
	end := off
	for i, t := range key {
		if i > 0 {
			// a standalone `.` between spaces or tabs
			if end >= len(src) || src[end] != '.' || (end+1 < len(src) && isWordByte(src[end+1])) {
				return false
			}
			end++
			for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
				end++
			}
			col += end - off
			off = end
		}
		start, startCol := off, col
		colon := false
		for off < len(src) && isWordByte(src[off]) {
			colon = colon || src[off] == ':'
			off++
		}
		w := src[start:off]
		if w == "" || w == "." || w == "/" || strings.IndexByte(w, '*') >= 0 || (colon && (t.kind != kIPv6 || !looksIPv6(w))) {
			return false
		}
		end = off
		for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
			end++
		}
		if i == len(key)-1 && (end >= len(src) || (src[end] != ',' && src[end] != '}')) {
			return false
		}
		if a, ok := plainIPv4(w); ok && t.kind == kIPv4 {
			if len(key) == 1 {
				b := slab.take(4)
				copy(b, a[:])
				e.Lo, e.Hi = b, b
			} else {
				e.Lo, e.Hi = append(e.Lo, a[:]...), append(e.Hi, a[:]...)
			}
		} else {
			lo, hi, err := t.ParseLiteral(w, false)
			if err != nil {
				return false // the general path reports it
			}
			if len(key) == 1 {
				e.Lo, e.Hi = lo, hi
			} else {
				e.Lo, e.Hi = append(e.Lo, lo...), append(e.Hi, hi...)
			}
		}
		lastWord = token{kind: tWord, text: w, pos: Pos{File: l.file, Line: line, Col: startCol}, off: int32(start), end: int32(off)}
		col += off - start
	}
	if p.ntok += 2 * len(key); p.ntok%ctxEvery < 2*len(key) && p.ctx.Err() != nil {
		panic(errCancelled)
	}
	col += end - off
	p.last = lastWord
	if src[end] == ',' {
		p.last = token{kind: tComma, text: ",", pos: Pos{File: l.file, Line: line, Col: col}, off: int32(end), end: int32(end + 1)}
		end, col = end+1, col+1
	}
	p.lastEnd = int(p.last.end)
	l.off, l.line, l.col = end, line, col
	return true
}

// plainIPv4 decodes a dotted quad of decimal octets without leading zeros
// (the form netip.ParseAddr accepts); anything else is not plain.
func plainIPv4(w string) (a [4]byte, ok bool) {
	i := 0
	for k := 0; k < 4; k++ {
		if k > 0 {
			if i >= len(w) || w[i] != '.' {
				return a, false
			}
			i++
		}
		v, n := 0, 0
		for i < len(w) && w[i] >= '0' && w[i] <= '9' && n < 4 {
			v = v*10 + int(w[i]-'0')
			i, n = i+1, n+1
		}
		if n == 0 || n > 3 || v > 255 || (n > 1 && w[i-n] == '0') {
			return a, false
		}
		a[k] = byte(v)
	}
	return a, i == len(w)
}

// plainIPv4Elem reports whether FormatElem would print e as a bare IPv4
// address (what appendIPv4 writes without allocating).
func plainIPv4Elem(key []*Type, e *Elem, data []*Type) bool {
	return len(key) == 1 && key[0].kind == kIPv4 && data == nil && !e.CatchAll && len(e.Lo) == 4 &&
		string(e.Lo) == string(e.Hi) && !e.HasOptions()
}

// appendIPv4 is netip.Addr.String of a 4-byte address, appended to b.
func appendIPv4(b []byte, a []byte) []byte {
	a = a[:4]
	b = append(b, decOctets[a[0]]...)
	b = append(b, '.')
	b = append(b, decOctets[a[1]]...)
	b = append(b, '.')
	b = append(b, decOctets[a[2]]...)
	b = append(b, '.')
	return append(b, decOctets[a[3]]...)
}

// decOctets are the decimal forms of 0 to 255.
var decOctets = func() (t [256]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()
