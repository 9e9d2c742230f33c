package rules

import "github.com/nfdproject/nfd/parser"

// Element state of named sets: timeouts and the set-level counter. Only
// sets that have any pay for it; lookups of the others return at once.

// withState gives a compiled named set its elements' deadlines (an element
// lives ElemTimeout seconds from when the engine is built, as from when
// nft loads it) and, for a set with `counter`, a counter per element.
// Index ps.NumElems() is the catch-all element.
func (s *set) withState(ps *parser.Set, now func() int64) *set {
	ne := ps.NumElems()
	n := ne + 1
	at := now()
	// The elements and, at index n-1, the catch-all (or none), without
	// copying the element list.
	var none, scratch parser.Elem
	elem := func(i int) *parser.Elem {
		switch {
		case i < ne:
			return ps.ElemAt(i, &scratch)
		case ps.CatchAll != nil:
			return ps.CatchAll
		}
		return &none
	}
	for i := 0; i < n; i++ {
		if d := ps.ElemTimeout(elem(i)); d != 0 {
			if s.deadline == nil {
				s.deadline = make([]int64, n)
			}
			s.deadline[i] = at + int64(d)*1e9
		}
	}
	if s.deadline != nil {
		s.now = now
	}
	if ps.Counter {
		s.ctrs = make([]Counters, n)
		for i := 0; i < n; i++ {
			if c := elem(i).Counter; c != nil {
				s.ctrs[i].Packets.Store(c.Packets)
				s.ctrs[i].Bytes.Store(c.Bytes)
			}
		}
	}
	return s
}

// use applies the state of the element a lookup found: one past its
// deadline is gone (nft_set_elem_expired), so the key falls to the
// catch-all element, if any; with count, a set counter counts the packet
// on the element found (nft_set_elem_update_expr). nft_lookup_eval counts
// only when the rule goes on with the element: never for `!=`.
func (s *set) use(i int32, ok, count bool, c *Ctx) (int32, bool) {
	if !ok || i == dynElem || (s.deadline == nil && s.ctrs == nil) {
		return i, ok
	}
	if s.expired(i) {
		if i == s.catchAll-1 {
			return 0, false
		}
		if i, ok = s.missed(); !ok || s.expired(i) {
			return 0, false
		}
	}
	if count && s.ctrs != nil {
		s.ctrs[i].Packets.Add(1)
		s.ctrs[i].Bytes.Add(uint64(c.P.Len()))
	}
	return i, true
}

func (s *set) expired(i int32) bool {
	return s.deadline != nil && s.deadline[i] != 0 && s.now() >= s.deadline[i]
}

// ElemCounters returns the per-element counters of a named set with
// `counter`, in element order with the catch-all element last (nil for
// other sets).
func (e *Engine) ElemCounters(ps *parser.Set) []Counters {
	if s := e.sets[ps]; s != nil {
		return s.ctrs
	}
	return nil
}
