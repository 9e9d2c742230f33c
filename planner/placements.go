package planner

import "github.com/nfdproject/nfd/parser"

// Placements are where a plan places each rule (PlanRulesetWith), by
// chain: a slice per chain, so placing 10^5 rules costs no hashing per
// rule.
type Placements struct {
	chains map[chainRef]*chainPlacements
	last   *chainPlacements
	lastAt chainRef
}

type chainRef struct {
	family parser.Family
	table  string
	chain  string
}

type chainPlacements struct {
	ps  []Placement
	set []bool
}

func newPlacements(rs *parser.Ruleset) *Placements {
	p := &Placements{chains: map[chainRef]*chainPlacements{}}
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			n := len(c.Rules)
			p.chains[chainRef{t.Family, t.Name, c.Name}] = &chainPlacements{ps: make([]Placement, n), set: make([]bool, n)}
		}
	}
	return p
}

func (p *Placements) chain(ref RuleRef) *chainPlacements {
	if p.last != nil && p.lastAt.chain == ref.Chain && p.lastAt.table == ref.Table && p.lastAt.family == ref.Family {
		return p.last
	}
	at := chainRef{ref.Family, ref.Table, ref.Chain}
	cp := p.chains[at]
	if cp != nil {
		p.last, p.lastAt = cp, at
	}
	return cp
}

func (p *Placements) set(ref RuleRef, pl Placement) {
	cp := p.chain(ref)
	cp.ps[ref.Index] = pl
	cp.set[ref.Index] = true
}

// Lookup returns where the rule ref names is placed, if the plan placed it.
func (p *Placements) Lookup(ref RuleRef) (Placement, bool) {
	if p == nil {
		return Placement{}, false
	}
	cp := p.chains[chainRef{ref.Family, ref.Table, ref.Chain}]
	if cp == nil || ref.Index < 0 || ref.Index >= len(cp.ps) || !cp.set[ref.Index] {
		return Placement{}, false
	}
	return cp.ps[ref.Index], true
}

// Get is Lookup's placement (the zero Placement for a rule not placed).
func (p *Placements) Get(ref RuleRef) Placement {
	pl, _ := p.Lookup(ref)
	return pl
}

// get is Get for the planner, with the last chain cached.
func (p *Placements) get(ref RuleRef) Placement {
	cp := p.chain(ref)
	if cp == nil || !cp.set[ref.Index] {
		return Placement{}
	}
	return cp.ps[ref.Index]
}

// Map is every placement in a map.
func (p *Placements) Map() map[RuleRef]Placement {
	m := map[RuleRef]Placement{}
	if p == nil {
		return m
	}
	for at, cp := range p.chains {
		for i, ok := range cp.set {
			if ok {
				m[RuleRef{at.family, at.table, at.chain, i}] = cp.ps[i]
			}
		}
	}
	return m
}
