package rules

import (
	"github.com/nfdproject/nfd/parser"
)

// markMap compiles the map of `meta|ct mark set KEY map { ... }`: the mark
// the key's element carries, as nft_lookup with a data register finds it
// (a key no element holds breaks the rule, NFT_BREAK).
func (b *builder) markMap(t *parser.Table, m *parser.DataMap) (func(*Ctx) (uint32, bool), error) {
	s, err := b.setFor(t, m.Keys, &m.Val)
	if err != nil {
		return nil, err
	}
	els, ca := m.Val.Elems, m.Val.CatchAll
	if m.Val.SetRef != "" {
		ps := t.Set(m.Val.SetRef)
		els, ca = ps.Elems, ps.CatchAll
	}
	marks := make([]uint32, 0, len(els)+1)
	for _, e := range els {
		marks = append(marks, uint32(parser.Uint(e.Data)))
	}
	if ca != nil {
		marks = append(marks, uint32(parser.Uint(ca.Data)))
	}
	keys := append([]parser.Field(nil), m.Keys...)
	if len(keys) == 1 {
		ld := loaderOf(keys[0])
		return func(c *Ctx) (uint32, bool) {
			k, ok := ld(c)
			if !ok {
				return 0, false
			}
			i, hit := s.lookup(k)
			if i, hit = s.use(i, hit, true, c); !hit {
				return 0, false
			}
			return marks[i], true
		}, nil
	}
	size := keySize(keys)
	return func(c *Ctx) (uint32, bool) {
		buf, ok := concatKey(c, keys, size)
		if !ok {
			return 0, false
		}
		i, hit := s.lookupConcat(buf)
		if i, hit = s.use(i, hit, true, c); !hit {
			return 0, false
		}
		return marks[i], true
	}, nil
}
