package rules

import (
	"slices"
	"sort"
	"strings"

	"github.com/nfdproject/nfd/parser"
)

// set is a compiled set or map. Single-field keys up to 16 bytes use a hash
// for exact values and a sorted interval array (binary search) for ranges
// and prefixes; concatenations use a hash of the joined bytes, or a linear
// scan when they hold ranges; host names use an exact hash and a suffix
// hash for wildcards. Lookups return the element's index (for maps) and
// allocate nothing.
type set struct {
	name  string
	types []*parser.Type
	size  int // key bytes (concatenations)

	exact map[key128]int32
	ktab  *keyTable  // instead of exact for a set the parse packed
	ivals []interval // sorted by lo, non-overlapping

	cexact map[string]int32
	clin   []parser.Elem // concatenations with ranges, checked in order

	hexact  map[string]int32
	hsuffix map[string]int32 // ".example.com" for "*.example.com"

	verdicts []*verdict // per element, for verdict maps

	// catchAll is 1 + the index of the `*` element, 0 without one: a key
	// no element holds finds it (nft_set_catchall_lookup).
	catchAll int32

	// Element state (setstate.go): deadlines and counters per element.
	now      func() int64
	deadline []int64
	ctrs     []Counters

	// dyn holds elements added at run time (a set nfd fills from DNS
	// answers, dnsfill): looked up when the static elements miss.
	dyn Dynamic
}

// Dynamic is a set's run-time elements: Contains takes a single-field
// key as rules holds it (16 bytes big-endian in hi, lo; shorter values
// right-aligned in lo) and must not allocate.
type Dynamic interface {
	Contains(hi, lo uint64) bool
}

// dynElem is the element index a lookup returns for a run-time element:
// it has no static state (its lifetime is the Dynamic's business).
const dynElem = -2

// withCatchAll gives the set a `*` element at index i (in verdicts).
func (s *set) withCatchAll(i int) *set {
	s.catchAll = int32(i) + 1
	return s
}

// missed is a lookup's answer when no element holds the key.
func (s *set) missed() (int32, bool) { return s.catchAll - 1, s.catchAll != 0 }

type interval struct {
	lo, hi key128
	elem   int32
}

// newSetOf is newSet of a named set, its elements packed or not
// (parser.WithPackedSets: single values of one field).
func newSetOf(ps *parser.Set) *set {
	if ps.Packed == nil || len(ps.Key) != 1 || ps.Key[0] == parser.TypeHostname {
		return newSet(ps.Name, ps.Key, ps.Elems)
	}
	if k := ps.Packed.Fixed(); k == 0 || k > 16 {
		return newSet(ps.Name, ps.Key, ps.Packed.Unpack())
	}
	return &set{name: ps.Name, types: ps.Key, size: ps.Key[0].Size, ktab: newKeyTable(ps.Packed)}
}

func newSet(name string, types []*parser.Type, elems []parser.Elem) *set {
	s := &set{name: name, types: types}
	for _, t := range types {
		s.size += t.Size
	}
	switch {
	case len(types) == 1 && types[0] == parser.TypeHostname:
		s.hexact, s.hsuffix = map[string]int32{}, map[string]int32{}
		for i, e := range elems {
			p := string(e.Lo)
			if strings.HasPrefix(p, "*.") {
				if _, dup := s.hsuffix[p[1:]]; !dup {
					s.hsuffix[p[1:]] = int32(i)
				}
			} else if _, dup := s.hexact[p]; !dup {
				s.hexact[p] = int32(i)
			}
		}
	case len(types) == 1:
		s.exact = make(map[key128]int32, len(elems))
		// Backwards, so that the first of equal keys is the one kept
		// with a single map operation per element.
		for i := len(elems) - 1; i >= 0; i-- {
			e := &elems[i]
			lo, hi := keyOf(e.Lo), keyOf(e.Hi)
			if lo == hi {
				s.exact[lo] = int32(i)
				continue
			}
			s.ivals = append(s.ivals, interval{lo, hi, int32(i)})
		}
		slices.Reverse(s.ivals) // back in element order for the stable sort
		sort.SliceStable(s.ivals, func(i, j int) bool { return s.ivals[i].lo.less(s.ivals[j].lo) })
		// Merge overlaps; the first element keeps the overlap (nft refuses
		// overlapping elements, so this only matters for plain sets).
		out := s.ivals[:0]
		for _, iv := range s.ivals {
			if n := len(out); n > 0 && !out[n-1].hi.less(iv.lo) {
				if out[n-1].hi.less(iv.hi) {
					out[n-1].hi = iv.hi
				}
				continue
			}
			out = append(out, iv)
		}
		s.ivals = out
	default:
		s.cexact = make(map[string]int32, len(elems))
		for i, e := range elems {
			if string(e.Lo) == string(e.Hi) {
				if _, dup := s.cexact[string(e.Lo)]; !dup {
					s.cexact[string(e.Lo)] = int32(i)
				}
			} else {
				s.clin = append(s.clin, e)
				s.clin[len(s.clin)-1].Data = []byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
			}
		}
	}
	return s
}

// lookup finds a single-field key.
func (s *set) lookup(k key128) (int32, bool) {
	if i, ok := s.exact[k]; ok {
		return i, true
	}
	if s.ktab != nil {
		if i, ok := s.ktab.find(k); ok {
			return i, true
		}
	}
	iv := s.ivals
	lo, hi := 0, len(iv)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k.less(iv[m].lo) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo > 0 && !iv[lo-1].hi.less(k) {
		return iv[lo-1].elem, true
	}
	if s.dyn != nil && s.dyn.Contains(k.hi, k.lo) {
		return dynElem, true
	}
	return s.missed()
}

// lookupConcat finds a concatenated key.
func (s *set) lookupConcat(b []byte) (int32, bool) {
	if i, ok := s.cexact[string(b)]; ok {
		return i, true
	}
	best := int32(-1)
	for i := range s.clin {
		e := &s.clin[i]
		if inFields(s.types, e.Lo, e.Hi, b) {
			idx := int32(parser.Uint(e.Data))
			if best < 0 || idx < best {
				best = idx
			}
		}
	}
	if best < 0 {
		return s.missed()
	}
	return best, true
}

// inFields reports whether b lies within [lo, hi] field by field.
func inFields(types []*parser.Type, lo, hi, b []byte) bool {
	off := 0
	for _, t := range types {
		n := t.Size
		if string(b[off:off+n]) < string(lo[off:off+n]) || string(b[off:off+n]) > string(hi[off:off+n]) {
			return false
		}
		off += n
	}
	return true
}

// lookupHost finds a host name (any case) by exact name or wildcard.
func (s *set) lookupHost(name []byte, scratch []byte) (int32, bool) {
	if len(name) > len(scratch) {
		return s.missed()
	}
	low := scratch[:len(name)]
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	if i, ok := s.hexact[string(low)]; ok {
		return i, true
	}
	for i := 1; i < len(low); i++ {
		if low[i] == '.' {
			if j, ok := s.hsuffix[string(low[i:])]; ok {
				return j, true
			}
		}
	}
	return s.missed()
}
