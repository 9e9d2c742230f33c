package rules

import (
	"github.com/nfdproject/nfd/parser"
)

// markMap compiles the map of `meta|ct mark set KEY map { ... }`: the mark
// the key's element carries, as nft_lookup with a data register finds it
// (a key no element holds breaks the rule, NFT_BREAK).
func (b *builder) markMap(t *parser.Table, m *parser.DataMap) (func(*Ctx) (uint32, bool), error) {
	els, find, err := b.mapIndex(t, m)
	if err != nil {
		return nil, err
	}
	marks := make([]uint32, len(els))
	for i, e := range els {
		marks[i] = uint32(parser.Uint(e.Data))
	}
	return func(c *Ctx) (uint32, bool) {
		i, ok := find(c)
		if !ok {
			return 0, false
		}
		return marks[i], true
	}, nil
}

// mapIndex compiles the lookup of a data map: the map's elements (the
// catch-all last) and a function finding the index of the element the
// packet's key selects, false when none does (nft_lookup's NFT_BREAK).
func (b *builder) mapIndex(t *parser.Table, m *parser.DataMap) ([]parser.Elem, func(*Ctx) (int, bool), error) {
	s, err := b.setFor(t, m.Keys, &m.Val)
	if err != nil {
		return nil, nil, err
	}
	els, ca := m.Val.Elems, m.Val.CatchAll
	if m.Val.SetRef != "" {
		ps := t.Set(m.Val.SetRef)
		els, ca = ps.Elems, ps.CatchAll
	}
	all := append([]parser.Elem(nil), els...)
	if ca != nil {
		all = append(all, *ca)
	}
	keys := append([]parser.Field(nil), m.Keys...)
	if len(keys) == 1 {
		ld := loaderOf(keys[0])
		return all, func(c *Ctx) (int, bool) {
			k, ok := ld(c)
			if !ok {
				return 0, false
			}
			i, hit := s.lookup(k)
			if i, hit = s.use(i, hit, true, c); !hit {
				return 0, false
			}
			return int(i), true
		}, nil
	}
	size := keySize(keys)
	return all, func(c *Ctx) (int, bool) {
		buf, ok := concatKey(c, keys, size)
		if !ok {
			return 0, false
		}
		i, hit := s.lookupConcat(buf)
		if i, hit = s.use(i, hit, true, c); !hit {
			return 0, false
		}
		return int(i), true
	}, nil
}
