package parser

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Warning is a finding that does not keep a file from loading: the file
// means what nft -f would make of it, but most likely not what its author
// meant. `nfd check` prints warnings, `nfd run` and reloads log them.
type Warning struct {
	Pos Pos
	Msg string
}

func (w Warning) String() string { return fmt.Sprintf("%s: warning: %s", w.Pos, w.Msg) }

// Lint returns the warnings of a parsed ruleset, in file order:
//
//   - a `tls sni` or `http host` match after a rule of the same chain that
//     accepts every established packet: a ClientHello or an HTTP request
//     travels on an established connection, so the match never sees one
//     (a DNS query opens its flow, and has no such trap).
func Lint(rs *Ruleset) []Warning {
	var out []Warning
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			var est *Rule
			for _, r := range c.Rules {
				if est != nil {
					if what := establishedName(r); what != "" {
						out = append(out, Warning{Pos: r.Pos, Msg: fmt.Sprintf(
							"this rule never sees %s: it travels on an established connection, and the rule at line %d accepts those first; move this rule above it",
							what, est.Pos.Line)})
					}
					continue
				}
				if AcceptsEstablished(r) {
					est = r
				}
			}
		}
	}
	return out
}

// establishedName names what a rule's layer-7 match looks for, when that
// only ever arrives on an established connection.
func establishedName(r *Rule) string {
	for _, s := range r.Stmts {
		if m, ok := s.(*Match); ok {
			for _, k := range m.Keys {
				switch k {
				case FieldTLSSNI:
					return "a ClientHello (`tls sni`)"
				case FieldHTTPHost:
					return "an HTTP request (`http host`)"
				}
			}
		}
	}
	return ""
}

// AcceptsEstablished reports a rule that accepts every packet whose ct
// state is established and looks at nothing else (`ct state
// established,related accept`, `ct state { established, related }
// accept`, `ct state vmap { established : accept, ... }`).
func AcceptsEstablished(r *Rule) bool {
	const established = 2
	if len(r.Stmts) == 1 {
		vm, ok := r.Stmts[0].(*VMap)
		if !ok || len(vm.Keys) != 1 || vm.Keys[0] != FieldCtState || vm.Val.SetRef != "" {
			return false
		}
		for _, e := range vm.Val.Elems {
			if len(e.Lo) == 4 && bytes.Equal(e.Lo, e.Hi) && binary.BigEndian.Uint32(e.Lo) == established &&
				e.Verdict != nil && e.Verdict.Kind == VerdictAccept {
				return true
			}
		}
		return false
	}
	if len(r.Stmts) != 2 {
		return false
	}
	m, ok := r.Stmts[0].(*Match)
	v, ok2 := r.Stmts[1].(*Verdict)
	if !ok || !ok2 || v.Kind != VerdictAccept || len(m.Keys) != 1 || m.Keys[0] != FieldCtState ||
		len(m.Mask) != 0 || m.Val.SetRef != "" {
		return false
	}
	for _, e := range m.Val.Elems {
		if len(e.Lo) != 4 || !bytes.Equal(e.Lo, e.Hi) {
			continue
		}
		x := binary.BigEndian.Uint32(e.Lo)
		switch {
		case m.Op == OpImplicit && !m.Val.Anon && x&established != 0: // any of the flags
			return true
		case (m.Op == OpImplicit || m.Op == OpEq) && x == established:
			return true
		}
	}
	return false
}
