package kernel

import (
	"encoding/binary"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/planner"
)

// tableDiff is what changes in one table the kernel holds as the old plan
// says, in the order the batch makes the changes: rules, elements and
// chains go first (so nothing still refers to what is deleted), then
// chains, sets and rules are added (so what a rule refers to exists).
type tableDiff struct {
	tp *planner.TablePlan
	// flush and drop: chains that go or are re-created (their rules
	// first, so jumps between them do not hold them).
	flush, drop []*nftables.Chain
	delRules    []delRule
	delElems    []planner.PendingSet // elements leaving a kept set
	delSets     []*nftables.Set
	addChains   []*wantChain // added or re-created, with all their rules
	policies    []*wantChain // kept base chains whose policy changes
	addSets     []planner.PendingSet
	addElems    []planner.PendingSet // elements joining a kept set
	inserts     []insertRun
	// known: the old handles came from what nfd knew, and hgen is the
	// table's last handle; the handles after emit are then known too.
	known *tableHandles
	// keeps and oldHandles: per kept chain, the old rule each new one
	// keeps (-1: added) and the old rules' handles.
	keeps      map[string][]int
	oldHandles map[string][]uint64
	added      map[*wantRule]uint64
}

type delRule struct {
	chain  *nftables.Chain
	handle uint64
}

// insertRun is new rules that go together into a kept chain: after the
// rule with handle after, or before the one with handle before, or
// appended when the chain keeps none.
type insertRun struct {
	wc            *wantChain
	rules         []*wantRule
	after, before uint64
}

// diffTable compares a table's old and new layouts with what the kernel
// holds; nil means the table must be programmed whole: the kernel's
// chains are not the old plan's, or a named set changed its definition.
func diffTable(c *nftables.Conn, old, new *wantTable, kchains []*nftables.Chain, kh *tableHandles) *tableDiff {
	for _, n := range new.anonRefs {
		if n > 1 {
			return nil // a shared anonymous set: only a whole table has it once
		}
	}
	if wholeOnly(old) || wholeOnly(new) || old.tp.Dormant != new.tp.Dormant {
		return nil
	}
	d := &tableDiff{tp: new.tp, known: kh, keeps: map[string][]int{}, oldHandles: map[string][]uint64{}}
	t := new.tp.Kernel
	// Sets.
	oldSets := map[string]*planner.PendingSet{}
	for i := range old.named {
		oldSets[old.named[i].Set.Name] = &old.named[i]
	}
	newSets := map[string]bool{}
	for i := range new.named {
		ns := &new.named[i]
		newSets[ns.Set.Name] = true
		os := oldSets[ns.Set.Name]
		if os == nil {
			d.addSets = append(d.addSets, *ns)
			continue
		}
		if setDef(os.Set) != setDef(ns.Set) {
			// Rules that stay refer to the set by name: the kernel
			// would refuse to delete it under them.
			return nil
		}
		del, add := elemDiffSets(os, ns)
		if len(del) > 0 {
			d.delElems = append(d.delElems, planner.PendingSet{Set: ns.Set, Elems: del})
		}
		if len(add) > 0 {
			d.addElems = append(d.addElems, planner.PendingSet{Set: ns.Set, Elems: add})
		}
	}
	for name, os := range oldSets {
		if !newSets[name] {
			s := *os.Set
			s.Table = t
			d.delSets = append(d.delSets, &s)
		}
	}
	// Chains.
	oldChains := map[string]*wantChain{}
	for _, wc := range old.chains {
		oldChains[wc.spec.Name] = wc
	}
	have := map[string]*nftables.Chain{}
	for _, ch := range kchains {
		have[ch.Name] = ch
	}
	newChains := map[string]bool{}
	ok, nk := newKeyer(old), newKeyer(new)
	for _, wc := range new.chains {
		name := wc.spec.Name
		newChains[name] = true
		kc, oc := have[name], oldChains[name]
		switch {
		case kc == nil && oc != nil:
			return nil // the old plan's chain is not there
		case kc == nil:
			d.addChains = append(d.addChains, wc)
		case oc == nil || !sameHook(wc.spec, kc) || !sameHook(oc.spec, kc):
			d.flush = append(d.flush, kc)
			d.drop = append(d.drop, kc)
			d.addChains = append(d.addChains, wc)
		default:
			if !d.diffChain(c, ok, nk, oc, wc, kc) {
				return nil
			}
			if samePolicy(oc.spec, wc.spec) {
				continue
			}
			d.policies = append(d.policies, wc)
		}
	}
	for _, kc := range kchains {
		if !newChains[kc.Name] {
			d.flush = append(d.flush, kc)
			d.drop = append(d.drop, kc)
		}
	}
	return d
}

func samePolicy(a, b *nftables.Chain) bool {
	if a.Policy == nil || b.Policy == nil {
		return a.Policy == b.Policy
	}
	return *a.Policy == *b.Policy
}

// diffChain finds the rules of a kept chain to delete and add; false when
// the kernel's chain is not the old plan's.
func (d *tableDiff) diffChain(c *nftables.Conn, ok, nk *keyer, oc, wc *wantChain, kc *nftables.Chain) bool {
	t := d.tp.Kernel
	var handles []uint64
	if d.known != nil {
		handles = d.known.chains[kc.Name]
	} else {
		rs, err := nlbatch.DumpRules(c.NetNS, byte(t.Family), t.Name, kc.Name)
		if err != nil {
			return false
		}
		handles = make([]uint64, len(rs))
		for i, r := range rs {
			handles[i] = r.Handle
		}
	}
	if len(handles) != len(oc.rules) {
		return false
	}
	// The two sides on two cores: keying is most of a diff's time. But
	// when the planner reused translations, the old side first: the new
	// side's reused rules then find their keys cached (rulekey.go).
	var oldKeys []ruleKey
	var oerr error
	done := make(chan struct{})
	go func() {
		oldKeys, oerr = chainKeys(ok, oc, 'o')
		close(done)
	}()
	if d.tp.Reused > 0 {
		<-done
	}
	newKeys, err := chainKeys(nk, wc, 'n')
	<-done
	if err != nil || oerr != nil {
		return false
	}
	keep := matchSeqs(oldKeys, newKeys)
	d.keeps[kc.Name], d.oldHandles[kc.Name] = keep, handles
	kept := make([]bool, len(oldKeys))
	for _, i := range keep {
		if i >= 0 {
			kept[i] = true
		}
	}
	rs := make([]struct{ Handle uint64 }, len(handles))
	for i, h := range handles {
		rs[i].Handle = h
	}
	ch := &nftables.Chain{Name: kc.Name, Table: t}
	for i, k := range kept {
		if !k {
			d.delRules = append(d.delRules, delRule{chain: ch, handle: rs[i].Handle})
		}
	}
	for j := 0; j < len(keep); {
		if keep[j] >= 0 {
			j++
			continue
		}
		run := insertRun{wc: wc}
		if j > 0 {
			run.after = rs[keep[j-1]].Handle
		}
		for ; j < len(keep) && keep[j] < 0; j++ {
			run.rules = append(run.rules, &wc.rules[j])
		}
		if run.after == 0 && j < len(keep) {
			run.before = rs[keep[j]].Handle
		}
		d.inserts = append(d.inserts, run)
	}
	return true
}

// chainKeys keys a chain's rules. Queue rules never match: replaced at
// every reload, their counters count what was queued since (the daemon's
// fail-open figure compares them with its decisions since).
func chainKeys(k *keyer, wc *wantChain, side byte) ([]ruleKey, error) {
	keys := make([]ruleKey, len(wc.rules))
	for i := range wc.rules {
		if wc.rules[i].tag.what == "queue rule" {
			keys[i][0], keys[i][1] = 0xff, side
			binary.BigEndian.PutUint64(keys[i][2:], uint64(i))
			continue
		}
		var err error
		if keys[i], err = k.ruleKey(&wc.rules[i]); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// emit adds the table's changes to the batch.
func (d *tableDiff) emit(b *nlbatch.Batch) {
	c := b.Conn()
	tp := d.tp
	var h *handleGen
	if d.known != nil {
		h = &handleGen{last: d.known.hgen}
		d.added = map[*wantRule]uint64{}
	}
	for _, ch := range d.flush {
		c.FlushChain(ch)
		b.Tag(batchTag{tp: tp, chain: ch.Name, what: "old chain"})
	}
	for _, r := range d.delRules {
		_ = c.DelRule(&nftables.Rule{Table: r.chain.Table, Chain: r.chain, Handle: r.handle})
		b.Tag(batchTag{tp: tp, chain: r.chain.Name, what: "old rule"})
	}
	for _, ps := range d.delElems {
		b.DestroyElements(ps.Set, ps.Elems, batchTag{tp: tp, set: ps.Set.Name})
	}
	for _, s := range d.delSets {
		c.DelSet(s)
		b.Tag(batchTag{tp: tp, what: "old set"})
	}
	for _, ch := range d.drop {
		c.DelChain(ch)
		b.Tag(batchTag{tp: tp, what: "old chain"})
	}
	for _, wc := range d.addChains {
		c.AddChain(wc.spec)
		b.Tag(wc.tag)
		h.take()
	}
	for _, wc := range d.policies {
		c.AddChain(wc.spec)
		b.Tag(wc.tag)
	}
	for _, ps := range d.addSets {
		addNamedSet(b, &ps, batchTag{tp: tp, set: ps.Set.Name})
		h.take()
	}
	for _, ps := range d.addElems {
		b.AddElements(ps.Set, ps.Elems, batchTag{tp: tp, set: ps.Set.Name})
	}
	add := func(wc *wantChain, r *wantRule, pos uint64, before bool) {
		hd := addRule(b, tp, wc, r, pos, before, h)
		if h != nil {
			d.added[r] = hd
		}
	}
	for _, wc := range d.addChains {
		for i := range wc.rules {
			add(wc, &wc.rules[i], 0, false)
		}
	}
	for _, run := range d.inserts {
		switch {
		case run.after != 0:
			// Each goes right after the anchor: last first.
			for i := len(run.rules) - 1; i >= 0; i-- {
				add(run.wc, run.rules[i], run.after, false)
			}
		case run.before != 0:
			for _, r := range run.rules {
				add(run.wc, r, run.before, true)
			}
		default:
			for _, r := range run.rules {
				add(run.wc, r, 0, false)
			}
		}
	}
	if h != nil {
		d.known = &tableHandles{hgen: h.last}
	}
}

// after is what is known of the table once emit's changes commit: the
// handles of kept rules and of those emit added; nil when the old handles
// were dumped (the table's last handle is then unknown).
func (d *tableDiff) after(wt *wantTable) *tableHandles {
	if d.added == nil {
		return nil
	}
	th := &tableHandles{hgen: d.known.hgen, chains: make(map[string][]uint64, len(wt.chains))}
	for _, wc := range wt.chains {
		hs := make([]uint64, len(wc.rules))
		keep, old := d.keeps[wc.spec.Name], d.oldHandles[wc.spec.Name]
		for j := range wc.rules {
			if keep != nil && keep[j] >= 0 {
				hs[j] = old[keep[j]]
			} else {
				hs[j] = d.added[&wc.rules[j]]
			}
		}
		th.chains[wc.spec.Name] = hs
	}
	return th
}

// elemDiff is the elements of old that new lacks and those of new that
// old lacks (sameElem): the common prefix and suffix first, so that a
// large set with a few changes costs no map.
func elemDiff(old, new []nftables.SetElement) (del, add []nftables.SetElement) {
	o0, n0, o1, n1 := 0, 0, len(old), len(new)
	for o0 < o1 && n0 < n1 && sameElem(&old[o0], &new[n0]) {
		o0++
		n0++
	}
	for o0 < o1 && n0 < n1 && sameElem(&old[o1-1], &new[n1-1]) {
		o1--
		n1--
	}
	if o0 == o1 {
		return nil, new[n0:n1]
	}
	if n0 == n1 {
		return old[o0:o1], nil
	}
	var buf []byte
	inOld := make(map[string]int, o1-o0)
	for i := o0; i < o1; i++ {
		buf = appendElemKey(buf[:0], &old[i])
		inOld[string(buf)]++
	}
	inNew := make(map[string]bool, n1-n0)
	for i := n0; i < n1; i++ {
		buf = appendElemKey(buf[:0], &new[i])
		inNew[string(buf)] = true
		if inOld[string(buf)] == 0 {
			add = append(add, new[i])
		}
	}
	for i := o0; i < o1; i++ {
		buf = appendElemKey(buf[:0], &old[i])
		if !inNew[string(buf)] {
			del = append(del, old[i])
		}
	}
	return del, add
}

// wholeOnly: a table with kernel objects (ct helper, ct timeout, ct
// expectation, synproxy) or object maps is programmed whole. Rules that
// stay refer to objects by name, and an object's or an object map's
// change would need the rules using it replaced first; a whole table
// deletes and adds them in the right order (ProgramPlans).
func wholeOnly(wt *wantTable) bool {
	if len(wt.tp.Objects) > 0 {
		return true
	}
	for i := range wt.named {
		if wt.named[i].ObjType != 0 {
			return true
		}
	}
	for _, wc := range wt.chains {
		for i := range wc.rules {
			for _, ps := range wc.rules[i].anon {
				if ps.ObjType != 0 {
					return true
				}
			}
		}
	}
	return false
}
