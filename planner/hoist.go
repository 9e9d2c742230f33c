package planner

import (
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// Guarded queueing. Without it a chain's first userspace rule sends every
// packet that reaches it to nfd, and every rule after it runs in
// userspace to keep first-match order. But a userspace rule can only
// match packets that pass its kernel-expressible matches (`tcp dport 443`
// of `tcp dport 443 tls sni "x" accept`): a packet that passes none of
// the userspace rules' guards cannot match any of them, so for it the
// chain is just its kernel-expressible rules, which the kernel can run.
// The chain becomes: native prefix, bypass accept, one queue rule per
// userspace rule (its guard, then the queue), then the kernel-expressible
// rules from the first userspace rule on. nfd evaluates from that first
// userspace rule for what it is given, as before; the rules it shares
// with the kernel count packets in both places (Placement.Both).

// hoist fills cp.Guards and cp.After for chain c from cp.Start, and the
// placements of those rules. It returns false, with nothing changed, when
// some userspace rule has no usable guard (a match the kernel cannot run
// besides nfd's own layer-7 ones, or no match at all).
func (tr *translator) hoist(c *parser.Chain, cp *ChainPlan, placements *Placements) bool {
	// A limit or a quota would be split in two: the kernel's token bucket
	// or byte count for some packets, nfd's for the others.
	seen := map[*parser.Chain]bool{}
	for _, r := range c.Rules[cp.Start:] {
		if limits(tr.t, r, seen) {
			return false
		}
	}
	n := len(tr.pending)
	var guards, after [][]expr.Any
	var refs []RuleRef
	var ctrs []int
	var hashes []*ExprHash
	reasons := map[RuleRef]string{}
	for i := cp.Start; i < len(c.Rules); i++ {
		r := c.Rules[i]
		ref := RuleRef{tr.t.Family, tr.t.Name, c.Name, i}
		x, err := tr.ruleAt(c, i)
		if err == nil {
			after = append(after, x.counted)
			refs = append(refs, ref)
			ctrs = append(ctrs, x.ord)
			hashes = append(hashes, x.hash)
			continue
		}
		g, ok := tr.guard(r)
		if !ok {
			tr.rollback(n)
			return false
		}
		guards = append(guards, g)
		reasons[ref] = reasonOf(err, "userspace")
	}
	cp.Guards, cp.After, cp.AfterRefs, cp.AfterCtr, cp.AfterHashes = guards, after, refs, ctrs, hashes
	for _, ref := range refs {
		placements.set(ref, Placement{Kernel: true, Both: true})
	}
	for ref, why := range reasons {
		if ref.Index > cp.Start { // the first one's placement is already set
			placements.set(ref, Placement{Reason: why})
		}
	}
	return true
}

// guard translates the matches of a userspace rule that the kernel can
// run, leaving out nfd's layer-7 matches; ok is false when another match
// cannot be translated or nothing is left to test.
func (tr *translator) guard(r *parser.Rule) (exprs []expr.Any, ok bool) {
	var have depState
	n := len(tr.pending)
	tested := false
	for _, st := range r.Stmts {
		m, isMatch := st.(*parser.Match)
		if !isMatch {
			continue // statements and the verdict: nfd runs them
		}
		if layer7(m) {
			continue
		}
		e, err := tr.stmt(m, &have)
		if err != nil {
			tr.rollback(n)
			return nil, false
		}
		exprs = append(exprs, e...)
		tested = true
	}
	if !tested {
		tr.rollback(n)
		return nil, false
	}
	return exprs, true
}

// limits reports whether a rule, or a chain it jumps or goes to, has a
// limit or quota statement.
func limits(t *parser.Table, r *parser.Rule, seen map[*parser.Chain]bool) bool {
	var targets []string
	for _, st := range r.Stmts {
		switch st := st.(type) {
		case *parser.Limit, *parser.Quota:
			return true
		case *parser.Verdict:
			targets = append(targets, st.Target)
		case *parser.VMap:
			els := st.Val.Elems
			if st.Val.CatchAll != nil {
				els = append(els[:len(els):len(els)], *st.Val.CatchAll)
			}
			for _, e := range els {
				if e.Verdict != nil {
					targets = append(targets, e.Verdict.Target)
				}
			}
			if st.Val.SetRef != "" {
				if set := t.Set(st.Val.SetRef); set != nil {
					els := set.Elems
					if set.CatchAll != nil {
						els = append(els[:len(els):len(els)], *set.CatchAll)
					}
					for _, e := range els {
						if e.Verdict != nil {
							targets = append(targets, e.Verdict.Target)
						}
					}
				}
			}
		}
	}
	for _, name := range targets {
		c := t.Chain(name)
		if name == "" || c == nil || seen[c] {
			continue
		}
		seen[c] = true
		for _, cr := range c.Rules {
			if limits(t, cr, seen) {
				return true
			}
		}
	}
	return false
}

// NoEventsExprs: ct event set 0.
func NoEventsExprs() []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: []byte{0, 0, 0, 0}},
		&expr.Ct{Key: expr.CtKeyEVENTMASK, Register: reg1, SourceRegister: true},
	}
}

func layer7(m *parser.Match) bool {
	for _, k := range m.Keys {
		switch k {
		case parser.FieldTLSSNI, parser.FieldHTTPHost, parser.FieldDNSQname:
			return true
		}
	}
	return false
}
