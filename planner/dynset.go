package planner

import (
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/parser"
)

// Dynamic sets live in the kernel only: a rule that adds to, updates or
// deletes from a set runs natively (nft_dynset), and so must every rule
// that reads that set (kernelOnly), or nfd's copy of it would go stale.

const nftDynsetOpDelete = 2 // NFT_DYNSET_OP_DELETE

// dynsetSize is the size nft gives a set rules update when it declares
// none (evaluate.c: NFT_SET_MAX_ANON... 65535 for dynamic sets).
const dynsetSize = 65535

func (tr *translator) setUpdate(s *parser.SetUpdate, have *depState) ([]expr.Any, error) {
	out, reg, _, err := tr.load(s.Keys, have)
	if err != nil {
		return nil, err
	}
	var set *nftables.Set
	switch {
	case s.Meter:
		set, err = tr.meterSet(s)
	case s.DataType != nil:
		set, err = tr.setForData(s.Keys, &parser.Value{SetRef: s.Set}, false, dataOf([]*parser.Type{s.DataType}, false))
	default:
		set, err = tr.setFor(s.Keys, &parser.Value{SetRef: s.Set}, false)
	}
	if err != nil {
		return nil, err
	}
	d := &expr.Dynset{SrcRegKey: reg, SetName: set.Name, SetID: set.ID, Timeout: time.Duration(s.Timeout) * time.Second}
	if s.DataType != nil {
		// the value in NFT_REG_2, as nft's netlink_gen_map_stmt puts it
		if len(s.Keys) > 1 {
			return nil, userspace("a map updated from a rule with a concatenated key")
		}
		e := parser.Elem{Data: s.Data}
		out = append(out, &expr.Immediate{Register: unix.NFT_REG_2, Data: dataOf([]*parser.Type{s.DataType}, false).enc(&e)})
		d.SrcRegData = unix.NFT_REG_2
	}
	op := s.Op
	if s.Meter && s.Timeout == 0 {
		// nft adds to a meter without a timeout, and updates one with a
		// timeout (refreshing it), as nft 1.0.6 emits them.
		op = "add"
	}
	switch op {
	case "add":
		d.Operation = unix.NFT_DYNSET_OP_ADD
	case "update":
		d.Operation = unix.NFT_DYNSET_OP_UPDATE
	case "delete":
		d.Operation = nftDynsetOpDelete
	}
	for _, st := range s.Stmts {
		e, err := tr.stmt(st, have)
		if err != nil {
			return nil, err
		}
		d.Exprs = append(d.Exprs, e...)
	}
	return append(out, d), nil
}

// updatedSets names the sets of a table that rules add to, update or
// delete from.
func updatedSets(t *parser.Table) map[string]bool {
	m := map[string]bool{}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			for _, s := range r.Stmts {
				if u, ok := s.(*parser.SetUpdate); ok {
					m[u.Set] = true
				}
			}
		}
	}
	return m
}

// dynamicSet marks a native set that rules update as nft does: flags
// dynamic (NFT_SET_EVAL) and a size, 65535 unless declared.
func dynamicSet(ps *parser.Set, s *nftables.Set, updated bool) {
	if ps.Size != 0 {
		s.Size = ps.Size
	}
	if updated || ps.Flags&parser.SetDynamic != 0 {
		s.Dynamic = true
		if s.Size == 0 {
			s.Size = dynsetSize
		}
	}
}

// readsUpdatedSet returns a set the rule looks up that rules update (upd:
// updatedSets of its table).
func readsUpdatedSet(upd map[string]bool, r *parser.Rule) string {
	if len(upd) == 0 {
		return ""
	}
	for _, s := range r.Stmts {
		var ref string
		switch s := s.(type) {
		case *parser.Match:
			ref = s.Val.SetRef
		case *parser.VMap:
			ref = s.Val.SetRef
		}
		if ref != "" && upd[ref] {
			return ref
		}
	}
	return ""
}

// meterSet is the set a meter updates. nft makes it an anonymous set that
// lists as the meter; google/nftables v0.3.0 refuses non-constant
// anonymous sets, so nfd declares it as a named set of the meter's name
// (which the parser keeps apart from the table's sets): the same lookups
// and updates, listed as a set and an `update @NAME` rule.
func (tr *translator) meterSet(s *parser.SetUpdate) (*nftables.Set, error) {
	if set := tr.lookupSet(s.Set); set != nil {
		return set, nil
	}
	ps := &parser.Set{Name: s.Set, Flags: parser.SetDynamic, Size: s.Size}
	for _, k := range s.Keys {
		ps.Key = append(ps.Key, k.Type())
	}
	if s.Timeout != 0 {
		ps.Flags |= parser.SetTimeout
	}
	n := len(tr.pending)
	set, err := tr.newSet(s.Set, s.Keys, nil, false, false, false)
	if err != nil {
		return nil, err
	}
	withSetState(ps, set, tr.pending[n].Elems)
	dynamicSet(ps, set, true)
	tr.sets[s.Set] = set
	return set, nil
}
