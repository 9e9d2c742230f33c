package rules

import (
	"fmt"

	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// setFor returns the compiled set a value refers to, or compiles an
// anonymous one.
func (b *builder) setFor(t *parser.Table, keys []parser.Field, v *parser.Value) (*set, error) {
	if v.SetRef != "" {
		ps := t.Set(v.SetRef)
		if ps == nil {
			return nil, fmt.Errorf("undefined set @%s", v.SetRef)
		}
		return b.sets[ps], nil
	}
	types := make([]*parser.Type, len(keys))
	for i, k := range keys {
		types[i] = k.Type()
	}
	s := newSet("", types, v.Elems)
	if v.CatchAll != nil {
		s.withCatchAll(len(v.Elems))
	}
	return s, nil
}

func (b *builder) compileMatch(t *parser.Table, m *parser.Match) (func(*Ctx) bool, error) {
	neg := m.Op == parser.OpNe
	isSet := m.Val.Anon || m.Val.SetRef != ""
	if m.Val.Anon && len(m.Val.Elems) == 1 && len(m.Keys) == 1 && m.Keys[0].Type().Bitmask &&
		m.Op == parser.OpImplicit && m.Mask == nil && string(m.Val.Elems[0].Lo) == string(m.Val.Elems[0].Hi) {
		// nft makes an anonymous set of one value the value itself, so
		// `tcp flags { syn }` is `tcp flags syn`: any of the bits.
		isSet = false
	}
	if len(m.Keys) > 1 {
		return b.compileConcatMatch(t, m, neg, isSet)
	}
	f := m.Keys[0]
	if f.Userspace() {
		if isSet {
			s, err := b.setFor(t, m.Keys, &m.Val)
			if err != nil {
				return nil, err
			}
			return func(c *Ctx) bool {
				n := c.l7Name(f)
				if n == nil {
					return false
				}
				ei, hit := s.lookupHost(n, c.hbuf[:])
				_, hit = s.use(ei, hit, !neg, c)
				return hit != neg
			}, nil
		}
		pat := string(m.Val.Elems[0].Lo)
		return func(c *Ctx) bool {
			n := c.l7Name(f)
			return n != nil && packet.HostMatch(pat, n) != neg
		}, nil
	}
	ld := loaderOf(f)
	if ld == nil {
		return nil, fmt.Errorf("no loader for %s", f)
	}
	hasMask := m.Mask != nil
	mask, xor := keyOf(m.Mask), keyOf(m.Xor)
	if isSet {
		s, err := b.setFor(t, m.Keys, &m.Val)
		if err != nil {
			return nil, err
		}
		return func(c *Ctx) bool {
			k, ok := ld(c)
			if !ok {
				return false
			}
			if hasMask {
				k = k.and(mask).xor(xor)
			}
			ei, hit := s.lookup(k)
			_, hit = s.use(ei, hit, !neg, c)
			return hit != neg
		}, nil
	}
	lo, hi := keyOf(m.Val.Elems[0].Lo), keyOf(m.Val.Elems[0].Hi)
	if lo != hi {
		return func(c *Ctx) bool {
			k, ok := ld(c)
			if !ok {
				return false
			}
			if hasMask {
				k = k.and(mask).xor(xor)
			}
			in := !k.less(lo) && !hi.less(k)
			return in != neg
		}, nil
	}
	v := lo
	if m.Op == parser.OpNeg {
		// `! flags`: none of them set (nft: (f & v) == 0).
		return func(c *Ctx) bool {
			k, ok := ld(c)
			if !ok {
				return false
			}
			if hasMask {
				k = k.and(mask).xor(xor)
			}
			return k.and(v).isZero()
		}, nil
	}
	if f.Type().Bitmask && m.Op == parser.OpImplicit && !hasMask {
		// Flags without an operator or mask: any of the bits set, as nft
		// generates `(f & v) != 0`. With a mask the parser made it `==`.
		return func(c *Ctx) bool {
			k, ok := ld(c)
			return ok && !k.and(v).isZero()
		}, nil
	}
	if !hasMask {
		// The common case, specialised: one field compared with one value.
		switch m.Op {
		case parser.OpImplicit, parser.OpEq:
			return func(c *Ctx) bool { k, ok := ld(c); return ok && k == v }, nil
		case parser.OpNe:
			return func(c *Ctx) bool { k, ok := ld(c); return ok && k != v }, nil
		}
	}
	op := m.Op
	return func(c *Ctx) bool {
		k, ok := ld(c)
		if !ok {
			return false
		}
		if hasMask {
			k = k.and(mask).xor(xor)
		}
		switch op {
		case parser.OpNe:
			return k != v
		case parser.OpLt:
			return k.less(v)
		case parser.OpGt:
			return v.less(k)
		case parser.OpLe:
			return !v.less(k)
		case parser.OpGe:
			return !k.less(v)
		}
		return k == v
	}, nil
}

// concatKey loads the fields of a concatenation into c.scratch.
func concatKey(c *Ctx, keys []parser.Field, size int) ([]byte, bool) {
	if size > len(c.scratch) {
		return nil, false
	}
	buf := c.scratch[:size]
	off := 0
	for _, k := range keys {
		n := k.Type().Size
		if !c.loadBytes(k, buf[off:off+n]) {
			return nil, false
		}
		off += n
	}
	return buf, true
}

func keySize(keys []parser.Field) int {
	n := 0
	for _, k := range keys {
		n += k.Type().Size
	}
	return n
}

func (b *builder) compileConcatMatch(t *parser.Table, m *parser.Match, neg, isSet bool) (func(*Ctx) bool, error) {
	keys := append([]parser.Field(nil), m.Keys...)
	size := keySize(keys)
	if isSet {
		s, err := b.setFor(t, keys, &m.Val)
		if err != nil {
			return nil, err
		}
		return func(c *Ctx) bool {
			buf, ok := concatKey(c, keys, size)
			if !ok {
				return false
			}
			ei, hit := s.lookupConcat(buf)
			_, hit = s.use(ei, hit, !neg, c)
			return hit != neg
		}, nil
	}
	e := m.Val.Elems[0]
	types := make([]*parser.Type, len(keys))
	for i, k := range keys {
		types[i] = k.Type()
	}
	return func(c *Ctx) bool {
		buf, ok := concatKey(c, keys, size)
		if !ok {
			return false
		}
		return inFields(types, e.Lo, e.Hi, buf) != neg
	}, nil
}

func (b *builder) compileVMap(t *parser.Table, vm *parser.VMap) (op, error) {
	s, err := b.setFor(t, vm.Keys, &vm.Val)
	if err != nil {
		return op{}, err
	}
	if vm.Val.SetRef == "" {
		for _, el := range vm.Val.Elems {
			s.verdicts = append(s.verdicts, b.verdictOf(t, el.Verdict))
		}
		if vm.Val.CatchAll != nil {
			s.verdicts = append(s.verdicts, b.verdictOf(t, vm.Val.CatchAll.Verdict))
		}
	}
	keys := append([]parser.Field(nil), vm.Keys...)
	if len(keys) == 1 {
		ld := loaderOf(keys[0])
		return op{exec: func(c *Ctx) *verdict {
			k, ok := ld(c)
			if !ok {
				return breakVerdict
			}
			i, hit := s.lookup(k)
			i, hit = s.use(i, hit, true, c)
			if !hit {
				return breakVerdict
			}
			return s.verdicts[i]
		}}, nil
	}
	size := keySize(keys)
	return op{exec: func(c *Ctx) *verdict {
		buf, ok := concatKey(c, keys, size)
		if !ok {
			return breakVerdict
		}
		i, hit := s.lookupConcat(buf)
		i, hit = s.use(i, hit, true, c)
		if !hit {
			return breakVerdict
		}
		return s.verdicts[i]
	}}, nil
}
