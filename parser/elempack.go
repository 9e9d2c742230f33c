package parser

import "encoding/binary"

// A running daemon keeps its ruleset for listings (`nfd rules`), for the
// next reload's comparison and for the DNS sets' declarations; a named
// set's elements are kept there in one flat, pointer-free form: read so
// by the parse for a set of plain values (elempackparse.go), packed once
// the ruleset is compiled and planned for the others (Ruleset.PackSets).
// A []Elem costs 184 bytes an element plus its values, an ElemPack the
// values' bytes (4 for an IPv4 address) and, unless all elements are
// plain keys of one size, 4 bytes of offset and a byte of flags. The
// engine's lookup table (rules' keyTable) and the plan's kernel elements
// (planner's KernelElems) of a plain set use the same bytes. The garbage
// collector does not scan them.

// ElemPack is a list of set elements in one arena. What it drops of an
// Elem are the source positions (OptPos, Verdict.Pos, Counter.Pos): they
// only serve errors, which come before a ruleset runs.
type ElemPack struct {
	n int
	// fixed > 0: every element is one key of fixed bytes (Lo == Hi, no
	// data, no options) and buf holds the keys back to back.
	fixed int
	buf   []byte
	// off, in the general form: record i is buf[off[i]:off[i+1]].
	off []uint32
}

// Record flags (general form).
const (
	packHi      = 1 << iota // Hi differs from Lo (else Hi is Lo)
	packVerdict             // a verdict: kind, target
	packData                // Data
	packDataHi              // DataHi
	packCounter             // Counter: packets, bytes
	packTimeout             // Timeout
	packExpires             // Expires
	packComment             // Comment
)

// PackElems packs els; ok is false when one cannot be packed (a verdict
// naming an anonymous chain, `jump { ... }`, holds the chain itself, or a
// catch-all element).
func PackElems(els []Elem) (p *ElemPack, ok bool) {
	p = &ElemPack{n: len(els)}
	// The fixed form in one pass while the elements allow it.
	if len(els) > 0 && plainElem(&els[0]) && len(els[0].Lo) > 0 {
		p.fixed = len(els[0].Lo)
		p.buf = make([]byte, 0, p.fixed*len(els))
		for i := range els {
			e := &els[i]
			if len(e.Lo) != p.fixed || !plainElem(e) || e.CatchAll {
				p.fixed, p.buf = 0, nil
				break
			}
			p.buf = append(p.buf, e.Lo...)
		}
		if p.fixed > 0 {
			return p, true
		}
	}
	for i := range els {
		if e := &els[i]; e.CatchAll || (e.Verdict != nil && e.Verdict.Bound != nil) {
			return nil, false
		}
	}
	size := 0
	for i := range els {
		e := &els[i]
		size += 1 + 2*binary.MaxVarintLen16 + len(e.Lo) + len(e.Hi) + len(e.Data) + len(e.DataHi) + len(e.Comment)
	}
	p.buf = make([]byte, 0, size)
	p.off = make([]uint32, 0, len(els)+1)
	for i := range els {
		p.off = append(p.off, uint32(len(p.buf)))
		p.buf = appendElemRecord(p.buf, &els[i])
	}
	p.off = append(p.off, uint32(len(p.buf)))
	return p, true
}

// plainElem: a single key, no data, no options.
func plainElem(e *Elem) bool {
	return e.Verdict == nil && e.Data == nil && e.DataHi == nil && e.Counter == nil && e.Timeout == 0 && e.Expires == 0 &&
		e.Comment == "" && string(e.Lo) == string(e.Hi)
}

func appendElemRecord(b []byte, e *Elem) []byte {
	var f byte
	if string(e.Lo) != string(e.Hi) {
		f |= packHi
	}
	if e.Verdict != nil {
		f |= packVerdict
	}
	if e.Data != nil {
		f |= packData
	}
	if e.DataHi != nil {
		f |= packDataHi
	}
	if e.Counter != nil {
		f |= packCounter
	}
	if e.Timeout != 0 {
		f |= packTimeout
	}
	if e.Expires != 0 {
		f |= packExpires
	}
	if e.Comment != "" {
		f |= packComment
	}
	b = append(b, f)
	put := func(v []byte) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	put(e.Lo)
	if f&packHi != 0 {
		put(e.Hi)
	}
	if f&packVerdict != 0 {
		b = append(b, byte(e.Verdict.Kind))
		put([]byte(e.Verdict.Target))
	}
	if f&packData != 0 {
		put(e.Data)
	}
	if f&packDataHi != 0 {
		put(e.DataHi)
	}
	if f&packCounter != 0 {
		b = binary.AppendUvarint(b, e.Counter.Packets)
		b = binary.AppendUvarint(b, e.Counter.Bytes)
	}
	if f&packTimeout != 0 {
		b = binary.AppendUvarint(b, e.Timeout)
	}
	if f&packExpires != 0 {
		b = binary.AppendUvarint(b, e.Expires)
	}
	if f&packComment != 0 {
		put([]byte(e.Comment))
	}
	return b
}

// Len is the number of elements.
func (p *ElemPack) Len() int { return p.n }

// Fixed is the size of every key when all elements are single keys of
// one size and nothing else (0 otherwise).
func (p *ElemPack) Fixed() int { return p.fixed }

// FixedKeys is the keys back to back when Fixed is not 0 (read only: the
// planner's kernel elements of the set may share them).
func (p *ElemPack) FixedKeys() []byte {
	if p.fixed == 0 {
		return nil
	}
	return p.buf[:len(p.buf):len(p.buf)]
}

// Bytes is the memory the pack holds.
func (p *ElemPack) Bytes() int { return cap(p.buf) + 4*cap(p.off) }

// Key returns element i's range (lo == hi for a single value), sharing
// the arena: read only.
func (p *ElemPack) Key(i int) (lo, hi []byte) {
	if p.fixed > 0 {
		k := p.buf[i*p.fixed : (i+1)*p.fixed : (i+1)*p.fixed]
		return k, k
	}
	r := p.buf[p.off[i]:p.off[i+1]:p.off[i+1]]
	f := r[0]
	lo, r = takeBytes(r[1:])
	hi = lo
	if f&packHi != 0 {
		hi, _ = takeBytes(r)
	}
	return lo, hi
}

// Elem decodes element i into e. Its byte slices share the arena (read
// only); a verdict and a counter are new.
func (p *ElemPack) Elem(i int, e *Elem) {
	*e = Elem{}
	if p.fixed > 0 {
		e.Lo, e.Hi = p.Key(i)
		return
	}
	r := p.buf[p.off[i]:p.off[i+1]:p.off[i+1]]
	f := r[0]
	r = r[1:]
	e.Lo, r = takeBytes(r)
	e.Hi = e.Lo
	if f&packHi != 0 {
		e.Hi, r = takeBytes(r)
	}
	if f&packVerdict != 0 {
		k := VerdictKind(r[0])
		var t []byte
		t, r = takeBytes(r[1:])
		e.Verdict = &Verdict{Kind: k, Target: string(t)}
	}
	if f&packData != 0 {
		e.Data, r = takeBytes(r)
	}
	if f&packDataHi != 0 {
		e.DataHi, r = takeBytes(r)
	}
	if f&packCounter != 0 {
		c := &Counter{}
		c.Packets, r = takeUvarint(r)
		c.Bytes, r = takeUvarint(r)
		e.Counter = c
	}
	if f&packTimeout != 0 {
		e.Timeout, r = takeUvarint(r)
	}
	if f&packExpires != 0 {
		e.Expires, r = takeUvarint(r)
	}
	if f&packComment != 0 {
		var c []byte
		c, _ = takeBytes(r)
		e.Comment = string(c)
	}
}

// Unpack returns the elements as a list.
func (p *ElemPack) Unpack() []Elem {
	if p.n == 0 {
		return nil
	}
	out := make([]Elem, p.n)
	for i := range out {
		p.Elem(i, &out[i])
	}
	return out
}

func takeBytes(r []byte) (v, rest []byte) {
	n, k := binary.Uvarint(r)
	r = r[k:]
	return r[:n:n], r[n:]
}

func takeUvarint(r []byte) (uint64, []byte) {
	v, k := binary.Uvarint(r)
	return v, r[k:]
}

// NumElems is the number of elements of a set, packed or not (the
// catch-all element apart).
func (s *Set) NumElems() int {
	if s.Packed != nil {
		return s.Packed.Len()
	}
	return len(s.Elems)
}

// ElemAt returns element i, packed or not; a packed one is decoded into
// scratch.
func (s *Set) ElemAt(i int, scratch *Elem) *Elem {
	if s.Packed != nil {
		s.Packed.Elem(i, scratch)
		return scratch
	}
	return &s.Elems[i]
}

// ElemKey returns element i's range, packed or not (read only).
func (s *Set) ElemKey(i int) (lo, hi []byte) {
	if s.Packed != nil {
		return s.Packed.Key(i)
	}
	return s.Elems[i].Lo, s.Elems[i].Hi
}

// PackSets moves the elements of rs's named sets into their packed form
// (Set.Packed, Set.Elems nil), for a ruleset that is compiled and kept
// only to be listed and compared: the passes that read Set.Elems (the
// checks, the engine's compile, the planner) must have run. A set whose
// elements cannot be packed keeps its list.
func (rs *Ruleset) PackSets() {
	for _, t := range rs.Tables {
		for _, s := range t.Sets {
			if s.Packed != nil || len(s.Elems) == 0 {
				continue
			}
			if p, ok := PackElems(s.Elems); ok {
				s.Packed, s.Elems = p, nil
			}
		}
	}
}
