package planner

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
)

// objRef assigns a stateful object the kernel keeps (ct helper, ct
// timeout, ct expectation, synproxy) as nft's netlink_gen_objref_stmt
// does: by name (nft_objref), or through an anonymous object map from
// the key (nft_objref_map), its elements naming the objects.
func (tr *translator) objRef(s *parser.ObjRef, typ uint32, have *depState) ([]expr.Any, error) {
	if s.Map == nil {
		return []expr.Any{&expr.Objref{Type: int(typ), Name: s.Name}}, nil
	}
	if tr.rec != nil {
		// The map's ID is in the reference's name: made afresh.
		tr.rec.fresh = true
	}
	m := s.Map
	src, name, anon := m.Val.Elems, "__objmap%d", true
	catchAll := m.Val.CatchAll != nil
	var named *parser.Set
	if m.Val.SetRef != "" {
		// A named object map (`type KEY : synproxy`): one kernel set
		// for every rule reading it.
		named = tr.t.Set(m.Val.SetRef)
		src, name, anon = named.Elems, named.Name, false
		catchAll = named.CatchAll != nil
	}
	if catchAll {
		return nil, userspace("its map has a catch-all `*` element, which nfd's netlink library cannot program")
	}
	out, reg, specs, err := tr.load(m.Keys, have)
	if err != nil {
		return nil, err
	}
	set := tr.sets[name]
	if named == nil || set == nil {
		interval := named != nil && named.Flags&parser.SetInterval != 0
		if set, err = tr.objMapSet(name, m.Keys, src, anon, interval, typ); err != nil {
			return nil, err
		}
		if named != nil {
			tr.sets[name] = set
		}
	}
	if len(m.Keys) == 1 {
		out = append(out, tr.htonFor(set, reg, specs[0].size)...)
	}
	return append(out, nlbatch.ObjMapRef(typ, reg, set.Name, set.ID)), nil
}

// objMapSet adds the kernel set of an object map: its elements carry the
// object names, which become NFTA_SET_ELEM_OBJREF (nlbatch).
func (tr *translator) objMapSet(name string, keys []parser.Field, src []parser.Elem, anon, interval bool, typ uint32) (*nftables.Set, error) {
	names := parser.ObjMapNames(&parser.DataMap{Val: parser.Value{Elems: src}})
	elems := make([]parser.Elem, len(src))
	for i, e := range src {
		e.Data = []byte(names[i] + "\x00")
		elems[i] = e
		interval = interval || string(e.Lo) != string(e.Hi)
	}
	n := len(tr.pending)
	set, err := tr.newSetData(name, keys, elems, interval, false, anon, &setData{enc: func(e *parser.Elem) []byte { return e.Data }})
	if err != nil {
		return nil, err
	}
	// Not a data map to the kernel.
	set.IsMap, set.DataType = false, nftables.SetDatatype{}
	tr.pending[n].ObjType = typ
	return set, nil
}
