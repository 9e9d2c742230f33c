// The skeleton's hashes and the keys made from them (memo.go).

package parser

import (
	"hash/maphash"
	"math/bits"
)

// keySeeds seed the hashes: keys are per process.
var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// skelState hashes the skeleton streams.
type skelState struct {
	decl, elem [2]maphash.Hash
	sum        [2]uint64 // decl's hash, valid unless dirty
	dirty      bool
}

func (s *skelState) init() {
	for i := range s.decl {
		s.decl[i].SetSeed(keySeeds[i])
		s.elem[i].SetSeed(keySeeds[i])
	}
	s.dirty = true
}

func (s *skelState) writeDecl(b string) {
	if b == "" {
		return
	}
	s.decl[0].WriteString(b)
	s.decl[1].WriteString(b)
	s.dirty = true
}

// declSum is the declarations stream's hash so far: a rule's prefix.
func (s *skelState) declSum() [2]uint64 {
	if s.dirty {
		s.sum = [2]uint64{s.decl[0].Sum64(), s.decl[1].Sum64()}
		s.dirty = false
	}
	return s.sum
}

// skelTo adds the current file's bytes up to off to the declarations.
func (p *parser) skelTo(off int) {
	if off > p.skelFrom {
		p.skel.writeDecl(p.lex.src[p.skelFrom:off])
		p.skelFrom = off
	}
}

// skipTo leaves the current file's bytes up to off out of the skeleton.
func (p *parser) skipTo(off int) {
	if off > p.skelFrom {
		p.skelFrom = off
	}
}

// elemsFrom starts an element list at off (just after its `{`).
func (p *parser) elemsFrom(off int) int {
	p.skelTo(off)
	return off
}

// elemsTo ends an element list started at from: its bytes go to the
// elements stream, a marker to the declarations.
func (p *parser) elemsTo(from int) {
	to := p.lastEnd
	if from < 0 || to <= from || from < p.skelFrom {
		return
	}
	b := p.lex.src[from:to]
	for i := range p.skel.elem {
		p.skel.elem[i].WriteString(b)
		p.skel.elem[i].WriteByte(0)
	}
	p.skel.writeDecl("\x00elements\x00")
	p.skelFrom = to
}

func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// ruleHash is a rule's hash from its prefix and text.
func ruleHash(prefix [2]uint64, text string) [2]uint64 {
	return [2]uint64{
		mix64(maphash.String(keySeeds[0], text) ^ mix64(prefix[0])),
		mix64(maphash.String(keySeeds[1], text) ^ mix64(prefix[1]+0x9e3779b97f4a7c15)),
	}
}

// skelKey is the whole skeleton's hash, once the file is read.
func (p *parser) skelKey() [2]uint64 {
	decl := p.skel.declSum()
	return [2]uint64{
		mix64(decl[0] ^ bits.RotateLeft64(p.skel.elem[0].Sum64(), 17)),
		mix64(decl[1] ^ bits.RotateLeft64(p.skel.elem[1].Sum64(), 29)),
	}
}

// ruleKey is the key of rule r of chain c (finish).
func ruleKey(r *Rule, c *Chain, skel [2]uint64) RuleKey {
	if c.Bound || r.src == nil {
		return RuleKey{}
	}
	return RuleKey{mix64(r.src.hash[0] ^ skel[0]), mix64(r.src.hash[1]^skel[1]) | 1}
}

// setKeys keeps what the next ParseWith needs.
func (p *parser) setKeys() {
	p.rs.memo = &parseMemo{seq: p.seq, decl: p.skel.declSum()}
}

// defsHash hashes the positions of the tokens of the defines a rule's
// text expands: they are in its statements.
func (p *parser) defsHash(text string) uint64 {
	var h maphash.Hash
	h.SetSeed(keySeeds[0])
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '"':
			for i++; i < len(text) && text[i] != '"'; i++ {
			}
		case '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case '$':
			j := i + 1
			for j < len(text) && isNameByte(text[j]) {
				j++
			}
			name := text[i+1 : j]
			h.WriteString(name)
			h.WriteByte(0)
			if d := p.defines[name]; d != nil {
				for _, t := range d.toks {
					h.WriteString(t.pos.File)
					var b [16]byte
					putUint64(b[:8], uint64(t.pos.Line))
					putUint64(b[8:], uint64(t.pos.Col))
					h.Write(b[:])
				}
			}
			i = j - 1
		}
	}
	return h.Sum64() | 1
}

func putUint64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}
