package hooks

import (
	"crypto/sha256"
	"encoding/binary"

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

// canonOf hashes what rs means, for assignMarks to tell a reload that
// changes nothing. With every rule keyed (parser.Rule.Key), it hashes the
// keys in order with each chain's rule count: equal non-zero keys are
// equal rules in equal declarations, so equal hashes are equal rulesets,
// and nothing is printed. Otherwise (a rule without a key, or no rule to
// carry the declarations) it hashes the canonical print. Keys are per
// process, as the hash is; a ruleset with keys and the same one without
// hash differently (so it counts as changed, which only costs flow
// bypasses).
func canonOf(rs *parser.Ruleset) [32]byte {
	n := 0
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				if r.Key.IsZero() {
					return sha256.Sum256([]byte(parser.Print(rs)))
				}
				n++
			}
		}
	}
	if n == 0 {
		return sha256.Sum256([]byte(parser.Print(rs)))
	}
	h := sha256.New()
	buf := make([]byte, 0, 4096)
	buf = append(buf, "nfd canon: rule keys\x00"...)
	for _, t := range rs.Tables {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(t.Chains)))
		for _, c := range t.Chains {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(c.Rules)))
			for _, r := range c.Rules {
				buf = binary.BigEndian.AppendUint64(buf, r.Key[0])
				buf = binary.BigEndian.AppendUint64(buf, r.Key[1])
				if len(buf) >= 4000 {
					h.Write(buf)
					buf = buf[:0]
				}
			}
		}
	}
	h.Write(buf)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
