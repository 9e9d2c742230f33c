package parser

import stdctx "context"

// A large named set of plain values (`set block { type ipv4_addr;
// elements = { 10.0.0.1, ... } }`) is read straight into its packed form
// when the parse's context asks for it (WithPackedSets: the daemon's
// loads): no []Elem of 184 bytes an element is made, only the values'
// bytes. The passes after the parse (checks, the engine's compile, the
// planner) read such a set through NumElems, ElemKey and ElemAt. A list
// with anything else than plain values of the type's size (a range, a
// prefix, an option, a catch-all) is read as a []Elem as before.

// packedSets in a parse's context turns packing at parse time on.
type packedSets struct{}

// WithPackedSets returns ctx asking the parse for packed named sets.
func WithPackedSets(ctx stdctx.Context) stdctx.Context {
	return stdctx.WithValue(ctx, packedSets{}, true)
}

// packAtParse reports whether a named set's element list is read packed.
func (p *parser) packAtParse(s *Set, isMap bool) bool {
	return !isMap && len(s.Key) == 1 && fastElemType(s.Key[0]) && s.Key[0].Size > 0 &&
		p.ctx.Value(packedSets{}) != nil && p.ctx.Value(noFastElems{}) == nil
}

// parsePackedElems reads an element list up to and including its `}`
// into a pack of plain keys of the key's size; at the first element that
// is not one, it goes on as parseElemList and returns a list instead.
func (p *parser) parsePackedElems(key []*Type) (*ElemPack, []Elem, bool) {
	saved := p.commaIsElemSep
	p.commaIsElemSep = true
	size := key[0].Size
	buf := make([]byte, 0, size*p.elemsAhead())
	var scratch [64]byte
	for {
		var e Elem
		slab := elemSlab{buf: scratch[:]}
		fast := p.fastElemInto(key, &slab, &e)
		if fast && len(e.Lo) == size && string(e.Lo) == string(e.Hi) {
			buf = append(buf, e.Lo...)
			continue
		}
		if !fast {
			p.skipBlankLines()
			if p.accept(tRBrace) {
				p.commaIsElemSep = saved
				if len(buf) == 0 {
					return nil, nil, true
				}
				return &ElemPack{n: len(buf) / size, fixed: size, buf: buf}, nil, true
			}
		}
		// Not a plain value: the list goes on as a []Elem.
		p.commaIsElemSep = saved
		pk := &ElemPack{n: len(buf) / size, fixed: size, buf: buf}
		out := make([]Elem, pk.n, pk.n+1)
		for i := range out {
			out[i].Lo, out[i].Hi = pk.Key(i)
		}
		if fast { // its bytes may lie in scratch
			e.Lo, e.Hi = append([]byte(nil), e.Lo...), append([]byte(nil), e.Hi...)
			out = append(out, e)
		}
		rest, ok := p.parseElemListFrom(key, nil, out)
		return nil, rest, ok
	}
}

// unpack moves a packed set's elements into Elems (for what changes the
// list: another declaration, `add element`).
func (s *Set) unpack() {
	if s.Packed != nil {
		s.Elems = append(s.Packed.Unpack(), s.Elems...)
		s.Packed = nil
	}
}
