package rules

import (
	"bytes"
	"maps"

	"github.com/nfdproject/nfd/parser"
)

// A reload that changes a few elements of a large set builds the new
// set's hash from the running engine's: a copy of the old hash (maps.Clone
// copies its groups, ~30x faster than inserting 10^6 keys one by one)
// with the changed elements' old keys removed and their new keys added.
// The result is exactly what newSet builds (every key maps to the index
// of its element), which the conditions below guarantee; anything else
// is built from scratch.

// reuseMaxChanged is the share of elements (1/N) above which the set is
// rebuilt instead of patched.
const reuseMaxChanged = 4

// reusedSet returns the compiled set for ps in table t built from the
// previous engine's set of the same name, or nil when newSet must build
// it: the set must be a single-field set of exact values (no ranges, no
// host names) on both sides, of as many elements, with no key twice, and
// at most 1/reuseMaxChanged of the elements changed.
func reusedSet(prev *Engine, t *parser.Table, ps *parser.Set) *set {
	if prev == nil || prev.Ruleset == nil || len(ps.Key) != 1 || ps.Key[0] == parser.TypeHostname || ps.NumElems() < 1024 {
		return nil
	}
	var old *parser.Set
	for _, ot := range prev.Ruleset.Tables {
		if ot.Family == t.Family && ot.Name == t.Name {
			old = ot.Set(ps.Name)
			break
		}
	}
	if old == nil || len(old.Key) != 1 || old.Key[0] != ps.Key[0] || old.NumElems() != ps.NumElems() {
		return nil
	}
	os := prev.sets[old]
	if os == nil || len(os.ivals) != 0 {
		return nil
	}
	// A set the parse packed has a keyTable over its packed keys, one
	// from a list a map; reuse keeps the kind.
	packed := ps.Packed != nil && ps.Packed.Fixed() > 0
	switch {
	case packed && os.ktab != nil && os.ktab.n == old.NumElems() && os.ktab.keys.Fixed() == ps.Packed.Fixed():
	case !packed && os.exact != nil && len(os.exact) == old.NumElems():
	default:
		return nil
	}
	var changed []int
	limit := ps.NumElems() / reuseMaxChanged
	for i := range ps.NumElems() {
		nlo, nhi := ps.ElemKey(i)
		olo, ohi := old.ElemKey(i) // the running ruleset's are packed
		if bytes.Equal(olo, nlo) && bytes.Equal(ohi, nhi) {
			continue
		}
		if keyOf(nlo) != keyOf(nhi) || len(changed) == limit {
			return nil
		}
		changed = append(changed, i)
	}
	if packed {
		kt := os.ktab.clone() // over the old keys while they go
		for _, i := range changed {
			kt.remove(kt.keyAt(int32(i)))
		}
		kt.keys = ps.Packed
		for _, i := range changed {
			if !kt.insert(kt.keyAt(int32(i)), int32(i)) {
				return nil
			}
		}
		return &set{name: ps.Name, types: ps.Key, size: ps.Key[0].Size, ktab: kt}
	}
	m := maps.Clone(os.exact)
	for _, i := range changed {
		olo, _ := old.ElemKey(i)
		delete(m, keyOf(olo))
	}
	for _, i := range changed {
		nlo, _ := ps.ElemKey(i)
		k := keyOf(nlo)
		if _, dup := m[k]; dup {
			return nil
		}
		m[k] = int32(i)
	}
	s := &set{name: ps.Name, types: ps.Key, exact: m}
	for _, t := range ps.Key {
		s.size += t.Size
	}
	return s
}
