package parser

import (
	"bytes"
	"sort"
)

// checkMapElems refuses what the kernel and nft refuse in a map's
// elements: one key with two different values (nft_add_set_elem finds the
// key and the data differ: EEXIST, "File exists"), and intervals that
// overlap without being the same interval (nft's "conflicting intervals
// specified"; maps are not auto-merged). The same element twice loads.
func checkMapElems(types []*Type, els []Elem, pos Pos, p *parser) bool {
	idx := make([]int, len(els))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if c := bytes.Compare(els[idx[a]].Lo, els[idx[b]].Lo); c != 0 {
			return c < 0
		}
		return bytes.Compare(els[idx[a]].Hi, els[idx[b]].Hi) < 0
	})
	for i := 1; i < len(idx); i++ {
		prev, cur := &els[idx[i-1]], &els[idx[i]]
		same := bytes.Equal(prev.Lo, cur.Lo) && bytes.Equal(prev.Hi, cur.Hi)
		switch {
		case same && !sameMapValue(prev, cur):
			p.errorf(pos, "map element %s has two values (%s and %s): the kernel refuses it (File exists)",
				FormatElem(types, cur, nil), mapValue(prev), mapValue(cur))
			return false
		case !same && len(types) == 1 && bytes.Compare(cur.Lo, prev.Hi) <= 0:
			p.errorf(pos, "map elements %s and %s overlap (conflicting intervals)", FormatElem(types, prev, nil), FormatElem(types, cur, nil))
			return false
		}
	}
	return true
}

func sameMapValue(a, b *Elem) bool {
	if (a.Verdict == nil) != (b.Verdict == nil) {
		return false
	}
	if a.Verdict != nil {
		return a.Verdict.Kind == b.Verdict.Kind && a.Verdict.Target == b.Verdict.Target
	}
	return bytes.Equal(a.Data, b.Data) && bytes.Equal(a.DataHi, b.DataHi)
}

func mapValue(e *Elem) string {
	if e.Verdict != nil {
		s := e.Verdict.Kind.String()
		if e.Verdict.Target != "" {
			s += " " + e.Verdict.Target
		}
		return "`" + s + "`"
	}
	return "another value"
}
