package kernel

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// The kernel objects a table plan stands for, in the order a first load
// adds them: the full path (programTables) and the incremental one
// (ProgramDiff) both start from this list, so both make the same tables.

// wantTable is one of nfd's tables as the plans want it.
type wantTable struct {
	tp     *planner.TablePlan
	chains []*wantChain
	// named are the named sets and maps; loose the anonymous sets no
	// rule refers to (added by a full load only).
	named []planner.PendingSet
	loose []planner.PendingSet
	// anonRefs counts the rules referring to each anonymous set, by ID.
	anonRefs map[uint32]int
}

// wantChain is one kernel chain and its rules in order.
type wantChain struct {
	spec  *nftables.Chain // Table is tp.Kernel
	tag   batchTag
	rules []wantRule
}

// wantRule is one kernel rule: its expressions and the anonymous sets it
// binds (added right before it).
type wantRule struct {
	exprs []expr.Any
	tag   batchTag
	anon  []*planner.PendingSet
	// hash caches the rule's key (ruleKey) across plans: a translation
	// the planner reused carries the key computed for the previous plan.
	hash *planner.ExprHash
}

// desired lays out tp's kernel objects. It sets what the full path set
// while programming: each set's table, and a continuation chain's queue
// numbers and mask from its base chain's.
func desired(mode QueueMode, tp *planner.TablePlan) *wantTable {
	t := tp.Kernel
	wt := &wantTable{tp: tp, anonRefs: map[uint32]int{}}
	anon := map[uint32]*planner.PendingSet{}
	for i := range tp.Sets {
		ps := &tp.Sets[i]
		ps.Set.Table = t
		if ps.Set.Anonymous {
			anon[ps.Set.ID] = ps
		} else {
			wt.named = append(wt.named, *ps)
		}
	}
	rule := func(exprs []expr.Any, tag batchTag) wantRule {
		r := wantRule{exprs: exprs, tag: tag}
		for _, e := range exprs {
			if id, ok := setIDOf(e); ok {
				if ps := anon[id]; ps != nil {
					if wt.anonRefs[id] == 0 {
						r.anon = append(r.anon, ps)
					}
					wt.anonRefs[id]++
				}
			}
		}
		return r
	}
	var rest []*wantChain
	for _, cp := range tp.Chains {
		ch := &nftables.Chain{Name: cp.Name, Table: t}
		if bs := cp.Base; bs != nil {
			// The user's policy: `return` and the end of a `goto`
			// target fall to it, so it cannot be emulated by a rule.
			policy := nftables.ChainPolicyAccept
			if bs.Policy == parser.VerdictDrop {
				policy = nftables.ChainPolicyDrop
			}
			ch.Type = planner.ChainType(bs.Type)
			ch.Hooknum = nftables.ChainHookRef(nftables.ChainHook(bs.Hook))
			ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(bs.Priority))
			ch.Policy = &policy
		}
		wc := &wantChain{spec: ch, tag: batchTag{tp: tp, chain: cp.Name, what: "chain"}}
		wc.rules = make([]wantRule, 0, 1+len(cp.Rules)+len(cp.Guards)+len(cp.After)+4)
		wt.chains = append(wt.chains, wc)
		if cp.Dispatches() {
			ps := cp.DispatchSet()
			ps.Set.Table = t
			anon[ps.Set.ID] = &ps
			wc.rules = append(wc.rules, rule(planner.DispatchExprs(cp.ContMask, ps.Set.Name, ps.Set.ID),
				batchTag{tp: tp, chain: cp.Name, what: "continuation dispatch rule"}))
		}
		wc.rules = appendChainRules(wc.rules, mode, tp, cp, rule)
		for _, cc := range cp.ContChains {
			cc.QueueNum, cc.QueueTotal, cc.ContMask = cp.QueueNum, cp.QueueTotal, cp.ContMask
			wcc := &wantChain{spec: &nftables.Chain{Name: cc.Name, Table: t},
				tag: batchTag{tp: tp, chain: cp.Name, what: "continuation chain " + cc.Name}}
			wcc.rules = appendChainRules(nil, mode, tp, cc, rule)
			wt.chains = append(wt.chains, wcc)
		}
		if cp.Queue && cp.BypassBit != 0 {
			// The copy chain runs right after this one at the same hook.
			bs := cp.Base
			policy := nftables.ChainPolicyAccept
			bc := &wantChain{spec: &nftables.Chain{Name: planner.BypassChainPrefix + cp.Name, Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: nftables.ChainHookRef(nftables.ChainHook(bs.Hook)), Priority: nftables.ChainPriorityRef(nftables.ChainPriority(bs.Priority + 1)),
				Policy: &policy}, tag: batchTag{tp: tp, chain: cp.Name, what: "flow-bypass chain"}}
			bc.rules = []wantRule{rule(planner.BypassCopyExprs(cp.BypassBit), batchTag{tp: tp, chain: cp.Name, what: "flow-bypass rule"})}
			rest = append(rest, bc)
		}
	}
	wt.chains = append(wt.chains, rest...)
	if tp.DNS != nil {
		wt.chains = append(wt.chains, dnsChains(mode, tp)...)
	}
	for i := range tp.Sets {
		if ps := tp.Sets[i]; ps.Set.Anonymous && wt.anonRefs[ps.Set.ID] == 0 {
			wt.loose = append(wt.loose, ps)
		}
	}
	return wt
}

// setIDOf is the set an expression refers to by ID.
func setIDOf(e expr.Any) (uint32, bool) {
	switch e := e.(type) {
	case *expr.Lookup:
		return e.SetID, true
	case *expr.Dynset:
		return e.SetID, true
	}
	return 0, false
}

// appendChainRules appends the rules of one chain after its dispatch
// rule, in its layout's order, to out.
func appendChainRules(out []wantRule, mode QueueMode, tp *planner.TablePlan, cp *planner.ChainPlan, rule func([]expr.Any, batchTag) wantRule) []wantRule {
	if out == nil {
		out = make([]wantRule, 0, len(cp.Rules)+len(cp.Guards)+len(cp.After)+4)
	}
	for i, r := range cp.Rules {
		tag := batchTag{tp: tp, chain: cp.Name, ref: &cp.Refs[i]}
		if cp.Refs[i].Chain == "" {
			tag = batchTag{tp: tp, chain: cp.Name, what: "continuation jump"}
		}
		wr := rule(r, tag)
		wr.hash = hashAt(cp.Hashes, len(cp.Rules), i)
		out = append(out, wr)
	}
	for _, r := range tail(cp, mode) {
		wr := rule(r.exprs, batchTag{tp: tp, chain: cp.Name, ref: r.ref, what: r.what})
		wr.hash = r.hash
		out = append(out, wr)
	}
	return out
}

// hashAt is hashes[i] when hashes parallels n rules (nil otherwise).
func hashAt(hashes []*planner.ExprHash, n, i int) *planner.ExprHash {
	if len(hashes) != n {
		return nil
	}
	return hashes[i]
}
