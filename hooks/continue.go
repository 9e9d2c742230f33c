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

// Continuation ids across a reload. The kernel keeps its base chains
// registered over a reload (kernel.ProgramPlans), so packets queued under
// the old ruleset are decided after nfd published the new one, and a
// packet nfd decided under the old one can be handed back after the new
// one is in the kernel. A mark value that meant a point of the old
// ruleset must then mean nothing in the new one: the new ruleset's ids
// are renumbered (contLayout) so that no value the old ruleset used, read
// under the new bits, is one of its ids. Such a packet misses the
// dispatch map (its bits are cleared, and the chain runs from its
// first rule, nfd deciding it under the new ruleset from the queue rule
// on), and nfd, finding no point for it, evaluates it from the chain's
// start: it is judged by the new rules, never resumed at a point of
// theirs that happens to carry its old id. The new bits keep the old
// ones where they can, so the dispatch clears stale bits too. When the
// free bits cannot hold both ranges, the ids start at 1 again and the
// daemon warns: a packet in flight across that reload can resume at the
// wrong point.

// contLayout chooses the bits (from free, highest first taken) and the
// ids for n continuation points (ids[i] for the planner's id i+1), given
// the mark values the old ruleset uses under oldMask: the fewest bits
// whose smallest ids avoid every old value read under them. separate is
// false when no choice keeps clear of them (ids then are 1..n).
func contLayout(free []uint32, n int, oldMask uint32, oldVals []uint32) (mask uint32, ids []uint16, separate bool) {
	top := func(b int) uint32 {
		var m uint32
		for _, bit := range free[len(free)-b:] {
			m |= bit
		}
		return m
	}
	least := contBits(uint16(n))
	if n == 0 || least > len(free) {
		return 0, nil, n == 0
	}
	if len(oldVals) > 0 {
		for b := least; b <= len(free); b++ {
			m := top(b)
			if oldMask&^m != 0 {
				continue // stale bits outside the mask would reach the rules
			}
			stale := map[uint16]bool{}
			for _, v := range oldVals {
				stale[planner.ContID(v&m, m)] = true
			}
			ids = ids[:0]
			for id := 1; id < 1<<b && len(ids) < n; id++ {
				if !stale[uint16(id)] {
					ids = append(ids, uint16(id))
				}
			}
			if len(ids) == n {
				return m, ids, true
			}
		}
	}
	ids = ids[:0]
	for id := 1; id <= n; id++ {
		ids = append(ids, uint16(id))
	}
	return top(least), ids, len(oldVals) == 0
}

// contValues lists the mark values st's continuation ids use.
func contValues(st *state) []uint32 {
	if st == nil || st.contMask == 0 {
		return nil
	}
	var out []uint32
	for _, tp := range st.plans {
		for _, cp := range tp.Chains {
			for _, p := range cp.Conts {
				out = append(out, planner.ContValue(p.ID, st.contMask))
			}
			for _, rp := range cp.Rejects {
				out = append(out, planner.ContValue(rp.ID, st.contMask))
			}
		}
	}
	return out
}

// renumber gives every continuation id i of plans the id ids[i-1].
func renumber(plans []*planner.TablePlan, ids []uint16) {
	to := func(id uint16) uint16 {
		if id == 0 || int(id) > len(ids) {
			return id
		}
		return ids[id-1]
	}
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			for _, p := range cp.Conts {
				p.ID = to(p.ID)
			}
			for _, rp := range cp.Rejects {
				rp.ID = to(rp.ID)
			}
			for _, cc := range cp.ContChains {
				cc.QueueID = to(cc.QueueID)
			}
		}
	}
}

// assignContMask gives st's continuation points their mark bits: the
// highest free bits of --mark-mask, and ids clear of old's (see above).
// Called with d.mu held, before assignMarks.
func (d *Daemon) assignContMask(st, old *state) error {
	n := int(planner.MaxContID(st.plans))
	st.contMask = 0
	if n > 0 {
		free := maskBits(d.cfg.MarkMask &^ d.marks.dirty &^ stateBits(old))
		if contBits(uint16(n)) > len(free) && contBits(planner.MaxPointID(st.plans)) <= len(free) {
			// The ruleset runs without handing rejects to the kernel:
			// nfd sends them itself (hooks/reject.go), which native
			// rules see as packets of their own, not related.
			d.log.Warn("--mark-mask has no bits for the reject forms: nfd sends rejects from a raw socket, and native rules do not see them as related to their connection; give nfd more bits with --mark-mask",
				"free_bits", len(free), "needed", contBits(uint16(n)))
			planner.DropRejects(st.plans)
			n = int(planner.MaxContID(st.plans))
		}
		if need := contBits(uint16(n)); need > len(free) {
			return fmt.Errorf("%sthis ruleset has %d continuation points (rules only the kernel can run after rules nfd runs, and back, and one per reject form): they need %d mark bits, and --mark-mask %#08x has %d free, for ids up to %d; give nfd more bits with --mark-mask",
				firstOver(st, 1<<len(free)), n, need, d.cfg.MarkMask, len(free), 1<<len(free)-1)
		}
		var oldMask uint32
		if old != nil {
			oldMask = old.contMask
		}
		mask, ids, separate := contLayout(free, n, oldMask, contValues(old))
		if !separate {
			d.log.Warn("--mark-mask has too few free bits to give this ruleset continuation ids distinct from the running one's: a packet in flight during this reload may resume at the wrong rule; give nfd more bits with --mark-mask",
				"free_bits", len(free), "points", n)
		}
		st.contMask = mask
		renumber(st.plans, ids)
	}
	for _, tp := range st.plans {
		for _, cp := range tp.Chains {
			cp.ContMask = st.contMask
		}
	}
	for _, cs := range st.chains {
		var err error
		if cs.conts, err = buildConts(st.eng, cs); err != nil {
			return err
		}
	}
	return nil
}

// firstOver names the rule of the first continuation point whose id
// reaches limit ("FILE:LINE:COL: " or "").
func firstOver(st *state, limit int) string {
	for _, tp := range st.plans {
		for _, cp := range tp.Chains {
			for _, rp := range cp.Rejects {
				if int(rp.ID) == limit {
					return rp.Pos.String() + ": "
				}
			}
			for _, p := range cp.Conts {
				if int(p.ID) != limit {
					continue
				}
				top := p.Frames[len(p.Frames)-1]
				for _, r := range st.eng.Rules {
					if r.Family == tp.Family && r.Table == tp.Name && r.Chain == top.Chain && r.Index == top.Index {
						return r.Pos.String() + ": "
					}
				}
			}
		}
	}
	return ""
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
