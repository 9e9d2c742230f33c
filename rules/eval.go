package rules

import "github.com/nfdproject/nfd/parser"

// Verdict is the engine's answer for a packet at a hook.
type Verdict uint8

const (
	Accept Verdict = iota + 1
	Drop
	Reject
	// Continue: nfd reached a rule only the kernel can evaluate; the
	// kernel goes on at Ctx.Cont (rules/continue.go).
	Continue

	// NumVerdicts bounds the verdicts: arrays indexed by Verdict have
	// this length.
	NumVerdicts = iota + 1
)

func (v Verdict) String() string { return [...]string{"", "accept", "drop", "reject", "continue"}[v] }

// Decision is a verdict and what decided it.
type Decision struct {
	Verdict    Verdict
	RejectKind parser.RejectKind
	RejectCode uint8
	// Rule decided, or nil when a chain's policy did (or no chain applied).
	Rule *RuleInfo
	// Chain is the base chain whose rule or policy decided.
	Chain *ChainInfo
}

type frame struct {
	ch *chain
	it iter
	// from: rules before it are skipped (they ran in the kernel, or
	// before a continuation); ri: the rule being evaluated.
	from, ri int32
}

// Eval decides a packet at c.Hook, going through every base chain of the
// packet's family at that hook in priority order: an accept moves on to
// the next base chain, drop and reject end it. It allocates nothing.
func (e *Engine) Eval(c *Ctx) Decision {
	fam := 0
	switch c.P.Family {
	case 4:
	case 6:
		fam = 1
	default:
		return Decision{Verdict: Accept}
	}
	d := Decision{Verdict: Accept}
	for _, ch := range e.hooks[c.Hook][fam] {
		d = e.evalBase(c, ch, 0)
		if d.Verdict != Accept {
			return d
		}
	}
	return d
}

// EvalBase decides a packet in one base chain only, as the kernel runs
// that chain: its rules, then its policy. Packets of a family the chain's
// table does not take are accepted untouched.
func (e *Engine) EvalBase(c *Ctx, b *Base) Decision { return e.EvalBaseFrom(c, b, 0) }

// EvalBaseFrom is EvalBase starting at the chain's rule start: the rules
// before it ran in the kernel (offloaded) and did not decide the packet.
func (e *Engine) EvalBaseFrom(c *Ctx, b *Base, start int) Decision {
	fam := uint8(1)
	if c.P.Family == 6 {
		fam = 2
	} else if c.P.Family != 4 {
		return Decision{Verdict: Accept}
	}
	if b.c.fams&fam == 0 {
		return Decision{Verdict: Accept}
	}
	return e.evalBase(c, b.c, int32(start))
}

func (e *Engine) evalBase(c *Ctx, base *chain, start int32) Decision {
	cur := &c.stack[0]
	cur.ch = base
	cur.it.init(c, base)
	cur.from = start
	return e.run(c, base, 0)
}

// run evaluates from the frames set up in c.stack[:depth+1].
func (e *Engine) run(c *Ctx, base *chain, depth int) Decision {
	stack := &c.stack
	cur := &stack[depth]
	for {
		ri, ok := cur.it.next()
		if !ok {
			if depth == 0 {
				return policy(base)
			}
			depth--
			cur = &stack[depth]
			continue
		}
		if ri < cur.from {
			continue
		}
		cur.ri = ri
		r := &cur.ch.rules[ri]
		if r.pre >= 0 {
			if r.kernelStop(c) {
				if e.offline {
					// Nothing to continue in: assume no match, say so.
					if c.Assumed == nil {
						c.Assumed = r.info
					}
					continue
				}
				fillCont(c, depth, r.run)
				return Decision{Verdict: Continue, Rule: r.info, Chain: base.info}
			}
			continue
		}
		v := r.eval(c)
		if v == nil {
			continue
		}
		switch v.kind {
		case vAccept:
			return Decision{Verdict: Accept, Rule: r.info, Chain: base.info}
		case vDrop:
			return Decision{Verdict: Drop, Rule: r.info, Chain: base.info}
		case vReject:
			return Decision{Verdict: Reject, RejectKind: v.reject, RejectCode: v.code, Rule: r.info, Chain: base.info}
		case vReturn:
			if depth == 0 {
				return policy(base)
			}
			depth--
			cur = &stack[depth]
		case vJump:
			if depth+1 >= len(stack) {
				// Cannot happen: the parser refuses deeper nesting.
				return Decision{Verdict: Drop, Rule: r.info, Chain: base.info}
			}
			depth++
			cur = &stack[depth]
			cur.ch = v.target
			cur.it.init(c, v.target)
			cur.from = 0
		case vGoto:
			cur.ch = v.target
			cur.it.init(c, v.target)
			cur.from = 0
		}
	}
}

func policy(base *chain) Decision {
	if base.policy == vDrop {
		return Decision{Verdict: Drop, Chain: base.info}
	}
	return Decision{Verdict: Accept, Chain: base.info}
}

// eval runs one rule: matches until one fails, statements in order, and
// returns its verdict or nil to go on with the next rule.
func (r *rule) eval(c *Ctx) *verdict {
	for i := range r.ops {
		o := &r.ops[i]
		if o.match != nil {
			if !o.match(c) {
				return nil
			}
			continue
		}
		if v := o.exec(c); v != nil {
			if v.kind == vBreak {
				return nil
			}
			if v.kind == vContinue {
				// NFT_CONTINUE (a verdict map's `continue`) goes on with
				// the rule's next expression, as nft_do_chain() does.
				continue
			}
			r.count(c)
			return v
		}
	}
	r.count(c)
	return nil
}

func (r *rule) count(c *Ctx) {
	r.info.Counts.Packets.Add(1)
	r.info.Counts.Bytes.Add(uint64(c.P.Len()))
}
