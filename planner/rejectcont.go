package planner

import (
	"fmt"
	"sort"

	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// Rejects the kernel sends. When nfd decides that a queued packet is
// rejected, it does not build the reply itself: it hands the packet back
// with NF_REPEAT and the id of the reject's form in its continuation bits,
// and the base chain's dispatch rule goes to a continuation chain holding
// that one native `reject` statement. So nft_reject_inet_eval() (or the
// ipv4/ipv6 one) runs on the real skb, and the reply is the kernel's in
// every respect: nf_send_reset()/nf_send_unreach() build it from the
// packet, route it as the kernel does (an ICMP error of a forwarded packet
// leaves from the host's own address) and tie it to the packet's
// connection with nf_ct_attach(), so native rules see it `related`, not
// as an invalid packet of its own, which a reply sent from a raw socket
// would be.
//
// This holds under --offload=none as well: nfd still evaluates every rule
// it can (the rule that rejects is decided in nfd, its counter, limits and
// logs run there); only the delivery of the verdict it reached, the reply
// packet, is the kernel's, which is more exact than nfd's own builder.
//
// A reject id names a form (kind and code), not a rule: the same ids
// serve every base chain, each base chain's dispatch map holding the
// forms its own rules (and the chains they reach) can reject with. That
// cannot send a packet to another chain's continuation: the reject id is
// set only on an NF_REPEAT verdict, and the first rule the packet meets
// after it is the dispatch of the chain that queued it.

// RejectPoint is one reject form of a base chain and the continuation
// chain that runs it.
type RejectPoint struct {
	ID    uint16
	Kind  parser.RejectKind
	Code  uint8
	Chain string
	Pos   parser.Pos // the first reject of this form
}

// RejectKey is the key of a reject form: kind and code.
func RejectKey(kind parser.RejectKind, code uint8) uint16 { return uint16(kind)<<8 | uint16(code) }

// rejectChains gives queued base chain c (plan cp) one continuation chain
// per reject form its rules can reach: every chain it jumps or goes to,
// transitively. The ids are given by numberRejects once every table is
// planned.
func (tr *translator) rejectChains(c *parser.Chain, cp *ChainPlan) error {
	seen := map[string]bool{}
	forms := map[uint16]*parser.Reject{}
	var visit func(ch *parser.Chain)
	visit = func(ch *parser.Chain) {
		if ch == nil || seen[ch.Name] {
			return
		}
		seen[ch.Name] = true
		for _, r := range ch.Rules {
			for _, s := range r.Stmts {
				if rj, ok := s.(*parser.Reject); ok {
					if k := RejectKey(rj.Kind, rj.Code); forms[k] == nil {
						forms[k] = rj
					}
				}
			}
			for _, tg := range targets(tr.t, r) {
				visit(tr.t.Chain(tg.name))
			}
		}
	}
	visit(c)
	keys := make([]int, 0, len(forms))
	for k := range forms {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	for _, k := range keys {
		rj := forms[uint16(k)]
		name := fmt.Sprintf("%s%s-reject-%d-%d", ContChainPrefix, c.Name, rj.Kind, rj.Code)
		if len(name) > maxNameLen {
			return errorf(c.Pos, "chain name `%s` is too long for nfd: its reject chains would have %d bytes, the kernel takes %d", c.Name, len(name), maxNameLen)
		}
		exprs, err := tr.reject(&parser.Reject{Kind: rj.Kind, Code: rj.Code}, &depState{})
		if err != nil {
			return errorf(rj.Pos, "nfd hands rejects to the kernel, but cannot write this one as native nftables: %v", err)
		}
		cp.ContChains = append(cp.ContChains, &ChainPlan{Name: name, Parent: cp,
			Rules: [][]expr.Any{exprs}, Refs: []RuleRef{{}}, Ctr: []int{-1}})
		cp.Rejects = append(cp.Rejects, &RejectPoint{Kind: rj.Kind, Code: rj.Code, Chain: name, Pos: rj.Pos})
	}
	return nil
}

// numberRejects gives every reject form of the ruleset an id after all
// other continuation points (so MaxContID without them is the points'),
// the same id for a form in every base chain.
func numberRejects(plans []*TablePlan, ids *contIDs) error {
	byKey := map[uint16]uint16{}
	pos := map[uint16]parser.Pos{}
	var keys []int
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			for _, rp := range cp.Rejects {
				k := RejectKey(rp.Kind, rp.Code)
				if _, ok := byKey[k]; !ok {
					byKey[k], pos[k] = 0, rp.Pos
					keys = append(keys, int(k))
				}
			}
		}
	}
	sort.Ints(keys)
	for _, k := range keys {
		if ids.next >= MaxContPoints {
			return errorf(pos[uint16(k)], "this reject needs continuation point %d (nfd hands each reject form to the kernel with one), and nfd allows %d per ruleset: place the rules only the kernel can run (or only nfd can run) closer together",
				ids.next+1, MaxContPoints)
		}
		ids.next++
		byKey[uint16(k)] = uint16(ids.next)
	}
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			for _, rp := range cp.Rejects {
				rp.ID = byKey[RejectKey(rp.Kind, rp.Code)]
			}
		}
	}
	return nil
}

// MaxPointID is the largest id of plans' continuation points other than
// reject forms (0: none): the ids that must have mark bits for the
// ruleset to run at all.
func MaxPointID(plans []*TablePlan) uint16 {
	var m uint16
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			for _, p := range cp.Conts {
				m = max(m, p.ID)
			}
		}
	}
	return m
}

// DropRejects makes plans send no reject through the kernel (the daemon
// sends them itself): for a --mark-mask without bits for their ids.
func DropRejects(plans []*TablePlan) {
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			if len(cp.Rejects) == 0 {
				continue
			}
			drop := map[string]bool{}
			for _, rp := range cp.Rejects {
				drop[rp.Chain] = true
			}
			kept := cp.ContChains[:0]
			for _, cc := range cp.ContChains {
				if !drop[cc.Name] {
					kept = append(kept, cc)
				}
			}
			cp.ContChains, cp.Rejects = kept, nil
		}
	}
}
