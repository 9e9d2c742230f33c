package hooks

import (
	"sync"
	"time"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/kernel"
	"github.com/nfdproject/nfd/planner"
)

// ruleCounters keeps the last read of every native rule's kernel counter
// for `nfd status`'s native decisions per hook. Reading them dumps every
// chain, which the kernel answers in time quadratic in a chain's length
// (seconds at 10^5 rules); status must answer at once. So a read that
// took long is reused until it is ten times its own duration old, and
// redone in the background meanwhile; a quick one is simply redone. The
// queue and policy counters status shows are read fresh every time, by
// handle (kernel.ReadQueueCounters).
type ruleCounters struct {
	mu   sync.Mutex
	st   *state // the ruleset the read was of
	rule map[planner.RuleRef][2]uint64
	at   time.Time
	took time.Duration
	busy bool // a background read runs
}

// slowDump is the read time above which status stops waiting for reads.
const slowDump = 100 * time.Millisecond

// statusCounters returns the kernel counters Status shows for st: fresh
// queue and policy counts, and the native rules' counts of the last read
// of st (age: how old it is), or of a read made now when reads are quick.
func (d *Daemon) statusCounters(st *state) (kernel.KernelCounters, time.Duration) {
	c, err := d.cfg.NewConn()
	if err != nil {
		return kernel.KernelCounters{Rules: map[planner.RuleRef][2]uint64{}}, 0
	}
	rc := &d.ruleCtrs
	rc.mu.Lock()
	fresh := rc.st == st && time.Since(rc.at) < max(time.Second, 10*rc.took)
	quick := rc.took < slowDump && (rc.took > 0 || nativeRules(st) < 20000)
	if !fresh && quick {
		rc.mu.Unlock()
		return rc.read(c, st), 0
	}
	if !fresh && !rc.busy && d.run.Load() == int32(stateRunning) {
		rc.busy = true
		d.spawn(func() {
			rc.read(c, st)
			rc.mu.Lock()
			rc.busy = false
			rc.mu.Unlock()
		})
	}
	kc := kernel.ReadQueueCounters(c, st.plans)
	var age time.Duration
	if rc.st == st {
		kc.Rules, age = rc.rule, time.Since(rc.at)
	}
	rc.mu.Unlock()
	return kc, age
}

// read dumps every counter of st's rules and keeps the rules' counts.
func (rc *ruleCounters) read(c *nftables.Conn, st *state) kernel.KernelCounters {
	start := time.Now()
	kc := kernel.ReadKernelCounters(c, st.plans)
	rc.mu.Lock()
	rc.st, rc.rule, rc.at, rc.took = st, kc.Rules, time.Now(), time.Since(start)
	rc.mu.Unlock()
	return kc
}

// RecentKernelCounters is KernelCounters for readers that come often
// (metrics scrapes): with a large ruleset the rule counts may be a few
// seconds old (statusCounters), never a dump per call.
func (d *Daemon) RecentKernelCounters() kernel.KernelCounters {
	kc, _ := d.statusCounters(d.st.Load())
	return kc
}

// nativeRules counts the rules st runs in the kernel.
func nativeRules(st *state) int {
	n := 0
	for _, tp := range st.plans {
		for _, cp := range tp.Chains {
			n += len(cp.Rules) + len(cp.After)
		}
	}
	return n
}
