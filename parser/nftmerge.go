package parser

import "sort"

// nft 1.0.6 merges a rule's equality (or inequality) matches on adjacent
// header bytes into one load and one comparison (payload_do_merge in its
// evaluate.c): `tcp sport 22 tcp dport 80` becomes one 4-byte compare.
// For `==` that changes nothing but the order of the statements around
// it; for `!=` it changes the meaning — `tcp sport != 22 tcp dport != 80`
// then matches when *either* port differs — and the kernel runs what nft
// loaded. nfd promises the meaning `nft -f` gives, so it merges the same
// way: mergeLikeNft rewrites a rule as nft 1.0.6 does (checked against
// `nft --debug=netlink` by TestNftMerge and the kernel oracle).

// mergeCandidate reports whether a statement is one nft would merge: a
// single header field of whole bytes compared with one constant.
func mergeCandidate(s Stmt) (*Match, bool) {
	m, ok := s.(*Match)
	if !ok || len(m.Keys) != 1 || m.Mask != nil || m.Val.Anon || m.Val.SetRef != "" || len(m.Val.Elems) != 1 {
		return nil, false
	}
	e := m.Val.Elems[0]
	fi := m.Keys[0].Info()
	if string(e.Lo) != string(e.Hi) || fi.Exists || fi.KernelOnly != "" && fi.Base != BaseLL {
		return nil, false
	}
	switch fi.Base {
	case BaseLL, BaseNH, BaseTH:
	default:
		return nil, false
	}
	if fi.Off%8 != 0 || fi.Bits()%8 != 0 || len(e.Lo)*8 != int(fi.Bits()) {
		return nil, false
	}
	switch m.Op {
	case OpEq, OpNe:
	case OpImplicit:
		if fi.Type.Bitmask {
			return nil, false // "any of these flags" is not a comparison
		}
	default:
		return nil, false
	}
	return m, true
}

func opClass(o Op) Op {
	if o == OpImplicit {
		return OpEq
	}
	return o
}

// protocolKey reports whether a field names the next protocol (nft keeps
// a merged match at such a field's place).
func protocolKey(f Field) bool {
	switch f.String() {
	case "ip protocol", "ip6 nexthdr", "ether type", "vlan type":
		return true
	}
	return false
}

// mergeLikeNft merges r's adjacent header matches as nft 1.0.6 does and
// reports whether it changed r.
func mergeLikeNft(r *Rule) bool {
	type cand struct {
		m   *Match
		idx int
	}
	var sa []cand
	for i, s := range r.Stmts {
		if m, ok := mergeCandidate(s); ok {
			sa = append(sa, cand{m, i})
		}
	}
	if len(sa) < 2 {
		return false
	}
	sort.SliceStable(sa, func(i, j int) bool {
		a, b := sa[i].m.Keys[0].Info(), sa[j].m.Keys[0].Info()
		if a.Base != b.Base {
			return a.Base < b.Base
		}
		return a.Off < b.Off
	})
	drop := map[int]bool{}
	last := 0
	for i := 1; i < len(sa); i++ {
		l, t := sa[last].m, sa[i].m
		lf, tf := l.Keys[len(l.Keys)-1].Info(), t.Keys[0].Info()
		total := 0
		for _, k := range l.Keys {
			total += int(k.Info().Bits())
		}
		total += int(tf.Bits())
		adjacent := lf.Base == tf.Base && lf.Off+lf.Bits() == tf.Off
		// payload_can_merge(): up to 32 bits, or up to 128 in the
		// link-layer header.
		fits := total <= 32 || lf.Base == BaseLL && total <= 128
		if !adjacent || !fits || opClass(l.Op) != opClass(t.Op) {
			last = i
			continue
		}
		merged := &Match{Pos: l.Pos, Keys: append(append([]Field(nil), l.Keys...), t.Keys...), Op: opClass(l.Op), Merged: true,
			Val: Value{Pos: l.Val.Pos, Elems: []Elem{{Lo: append(append([]byte(nil), l.Val.Elems[0].Lo...), t.Val.Elems[0].Lo...)}}}}
		merged.Val.Elems[0].Hi = merged.Val.Elems[0].Lo
		if merged.Op == OpEq {
			merged.Op = OpImplicit
		}
		// The merged match takes the first's place, or the second's
		// when that one names the next protocol.
		at, gone := sa[last].idx, sa[i].idx
		if protocolKey(t.Keys[0]) {
			at, gone = gone, at
		}
		r.Stmts[at] = merged
		drop[gone] = true
		sa[last] = cand{merged, at}
	}
	if len(drop) == 0 {
		return false
	}
	out := r.Stmts[:0]
	for i, s := range r.Stmts {
		if !drop[i] {
			out = append(out, s)
		}
	}
	r.Stmts = out
	return true
}
