package planner

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// A plan is kept while it runs, for the next reload's diff (kernel
// ProgramDiff) and for a restore after another tool removed nfd's tables.
// A named set's kernel elements are kept in one flat, pointer-free arena
// (KernelElems), not as []nftables.SetElement (128 bytes an element plus
// its key's): the diff compares their identities in place and only the
// elements that change become nftables.SetElement again. A set of plain
// values whose kernel bytes are the parsed ones shares the parse's arena
// (sharedKeys).

// KernelElems is a list of kernel set elements in one arena.
type KernelElems struct {
	n int
	// fixed > 0: every element is a key of fixed bytes and nothing else;
	// buf holds the keys back to back.
	fixed int
	buf   []byte
	// off, in the general form: record i is buf[off[i]:off[i+1]], a
	// uvarint length, the identity (ID), then the timeout, expires (uvarint
	// nanoseconds) and the comment.
	off []uint32
}

// Identity flags.
const (
	kePlain       = 0
	keKeyEnd      = 1 << iota // KeyEnd
	keIntervalEnd             // IntervalEnd
	keVal                     // Val
	keVerdict                 // VerdictData: kind, chain
)

// PackKernelElems packs els; ok is false when one holds what the pack does
// not keep (a counter).
func PackKernelElems(els []nftables.SetElement) (p *KernelElems, ok bool) {
	p = &KernelElems{n: len(els)}
	fixed := -1
	for i := range els {
		e := &els[i]
		if e.Counter != nil {
			return nil, false
		}
		if fixed != 0 && plainKernelElem(e) && len(e.Key) > 0 && (fixed < 0 || fixed == len(e.Key)) {
			fixed = len(e.Key)
		} else {
			fixed = 0
		}
	}
	if fixed > 0 {
		p.fixed = fixed
		p.buf = make([]byte, 0, fixed*len(els))
		for i := range els {
			p.buf = append(p.buf, els[i].Key...)
		}
		return p, true
	}
	size := 0
	for i := range els {
		e := &els[i]
		size += 8 + len(e.Key) + len(e.KeyEnd) + len(e.Val) + len(e.Comment)
	}
	p.buf = make([]byte, 0, size)
	p.off = make([]uint32, 0, len(els)+1)
	var id []byte
	for i := range els {
		e := &els[i]
		p.off = append(p.off, uint32(len(p.buf)))
		id = AppendKernelElemID(id[:0], e)
		p.buf = binary.AppendUvarint(p.buf, uint64(len(id)))
		p.buf = append(p.buf, id...)
		p.buf = binary.AppendUvarint(p.buf, uint64(e.Timeout))
		p.buf = binary.AppendUvarint(p.buf, uint64(e.Expires))
		p.buf = append(p.buf, e.Comment...)
	}
	p.off = append(p.off, uint32(len(p.buf)))
	return p, true
}

func plainKernelElem(e *nftables.SetElement) bool {
	return len(e.KeyEnd) == 0 && !e.IntervalEnd && len(e.Val) == 0 && e.VerdictData == nil && e.Timeout == 0 && e.Expires == 0 && e.Comment == ""
}

// AppendKernelElemID appends what makes an element itself in the kernel:
// its key, range end, interval flag and data. Its timeout and comment are
// not: a reload keeps the remaining time of an element it keeps. Equal
// elements have equal IDs and unequal ones unequal IDs.
func AppendKernelElemID(b []byte, e *nftables.SetElement) []byte {
	var f byte = kePlain
	// The netlink library sends KeyEnd and Val only when not empty.
	if len(e.KeyEnd) > 0 {
		f |= keKeyEnd
	}
	if e.IntervalEnd {
		f |= keIntervalEnd
	}
	if len(e.Val) > 0 {
		f |= keVal
	}
	if e.VerdictData != nil {
		f |= keVerdict
	}
	b = append(b, f)
	put := func(v []byte) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	put(e.Key)
	if f&keKeyEnd != 0 {
		put(e.KeyEnd)
	}
	if f&keVal != 0 {
		put(e.Val)
	}
	if v := e.VerdictData; v != nil {
		b = binary.AppendVarint(b, int64(v.Kind))
		put([]byte(v.Chain))
	}
	return b
}

// Len is the number of elements.
func (p *KernelElems) Len() int { return p.n }

// FixedKeys is the keys back to back when every element is a key of one
// size and nothing else (nil otherwise); read only.
func (p *KernelElems) FixedKeys() []byte {
	if p.fixed <= 0 {
		return nil
	}
	return p.buf[:len(p.buf):len(p.buf)]
}

// sharedKeys is the pack of a named set whose kernel elements are its
// parsed keys as they are (single values, in the order and byte order
// the parse packed them, nothing else): it shares the parse's arena.
func sharedKeys(ps *parser.Set, size int) *KernelElems {
	if ps == nil || ps.Packed == nil || ps.Packed.Fixed() != size || ps.Packed.Len() == 0 {
		return nil
	}
	return &KernelElems{n: ps.Packed.Len(), fixed: size, buf: ps.Packed.FixedKeys()}
}

// Bytes is the memory the pack holds.
func (p *KernelElems) Bytes() int { return cap(p.buf) + 4*cap(p.off) }

// AppendID appends element i's ID (AppendKernelElemID).
func (p *KernelElems) AppendID(b []byte, i int) []byte {
	if p.fixed > 0 {
		b = append(b, kePlain)
		b = binary.AppendUvarint(b, uint64(p.fixed))
		return append(b, p.buf[i*p.fixed:(i+1)*p.fixed]...)
	}
	id, _ := p.record(i)
	return append(b, id...)
}

// record splits element i's record into its ID and the rest.
func (p *KernelElems) record(i int) (id, rest []byte) {
	r := p.buf[p.off[i]:p.off[i+1]:p.off[i+1]]
	n, k := binary.Uvarint(r)
	r = r[k:]
	return r[:n:n], r[n:]
}

// SameID tells whether element i of p and element j of q are the same
// for the kernel.
func (p *KernelElems) SameID(i int, q *KernelElems, j int) bool {
	switch {
	case p.fixed > 0 && q.fixed > 0:
		return p.fixed == q.fixed && bytes.Equal(p.buf[i*p.fixed:(i+1)*p.fixed], q.buf[j*q.fixed:(j+1)*q.fixed])
	case p.fixed == 0 && q.fixed == 0:
		a, _ := p.record(i)
		b, _ := q.record(j)
		return bytes.Equal(a, b)
	}
	var sa, sb [64]byte
	return bytes.Equal(p.AppendID(sa[:0], i), q.AppendID(sb[:0], j))
}

// Elem decodes element i into e; its byte slices share the arena (read
// only, as the netlink library treats them).
func (p *KernelElems) Elem(i int, e *nftables.SetElement) {
	*e = nftables.SetElement{}
	if p.fixed > 0 {
		e.Key = p.buf[i*p.fixed : (i+1)*p.fixed : (i+1)*p.fixed]
		return
	}
	id, rest := p.record(i)
	f := id[0]
	id = id[1:]
	e.Key, id = takeKBytes(id)
	if f&keKeyEnd != 0 {
		e.KeyEnd, id = takeKBytes(id)
	}
	e.IntervalEnd = f&keIntervalEnd != 0
	if f&keVal != 0 {
		e.Val, id = takeKBytes(id)
	}
	if f&keVerdict != 0 {
		k, n := binary.Varint(id)
		ch, _ := takeKBytes(id[n:])
		e.VerdictData = &expr.Verdict{Kind: expr.VerdictKind(k), Chain: string(ch)}
	}
	t, n := binary.Uvarint(rest)
	rest = rest[n:]
	x, n := binary.Uvarint(rest)
	rest = rest[n:]
	e.Timeout, e.Expires = time.Duration(t), time.Duration(x)
	e.Comment = string(rest)
}

// Decode appends elements [from, to) to out.
func (p *KernelElems) Decode(out []nftables.SetElement, from, to int) []nftables.SetElement {
	for i := from; i < to; i++ {
		out = append(out, nftables.SetElement{})
		p.Elem(i, &out[len(out)-1])
	}
	return out
}

func takeKBytes(r []byte) (v, rest []byte) {
	n, k := binary.Uvarint(r)
	r = r[k:]
	return r[:n:n], r[n:]
}

// Elements returns the set's elements, decoding them when packed.
func (ps *PendingSet) Elements() []nftables.SetElement {
	if ps.Packed != nil {
		return ps.Packed.Decode(nil, 0, ps.Packed.Len())
	}
	return ps.Elems
}

// NumElements is the number of elements, packed or not.
func (ps *PendingSet) NumElements() int {
	if ps.Packed != nil {
		return ps.Packed.Len()
	}
	return len(ps.Elems)
}

// packNamedSets packs the elements of t's named sets once planned (not
// those filled from DNS answers: the daemon appends what it learns).
func packNamedSets(t *parser.Table, sets []PendingSet) {
	for i := range sets {
		ps := &sets[i]
		if ps.Set.Anonymous || len(ps.Elems) == 0 {
			continue
		}
		if s := t.Set(ps.Set.Name); s != nil && s.DNS != nil {
			continue
		}
		if p, ok := PackKernelElems(ps.Elems); ok {
			ps.Packed, ps.Elems = p, nil
		}
	}
}

// packDirect: newSetData packs a named set's elements as it makes them
// (tests compare with packing the list it makes otherwise).
var packDirect = true

// kelemsBuilder packs kernel elements as a plan makes them, without a
// []nftables.SetElement: in the fixed form while every element is a key
// of one size, re-encoded in the general form at the first that is not.
type kelemsBuilder struct {
	p  KernelElems
	id []byte
}

func newKelemsBuilder(n int) *kelemsBuilder {
	return &kelemsBuilder{p: KernelElems{fixed: -1, buf: make([]byte, 0, 4*n)}}
}

func (kb *kelemsBuilder) add(e *nftables.SetElement) {
	p := &kb.p
	if p.fixed != 0 && plainKernelElem(e) && len(e.Key) > 0 && (p.fixed < 0 || p.fixed == len(e.Key)) {
		p.fixed = len(e.Key)
		p.buf = append(p.buf, e.Key...)
		p.n++
		return
	}
	if p.fixed != 0 { // to the general form
		old := *p
		*p = KernelElems{off: make([]uint32, 0, cap(old.buf)/max(old.fixed, 1)+2), buf: make([]byte, 0, len(old.buf)*2+64)}
		var el nftables.SetElement
		for i := 0; i < old.n; i++ {
			old.Elem(i, &el)
			kb.addRecord(&el)
		}
	}
	kb.addRecord(e)
}

func (kb *kelemsBuilder) addRecord(e *nftables.SetElement) {
	p := &kb.p
	p.off = append(p.off, uint32(len(p.buf)))
	kb.id = AppendKernelElemID(kb.id[:0], e)
	p.buf = binary.AppendUvarint(p.buf, uint64(len(kb.id)))
	p.buf = append(p.buf, kb.id...)
	p.buf = binary.AppendUvarint(p.buf, uint64(e.Timeout))
	p.buf = binary.AppendUvarint(p.buf, uint64(e.Expires))
	p.buf = append(p.buf, e.Comment...)
	p.n++
}

// done returns the pack, nil for no elements.
func (kb *kelemsBuilder) done() *KernelElems {
	p := &kb.p
	if p.n == 0 {
		return nil
	}
	if p.fixed == 0 {
		p.off = append(p.off, uint32(len(p.buf)))
	}
	return p
}
