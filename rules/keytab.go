package rules

import "github.com/nfdproject/nfd/parser"

// keyTable is the hash of a named set the parse packed (parser's
// WithPackedSets: single values of one fixed-size field): an open-
// addressing table of element indices into the packed keys, which stay
// the set's one copy of its values. 4 bytes a slot, at most half full:
// about 8 bytes an element where a map[key128]int32 takes about 56 at
// 10^6. Lookups allocate nothing.
type keyTable struct {
	keys  *parser.ElemPack
	slots []int32 // 1 + element index; 0 is empty
	mask  uint64
	n     int // keys held (equal keys once)
}

func hashKey(k key128) uint64 {
	h := k.lo*0x9e3779b97f4a7c15 ^ k.hi*0xc2b2ae3d27d4eb4f
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

// newKeyTable indexes the keys of p (the first of equal keys is the one
// found, as newSet keeps it).
func newKeyTable(p *parser.ElemPack) *keyTable {
	size := 8
	for size < 2*p.Len() {
		size <<= 1
	}
	t := &keyTable{keys: p, slots: make([]int32, size), mask: uint64(size - 1)}
	for i := 0; i < p.Len(); i++ {
		t.insert(t.keyAt(int32(i)), int32(i))
	}
	return t
}

func (t *keyTable) keyAt(i int32) key128 {
	lo, _ := t.keys.Key(int(i))
	return keyOf(lo)
}

// find returns the index of the element holding k.
func (t *keyTable) find(k key128) (int32, bool) {
	for i := hashKey(k) & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if t.keyAt(s-1) == k {
			return s - 1, true
		}
	}
}

// insert adds k at element idx unless it is held already (false then).
func (t *keyTable) insert(k key128, idx int32) bool {
	for i := hashKey(k) & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			t.slots[i] = idx + 1
			t.n++
			return true
		}
		if t.keyAt(s-1) == k {
			return false
		}
	}
}

// remove deletes k, shifting the entries after it back (linear probing's
// deletion without tombstones).
func (t *keyTable) remove(k key128) {
	i := hashKey(k) & t.mask
	for {
		s := t.slots[i]
		if s == 0 {
			return
		}
		if t.keyAt(s-1) == k {
			break
		}
		i = (i + 1) & t.mask
	}
	t.n--
	for j := (i + 1) & t.mask; ; j = (j + 1) & t.mask {
		s := t.slots[j]
		if s == 0 {
			break
		}
		h := hashKey(t.keyAt(s-1)) & t.mask
		// Move s back to i if its home is not in (i, j] (cyclically).
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = 0
}

// clone copies the table, over the same keys.
func (t *keyTable) clone() *keyTable {
	c := *t
	c.slots = append([]int32(nil), t.slots...)
	return &c
}

// each calls f with every key and its element index.
func (t *keyTable) each(f func(k key128, i int32)) {
	for _, s := range t.slots {
		if s != 0 {
			f(t.keyAt(s-1), s-1)
		}
	}
}
