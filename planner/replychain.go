package planner

import (
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// Kernel replies at queued chains.
//
// A reply the kernel's nft_reject builds (nf_send_reset(),
// nf_send_unreach()) carries the rejected packet's conntrack entry
// (nf_ct_attach()) and leaves through the output hook at once, inside the
// reject; a reply to the host itself comes back through lo, and
// netif_rx() runs the receive softirq at once too (prerouting, input),
// while the rejected packet still lives. For a connection's first packet
// that entry is unconfirmed and still held by the rejected packet, and
// nfnetlink_queue drops such a packet rather than queue it
// (nf_ct_drop_unconfirmed()): the reply would be lost at nfd's queue
// rule, where without nfd it runs the chain's rules. So a queued base
// chain at any hook a reply takes (all but forward) gets, just before
// its queue rule, a guard that sends exactly those packets — ct state
// related, direction reply (IP_CT_RELATED_REPLY: a reply to the original
// direction), entry not confirmed — to a continuation chain holding the
// chain's rules from cp.Start natively. Its layer-7 name rules are left
// out: such a packet (a RST without payload, or an ICMP error) has no
// name, its connection never got one (the rejected packet was its
// first), and a name match without a name is false in nfd, negated or not.
// Under --offload=none too: nfd cannot be given these packets at all.
// A chain with a rule that cannot be written natively for another reason,
// or with a limit or quota (its state would be split between the kernel
// and nfd), gets no guard, and the daemon sends rejects of first packets
// itself.

// ReplyChainSuffix ends the name of a base chain's reply chain.
const ReplyChainSuffix = "-reply"

// replyChain lays out c's reply chain and guard (cp.ReplyChain), for a
// queued filter base chain at a hook other than forward.
func (tr *translator) replyChain(c *parser.Chain, cp *ChainPlan, placements *Placements) {
	if c.Base == nil || c.Base.Type != parser.ChainFilter || c.Base.Hook == parser.HookForward {
		return
	}
	name := ContChainPrefix + c.Name + ReplyChainSuffix
	if len(name) > maxNameLen {
		return
	}
	// A limit or quota would be split in two (hoist.go): the kernel's
	// for the replies, nfd's for the rest.
	seen := map[*parser.Chain]bool{}
	for _, r := range c.Rules[cp.Start:] {
		if limits(tr.t, r, seen) {
			return
		}
	}
	w := &ChainPlan{Name: name, Parent: cp}
	var refs []RuleRef
	n := len(tr.pending)
	for j := cp.Start; j < len(c.Rules); j++ {
		r := c.Rules[j]
		if hasName(r) {
			continue
		}
		x, err := tr.ruleAt(c, j)
		if err != nil {
			tr.rollback(n)
			return
		}
		ref := RuleRef{tr.t.Family, tr.t.Name, c.Name, j}
		w.addRule(x, ref)
		refs = append(refs, ref)
	}
	for _, ref := range refs {
		if pl := placements.get(ref); !pl.Kernel || pl.Both {
			pl.Kernel, pl.Both = true, true
			placements.set(ref, pl)
		}
	}
	cp.ContChains = append(cp.ContChains, w)
	cp.ReplyChain = name
	cp.addOther(ReplyGuardExprs(name))
}

// hasName reports whether r matches a layer-7 name.
func hasName(r *parser.Rule) bool {
	for _, s := range r.Stmts {
		var keys []parser.Field
		switch s := s.(type) {
		case *parser.Match:
			keys = s.Keys
		case *parser.VMap:
			keys = s.Keys
		}
		for _, k := range keys {
			if k.Userspace() {
				return true
			}
		}
	}
	return false
}

// ReplyGuardExprs: ct state related, ct direction reply, ct status &
// confirmed == 0, goto chain.
func ReplyGuardExprs(chain string) []expr.Any {
	const related, confirmed = 1 << 2, 1 << 3 // NF_CT_STATE_BIT(IP_CT_RELATED), IPS_CONFIRMED
	ne := binaryutil.NativeEndian.PutUint32
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne(related), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{1}},
		&expr.Ct{Key: expr.CtKeySTATUS, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: ne(confirmed), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictGoto, Chain: chain},
	}
}
