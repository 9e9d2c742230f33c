package kernel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/planner"
)

// ruleKey names a kernel rule by what it does, so an old plan's rule and
// a new plan's can be found equal: a hash of its marshalled expressions,
// with counters zeroed, set IDs dropped and an anonymous set's name
// replaced by a hash of its definition and elements (anonymous sets are
// numbered per table, so a rule added before would otherwise change the
// name of every later one's).
type ruleKey [16]byte

// keyer computes the keys of one table's rules.
type keyer struct {
	fam byte
	// anon are the table's anonymous sets by ID, hashed when a rule
	// that is keyed refers to one (anonHash).
	wt       *wantTable
	anon     map[uint32]*planner.PendingSet
	anonHash map[uint32][16]byte
	buf      []byte
}

func newKeyer(wt *wantTable) *keyer {
	return &keyer{fam: byte(wt.tp.Kernel.Family), wt: wt}
}

// anonSets finds the table's anonymous sets, once, when a rule being
// keyed refers to a set: with most keys cached, most diffs never do.
func (k *keyer) anonSets() {
	if k.anon != nil {
		return
	}
	k.anon, k.anonHash = map[uint32]*planner.PendingSet{}, map[uint32][16]byte{}
	for _, wc := range k.wt.chains {
		for _, r := range wc.rules {
			for _, ps := range r.anon {
				k.anon[ps.Set.ID] = ps
			}
		}
	}
}

// ruleKey is r's key: the one cached on r (the planner's translation
// carries it from plan to plan), else computed and cached. The key does
// not depend on set IDs, so a reused translation given new ones keeps it.
func (k *keyer) ruleKey(r *wantRule) (ruleKey, error) {
	if sum, ok := r.hash.Get(); ok {
		return sum, nil
	}
	key, err := k.key(r.exprs)
	if err == nil {
		r.hash.Put(key)
	}
	return key, err
}

// anonName is what a rule's key takes for the name of the anonymous
// set id, if it is one.
func (k *keyer) anonName(id uint32) (string, bool) {
	k.anonSets()
	h, ok := k.anonHash[id]
	if !ok {
		ps := k.anon[id]
		if ps == nil {
			return "", false
		}
		h = setHash(ps, true)
		k.anonHash[id] = h
	}
	return fmt.Sprintf("anon:%x", h), true
}

func (k *keyer) key(exprs []expr.Any) (ruleKey, error) {
	k.buf = k.buf[:0]
	for _, e := range exprs {
		switch x := e.(type) {
		case *expr.Counter:
			e = &expr.Counter{}
		case *expr.Lookup:
			c := *x
			if name, ok := k.anonName(x.SetID); ok {
				c.SetName = name
			}
			c.SetID = 0
			e = &c
		case *expr.Dynset:
			c := *x
			if name, ok := k.anonName(x.SetID); ok {
				c.SetName = name
			}
			c.SetID = 0
			e = &c
		}
		b, err := expr.Marshal(k.fam, e)
		if err != nil {
			return ruleKey{}, err
		}
		k.buf = binary.BigEndian.AppendUint32(k.buf, uint32(len(b)))
		k.buf = append(k.buf, b...)
	}
	sum := sha256.Sum256(k.buf)
	var out ruleKey
	copy(out[:], sum[:])
	return out, nil
}

// setDef is a set's definition without its name, ID, table and elements:
// two named sets with the same one can keep the kernel's object.
func setDef(s *nftables.Set) string {
	host := s.KeyByteOrder == binaryutil.NativeEndian
	return fmt.Sprintf("%v %v anon=%t const=%t interval=%t merge=%t map=%t hasto=%t ctr=%t dyn=%t concat=%t to=%d host=%t size=%d comment=%q",
		s.KeyType, s.DataType, s.Anonymous, s.Constant, s.Interval, s.AutoMerge, s.IsMap, s.HasTimeout, s.Counter, s.Dynamic,
		s.Concatenation, s.Timeout, host, s.Size, s.Comment)
}

// setHash hashes a set's definition and, with elems, its elements.
func setHash(ps *planner.PendingSet, elems bool) [16]byte {
	h := sha256.New()
	h.Write([]byte(setDef(ps.Set)))
	if elems {
		var buf []byte
		for i := range ps.Elems {
			buf = appendElemKey(buf[:0], &ps.Elems[i])
			buf = binary.BigEndian.AppendUint64(buf, uint64(ps.Elems[i].Timeout))
			buf = append(buf, ps.Elems[i].Comment...)
			h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(buf))))
			h.Write(buf)
		}
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// appendElemKey appends what makes an element itself in the kernel: its
// key, range end, interval flag and data. Its timeout and comment are
// not: a reload keeps the remaining time of an element it keeps.
func appendElemKey(b []byte, e *nftables.SetElement) []byte {
	put := func(v []byte) {
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	put(e.Key)
	put(e.KeyEnd)
	if e.IntervalEnd {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	put(e.Val)
	if v := e.VerdictData; v != nil {
		b = binary.BigEndian.AppendUint32(b, uint32(v.Kind))
		put([]byte(v.Chain))
	}
	return b
}

// sameElem tells whether two elements are the same for the kernel.
func sameElem(a, b *nftables.SetElement) bool {
	if !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.KeyEnd, b.KeyEnd) || a.IntervalEnd != b.IntervalEnd || !bytes.Equal(a.Val, b.Val) {
		return false
	}
	if (a.VerdictData == nil) != (b.VerdictData == nil) {
		return false
	}
	return a.VerdictData == nil || (a.VerdictData.Kind == b.VerdictData.Kind && a.VerdictData.Chain == b.VerdictData.Chain)
}
