package rules

import "github.com/nfdproject/nfd/parser"

// Continuing in the kernel. Some rules only the kernel can evaluate (a
// field NFQUEUE does not deliver, such as `meta pkttype` or `fib`, or a
// statement only the kernel has, such as `dup`). When evaluation reaches
// one, the engine stops with the verdict Continue and records in Ctx.Cont
// where the kernel must go on: the call stack (each lower frame's chain and
// the index of the rule that jumped from it) and the rule to resume at.
// The daemon turns that into NF_REPEAT with a continuation id in its mark
// bits (planner/continuation.go lays out the kernel side); the kernel
// re-enters the base chain, whose first rule dispatches to a chain holding
// the native tail from that rule on, so the rules before it do not run
// twice. EvalFrom is the way back: a continuation chain that reaches a rule
// only nfd can run queues the packet again, marked with the point nfd
// resumes at.

// ContFrame is one frame of a continuation point: a chain and a rule index
// (for lower frames, the rule that jumped; for the top frame, the rule to
// resume at).
type ContFrame struct {
	Chain *ChainInfo
	Index int32
}

// ContKey is a continuation point: Frames[:Depth], the base chain's frame
// (or the chain it went to) first. It is comparable, so it keys maps
// without allocating.
type ContKey struct {
	Depth  uint8
	Frames [parser.MaxJumpDepth + 1]ContFrame
}

// Push appends a frame.
func (k *ContKey) Push(ch *ChainInfo, index int) {
	k.Frames[k.Depth] = ContFrame{Chain: ch, Index: int32(index)}
	k.Depth++
}

// DefaultKernelOnly is the engine's own test of a rule only the kernel can
// evaluate: it reads a field the kernel alone knows (the field table's
// KernelOnly) or holds a statement only the kernel runs. The daemon passes
// the planner's test instead (Options.KernelOnly), so both agree.
func DefaultKernelOnly(_ *parser.Table, r *parser.Rule) bool {
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *parser.Match:
			for _, k := range s.Keys {
				if k.KernelOnly() != "" {
					return true
				}
			}
		case *parser.VMap:
			for _, k := range s.Keys {
				if k.KernelOnly() != "" {
					return true
				}
			}
		case *parser.Notrack, parser.KernelOnlyStmt:
			return true
		}
		if parser.KernelOnly(s) != "" {
			return true
		}
	}
	return false
}

// kernelStop reports whether evaluation must stop at r and continue in
// the kernel: the rule is kernel-only and its leading matches nfd can
// evaluate (pure ones, without side effects) all hold. A rule whose
// leading matches fail cannot match in the kernel either, so nfd goes on.
func (r *rule) kernelStop(c *Ctx) bool {
	for i := 0; i < int(r.pre); i++ {
		if !r.ops[i].match(c) {
			return false
		}
	}
	return true
}

// fillCont records where the kernel resumes: the stack below cur and, for
// the top frame, the first rule of the kernel-only run holding ri (nfd ran
// none of that run, so resuming at its start changes nothing).
func fillCont(c *Ctx, depth int, run int32) {
	k := &c.Cont
	*k = ContKey{} // frames above the depth take part in comparisons
	for i := 0; i < depth; i++ {
		k.Push(c.stack[i].ch.info, int(c.stack[i].ri))
	}
	k.Push(c.stack[depth].ch.info, int(run))
}

// EvalFrom decides a packet that a continuation chain queued back: the
// evaluation resumes at point k (its top frame's rule; returns go on
// after each lower frame's jump). ok is false when k names no chain of
// this engine or a frame out of range.
func (e *Engine) EvalFrom(c *Ctx, b *Base, k *ContKey) (Decision, bool) {
	if k.Depth == 0 || int(k.Depth) > len(c.stack) {
		return Decision{}, false
	}
	for i := 0; i < int(k.Depth); i++ {
		f := k.Frames[i]
		ch := e.chainOf[f.Chain]
		if ch == nil || f.Index < 0 || int(f.Index) > len(ch.rules) {
			return Decision{}, false
		}
		fr := &c.stack[i]
		fr.ch = ch
		fr.it.init(c, ch)
		fr.from = f.Index + 1
		fr.ri = f.Index
	}
	c.stack[k.Depth-1].from = k.Frames[k.Depth-1].Index
	return e.run(c, b.c, int(k.Depth)-1), true
}
