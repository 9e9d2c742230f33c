package kernel

import (
	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/planner"
)

// Named sets whose elements a plan keeps packed (planner.KernelElems):
// they are added in chunks decoded one after the other, and a reload's
// diff compares them in place.

// packChunk is how many packed elements are decoded at a time.
const packChunk = 4096

// addNamedSet adds a named set and its elements to the batch.
func addNamedSet(b *nlbatch.Batch, ps *planner.PendingSet, tag batchTag) {
	p := ps.Packed
	if p == nil || p.Len() <= packChunk {
		b.AddSet(ps.Set, ps.Elements(), tag)
		return
	}
	b.AddSet(ps.Set, nil, tag)
	buf := make([]nftables.SetElement, 0, packChunk)
	for i := 0; i < p.Len(); i += packChunk {
		buf = p.Decode(buf[:0], i, min(i+packChunk, p.Len()))
		b.AddElements(ps.Set, buf, tag)
	}
}

// elemDiffSets is elemDiff of two plans' versions of a named set, packed
// or not: only the elements that differ are decoded.
func elemDiffSets(os, ns *planner.PendingSet) (del, add []nftables.SetElement) {
	if os.Packed == nil && ns.Packed == nil {
		return elemDiff(os.Elems, ns.Elems)
	}
	op, np := os.Packed, ns.Packed
	if op == nil {
		op, _ = planner.PackKernelElems(os.Elems)
	}
	if np == nil {
		np, _ = planner.PackKernelElems(ns.Elems)
	}
	if op == nil || np == nil { // an element the pack does not keep
		return elemDiff(os.Elements(), ns.Elements())
	}
	return packedElemDiff(op, np)
}

// packedElemDiff is elemDiff on packed lists: the common prefix and
// suffix first, then the rest by ID.
func packedElemDiff(old, new *planner.KernelElems) (del, add []nftables.SetElement) {
	o0, n0, o1, n1 := 0, 0, old.Len(), new.Len()
	for o0 < o1 && n0 < n1 && old.SameID(o0, new, n0) {
		o0++
		n0++
	}
	for o0 < o1 && n0 < n1 && old.SameID(o1-1, new, n1-1) {
		o1--
		n1--
	}
	if o0 == o1 {
		return nil, new.Decode(nil, n0, n1)
	}
	if n0 == n1 {
		return old.Decode(nil, o0, o1), nil
	}
	var buf []byte
	inOld := make(map[string]int, o1-o0)
	for i := o0; i < o1; i++ {
		buf = old.AppendID(buf[:0], i)
		inOld[string(buf)]++
	}
	inNew := make(map[string]bool, n1-n0)
	for i := n0; i < n1; i++ {
		buf = new.AppendID(buf[:0], i)
		inNew[string(buf)] = true
		if inOld[string(buf)] == 0 {
			add = new.Decode(add, i, i+1)
		}
	}
	for i := o0; i < o1; i++ {
		buf = old.AppendID(buf[:0], i)
		if !inNew[string(buf)] {
			del = old.Decode(del, i, i+1)
		}
	}
	return del, add
}
