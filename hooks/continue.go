package hooks

import (
	"fmt"
	"math/bits"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
)

// Continuations (planner/continuation.go): a packet nfd carries to a rule
// only the kernel can evaluate goes back with NF_REPEAT and the point's id
// in the continuation bits of its mark; a packet a continuation chain
// queues back carries the id of the point where nfd resumes. The bits are
// taken from --mark-mask like the flow-bypass bits, before them (a
// ruleset needs them to run at all; bypass only saves trips), and never
// from a bit a connection may carry: they live only on packets, between a
// verdict and the dispatch rule that clears them.

// conts maps one base chain's continuation points between the planner's
// ids and the engine's keys.
type conts struct {
	id     map[rules.ContKey]uint16 // kernel points
	point  map[uint16]rules.ContKey // nfd points
	reject map[uint16]uint16        // planner.RejectKey → id
}

// buildConts resolves cp's points against the engine's chains.
func buildConts(eng *rules.Engine, cs *chainState) (*conts, error) {
	if len(cs.plan.Conts) == 0 && len(cs.plan.Rejects) == 0 {
		return nil, nil
	}
	byName := map[string]*rules.ChainInfo{}
	for _, ci := range eng.Chains {
		if ci.Family == cs.kc.Family && ci.Table == cs.kc.Table {
			byName[ci.Name] = ci
		}
	}
	out := &conts{id: map[rules.ContKey]uint16{}, point: map[uint16]rules.ContKey{}, reject: map[uint16]uint16{}}
	for _, rp := range cs.plan.Rejects {
		out.reject[planner.RejectKey(rp.Kind, rp.Code)] = rp.ID
	}
	for _, p := range cs.plan.Conts {
		var k rules.ContKey
		for _, f := range p.Frames {
			ci := byName[f.Chain]
			if ci == nil || int(k.Depth) >= len(k.Frames) {
				return nil, fmt.Errorf("continuation point %d (%s): no chain %s", p.ID, p, f.Chain)
			}
			k.Push(ci, f.Index)
		}
		if p.Kernel {
			out.id[k] = p.ID
		} else {
			out.point[p.ID] = k
		}
	}
	return out, nil
}

// contBits is the number of mark bits that hold ids up to n.
func contBits(n uint16) int { return bits.Len16(n) }

// assignContMask gives st's continuation points their mark bits: the
// highest free bits of --mark-mask. Called with d.mu held, before
// assignMarks.
func (d *Daemon) assignContMask(st, old *state) error {
	need := contBits(planner.MaxContID(st.plans))
	st.contMask = 0
	if need > 0 {
		free := maskBits(d.cfg.MarkMask &^ d.marks.dirty &^ stateBits(old))
		if len(free) < need && len(free) >= contBits(planner.MaxPointID(st.plans)) {
			// The ruleset runs without handing rejects to the kernel:
			// nfd sends them itself (hooks/reject.go), which native
			// rules see as packets of their own, not related.
			d.log.Warn("--mark-mask has no bits for the reject forms: nfd sends rejects from a raw socket, and native rules do not see them as related to their connection; give nfd more bits with --mark-mask",
				"free_bits", len(free), "needed", need)
			planner.DropRejects(st.plans)
			for _, cs := range st.chains {
				if cs.conts != nil {
					cs.conts.reject = nil
				}
			}
			need = contBits(planner.MaxContID(st.plans))
		}
		if len(free) < need {
			return fmt.Errorf("this ruleset has %d continuation points (rules only the kernel can run after rules nfd runs, and back): they need %d mark bits, and --mark-mask %#08x has %d free; give nfd more bits with --mark-mask",
				planner.MaxContID(st.plans), need, d.cfg.MarkMask, len(free))
		}
		for _, b := range free[len(free)-need:] { // need may be 0 now
			st.contMask |= b
		}
	}
	for _, tp := range st.plans {
		for _, cp := range tp.Chains {
			cp.ContMask = st.contMask
		}
	}
	return nil
}

// rejectID is the id of the reject form kind/code in this chain (false:
// nfd sends the reply itself).
func (c *conts) rejectID(kind parser.RejectKind, code uint8) (uint16, bool) {
	if c == nil || c.reject == nil {
		return 0, false
	}
	id, ok := c.reject[planner.RejectKey(kind, code)]
	return id, ok
}
