package planner

import "github.com/nfdproject/nfd/parser"

// ruleFacts is what the whole-table passes need of one rule, found once
// per rule and, for a rule with a key, taken from the previous plan: the
// sets it updates and reads, whether it changes how the kernel tracks
// packets, whether it is kernel-only by itself (a field, a statement),
// whether it reads the connection, and the chains it may jump or go to.
// It depends only on the rule and its table's declarations, which its
// key pins.
type ruleFacts struct {
	updates  []string // sets it adds to, updates or deletes from
	reads    []string // sets it looks up (match or verdict map)
	tracking bool     // notrack or ct zone set (changesTracking)
	static   bool     // kernelOnlyPart without updated sets
	notrack  bool
	readsCt  bool
	targets  []target
}

// noFacts is the facts of most rules: nothing.
var noFacts = &ruleFacts{}

func factsOfRule(t *parser.Table, r *parser.Rule) *ruleFacts {
	f := &ruleFacts{}
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *parser.SetUpdate:
			f.updates = append(f.updates, s.Set)
		case *parser.Notrack:
			f.notrack, f.tracking = true, true
		case *parser.KeySet:
			if s.Ct && s.Key == "zone" {
				f.tracking = true
			}
		case *parser.Match:
			if s.Val.SetRef != "" {
				f.reads = append(f.reads, s.Val.SetRef)
			}
		case *parser.VMap:
			if s.Val.SetRef != "" {
				f.reads = append(f.reads, s.Val.SetRef)
			}
		}
	}
	_, _, _, f.static = kernelOnlyPart(nil, r)
	f.readsCt = readsCt(r)
	f.targets = targets(t, r)
	if f.updates == nil && f.reads == nil && !f.tracking && !f.static && !f.notrack && !f.readsCt && f.targets == nil {
		return noFacts
	}
	return f
}

// kernelOnly is kernelOnly(kf, r) from the rule's facts.
func (f *ruleFacts) kernelOnly(kf *tableFacts) bool {
	return f.kernelOnlyPart(kf.upd) || f.notrack || (kf.tracking && f.readsCt)
}

// kernelOnlyPart is whether kernelOnlyPart(upd, r) finds a part.
func (f *ruleFacts) kernelOnlyPart(upd map[string]bool) bool {
	if f.static {
		return true
	}
	for _, s := range f.reads {
		if upd[s] {
			return true
		}
	}
	return false
}

// tableFactsOf is factsOf from the rules' facts.
func tableFactsOf(m *tableMemo) *tableFacts {
	kf := &tableFacts{upd: map[string]bool{}}
	for _, cm := range m.order {
		for _, f := range cm.facts {
			if f == noFacts {
				continue
			}
			for _, s := range f.updates {
				kf.upd[s] = true
			}
			kf.tracking = kf.tracking || f.tracking
		}
	}
	return kf
}

// reachableOf is reachable(t) from the rules' facts.
func reachableOf(t *parser.Table, m *tableMemo) map[string]bool {
	live := map[string]bool{}
	var visit func(c *parser.Chain)
	visit = func(c *parser.Chain) {
		if c == nil || live[c.Name] {
			return
		}
		live[c.Name] = true
		for _, f := range m.chains[c.Name].facts {
			for _, tg := range f.targets {
				visit(t.Chain(tg.name))
			}
		}
	}
	for _, c := range t.Chains {
		if c.Base != nil {
			visit(c)
		}
	}
	return live
}
