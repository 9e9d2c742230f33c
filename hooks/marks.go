package hooks

import (
	"fmt"
	"sync/atomic"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/planner"
)

// Flow-bypass mark bits across reloads.
//
// A connection that nfd bypassed carries its chain's bit in its conntrack
// mark for the rest of its life, and the kernel accepts its packets as
// long as a bypass rule tests that bit. A reload that changes what the
// rules mean must end those bypasses in the same atomic commit that
// installs the new rules, or flows decided under the old rules would keep
// passing: so a changed ruleset gets bits that neither the old ruleset nor
// any connection uses, and the old bits are then cleared from the kernel's
// connections (conntrack.ClearMarkBits) before they are handed out again.
// A reload that means exactly the same (equal canonical print) keeps its
// bits, and its bypassed flows stay in the kernel.

// markBits is owned by Daemon.mu.
type markBits struct {
	dirty    uint32        // bits connections may still carry from an older ruleset
	clearing bool          // a clearMarks goroutine is running
	shown    atomic.Uint32 // dirty, for Status without d.mu
}

func (m *markBits) set(dirty uint32) {
	m.dirty = dirty
	m.shown.Store(dirty)
}

// stateBits is every bypass bit st uses.
func stateBits(st *state) uint32 {
	var bits uint32
	if st != nil {
		for _, c := range st.chains {
			bits |= c.plan.BypassBit
		}
	}
	return bits
}

func canBypass(cp *planner.ChainPlan) bool {
	for _, ok := range cp.Bypass {
		if ok {
			return true
		}
	}
	return false
}

// assignMarks sets the bypass bit of each queued chain of st that can
// bypass flows. It changes nothing in d, so a failed reload leaves no
// trace. Called with d.mu held.
func (d *Daemon) assignMarks(st, old *state) {
	for _, c := range st.chains {
		c.plan.BypassBit = 0
	}
	if d.cfg.Offload != planner.OffloadAuto {
		return
	}
	// Only a chain that bypasses flows asks whether the ruleset changed
	// (the canonical print costs ~0.1 s at 10^5 rules).
	need := false
	for _, c := range st.chains {
		need = need || canBypass(c.plan)
	}
	same := need && old != nil && old.canon != nil && old.canon.Sum() == st.canon.Sum()
	kept := map[string]uint32{}
	if same {
		for _, c := range old.chains {
			kept[c.key] = c.plan.BypassBit
		}
	}
	// Neither this ruleset's continuation bits nor the old one's: a packet
	// still queued back under the old ruleset carries the old ones, and
	// the flow-bypass copy chain must not take them for its bit.
	var oldCont uint32
	if old != nil {
		oldCont = old.contMask
	}
	free := maskBits(d.cfg.MarkMask &^ d.marks.dirty &^ stateBits(old) &^ st.contMask &^ oldCont)
	for _, c := range st.chains {
		if !canBypass(c.plan) {
			continue
		}
		if b := kept[c.key]; b != 0 {
			c.plan.BypassBit = b
			continue
		}
		if len(free) == 0 {
			d.log.Info("no free mark bit for flow bypass; this chain's flows stay in userspace until older bits are revoked",
				"chain", c.kc.Table+" "+c.kc.Chain, "mark_mask", fmt.Sprintf("%#08x", d.cfg.MarkMask), "revoking", fmt.Sprintf("%#08x", d.marks.dirty))
			continue
		}
		c.plan.BypassBit, free = free[0], free[1:]
	}
}

// startMarks clears bypass bits a previous nfd may have left on
// connections (after a crash its tables were replaced, its marks were
// not), then assigns st's. Called by Start with d.mu held, before
// anything is programmed: nobody sets these bits meanwhile, since marks
// come only from nfd's verdicts.
func (d *Daemon) startMarks(st *state) {
	if d.cfg.Offload == planner.OffloadAuto && d.cfg.MarkMask != 0 {
		n, err := conntrack.ClearMarkBits(d.cfg.MarkMask)
		if err != nil {
			d.marks.set(d.cfg.MarkMask)
			d.log.Warn("cannot clear flow-bypass marks from kernel connections; flow bypass stays off", "err", err)
		} else if n > 0 {
			d.log.Info("cleared flow-bypass marks left by an earlier nfd", "connections", n)
		}
	}
	d.assignMarks(st, nil)
}

// revokeMarks runs after st replaced old in the kernel: the bits only old
// used are now dirty, and a goroutine clears them from the connections.
// Called with d.mu held.
func (d *Daemon) revokeMarks(old, st *state) {
	d.marks.set(d.marks.dirty | stateBits(old)&^stateBits(st))
	if d.marks.dirty == 0 || d.marks.clearing {
		return
	}
	d.marks.clearing = true
	go d.clearMarks(d.marks.dirty)
}

// clearMarks is a short-lived goroutine of its own; it takes d.mu only to
// record the result.
func (d *Daemon) clearMarks(bits uint32) {
	n, err := conntrack.ClearMarkBits(bits)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marks.clearing = false
	if err != nil {
		d.log.Warn("revoking flow-bypass marks failed; those bits stay unused until the next reload tries again", "bits", fmt.Sprintf("%#08x", bits), "err", err)
		return
	}
	d.marks.set(d.marks.dirty &^ bits)
	d.log.Debug("flow-bypass marks revoked", "bits", fmt.Sprintf("%#08x", bits), "connections", n)
	if d.marks.dirty != 0 { // a reload retired more bits meanwhile
		d.marks.clearing = true
		go d.clearMarks(d.marks.dirty)
	}
}

// DefaultMarkMask is the mark bits nfd may use: one bit per queued chain.
const DefaultMarkMask = 0x0f000000

// maskBits lists the single bits of mask, lowest first.
func maskBits(mask uint32) []uint32 {
	var out []uint32
	for b := uint32(1); b != 0; b <<= 1 {
		if mask&b != 0 {
			out = append(out, b)
		}
	}
	return out
}
