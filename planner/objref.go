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
	m := s.Map
	if m.Val.CatchAll != nil {
		return nil, userspace("its map has a catch-all `*` element, which nfd's netlink library cannot program")
	}
	out, reg, specs, err := tr.load(m.Keys, have)
	if err != nil {
		return nil, err
	}
	names := parser.ObjMapNames(m)
	elems := make([]parser.Elem, len(m.Val.Elems))
	for i, e := range m.Val.Elems {
		e.Data = []byte(names[i] + "\x00")
		elems[i] = e
	}
	interval := false
	for _, e := range elems {
		interval = interval || string(e.Lo) != string(e.Hi)
	}
	n := len(tr.pending)
	set, err := tr.newSetData("__objmap%d", m.Keys, elems, interval, false, true, &setData{enc: func(e *parser.Elem) []byte { return e.Data }})
	if err != nil {
		return nil, err
	}
	// Not a data map to the kernel: the names become NFTA_SET_ELEM_OBJREF
	// (nlbatch).
	set.IsMap, set.DataType = false, nftables.SetDatatype{}
	tr.pending[n].ObjType = typ
	if len(m.Keys) == 1 {
		out = append(out, tr.htonFor(set, reg, specs[0].size)...)
	}
	return append(out, nlbatch.ObjMapRef(typ, reg, set.Name, set.ID)), nil
}
