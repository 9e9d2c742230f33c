package hooks

import (
	"crypto/sha256"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
)

// compileAndPlan runs the two passes a parsed ruleset goes through, which
// only read it: the engine's compile and the planner (with the canonical
// hash), side by side, a core each. The planner reuses prevPlans'
// translations of rules with the same key (nil: none). A compile error
// comes first, as when they ran one after the other. compiled is called
// once the compile is done while the plan still runs.
func compileAndPlan(rs *parser.Ruleset, opts rules.Options, offload string, prevPlans []*planner.TablePlan, compiled func()) (*rules.Engine, []*planner.TablePlan, *planner.Placements, [32]byte, error) {
	type planned struct {
		plans      []*planner.TablePlan
		placements *planner.Placements
		canon      [32]byte
		err        error
	}
	done := make(chan planned, 1)
	go func() {
		var p planned
		p.plans, p.placements, p.err = planner.PlanRulesetWith(rs, offload, planner.PlanOptions{Prev: prevPlans})
		if p.err == nil {
			p.canon = canonOf(rs)
		}
		done <- p
	}()
	eng, err := rules.Compile(rs, opts)
	if err == nil && compiled != nil {
		compiled()
	}
	p := <-done
	if err != nil {
		return nil, nil, nil, [32]byte{}, err
	}
	if p.err != nil {
		return nil, nil, nil, [32]byte{}, p.err
	}
	return eng, p.plans, p.placements, p.canon, nil
}

// canonOf hashes what rs means (its canonical print), for assignMarks
// to tell a reload that changes nothing. Not from the rules' keys: a key
// changes with the text around a rule (a comment changes the skeleton's),
// and a reload that means the same must keep its flow-bypass bits.
func canonOf(rs *parser.Ruleset) [32]byte {
	return sha256.Sum256([]byte(parser.Print(rs)))
}
