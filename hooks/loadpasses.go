package hooks

import (
	"crypto/sha256"
	"sync"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
)

// compileAndPlan runs the two passes a parsed ruleset goes through, which
// only read it: the engine's compile and the planner, side by side, a
// core each. The planner reuses prevPlans'
// translations of rules with the same key (nil: none). A compile error
// comes first, as when they ran one after the other. compiled is called
// once the compile is done while the plan still runs.
func compileAndPlan(rs *parser.Ruleset, opts rules.Options, offload string, prevPlans []*planner.TablePlan, compiled func()) (*rules.Engine, []*planner.TablePlan, *planner.Placements, error) {
	type planned struct {
		plans      []*planner.TablePlan
		placements *planner.Placements
		err        error
	}
	done := make(chan planned, 1)
	go func() {
		var p planned
		p.plans, p.placements, p.err = planner.PlanRulesetWith(rs, offload, planner.PlanOptions{Prev: prevPlans})
		done <- p
	}()
	eng, err := rules.Compile(rs, opts)
	if err == nil && compiled != nil {
		compiled()
	}
	p := <-done
	if err != nil {
		return nil, nil, nil, err
	}
	if p.err != nil {
		return nil, nil, nil, p.err
	}
	return eng, p.plans, p.placements, nil
}

// canon is the hash of what a ruleset means (its canonical print), for
// assignMarks to tell a reload that changes nothing. Not from the rules'
// keys: a key changes with the text around a rule (a comment changes the
// skeleton's), and a reload that means the same must keep its
// flow-bypass bits. Printed on first use only: a ruleset with no chain
// that bypasses flows never needs it (the print is ~0.1 s at 10^5 rules,
// most of a one-rule reload).
type canon struct {
	once sync.Once
	rs   *parser.Ruleset
	sum  [32]byte
}

func newCanon(rs *parser.Ruleset) *canon { return &canon{rs: rs} }

// Sum is the hash, printed at the first call.
func (c *canon) Sum() [32]byte {
	c.once.Do(func() { c.sum = sha256.Sum256([]byte(parser.Print(c.rs))) })
	return c.sum
}
