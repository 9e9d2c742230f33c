package hooks

import (
	"crypto/sha256"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
)

// compileAndPlan runs the two passes a parsed ruleset goes through, which
// only read it: the engine's compile and the planner (with the canonical
// print's hash), side by side, a core each. A compile error comes first,
// as when they ran one after the other. compiled is called once the
// compile is done while the plan still runs.
func compileAndPlan(rs *parser.Ruleset, opts rules.Options, offload string, compiled func()) (*rules.Engine, []*planner.TablePlan, map[planner.RuleRef]planner.Placement, [32]byte, error) {
	type planned struct {
		plans      []*planner.TablePlan
		placements map[planner.RuleRef]planner.Placement
		canon      [32]byte
		err        error
	}
	done := make(chan planned, 1)
	go func() {
		var p planned
		p.plans, p.placements, p.err = planner.PlanRuleset(rs, offload)
		if p.err == nil {
			p.canon = sha256.Sum256([]byte(parser.Print(rs)))
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
