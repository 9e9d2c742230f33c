package parser

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// RuleKey names a rule's meaning apart from its place in the file: two
// rules with the same non-zero key parse to equal statements in equal
// surroundings (the same table and chain, the same declarations of sets,
// maps, objects, chains and defines around them). A reload uses it to
// reuse what the previous load made of a rule (its compiled matchers, its
// kernel expressions) instead of making it again; the reused pieces are
// stamped with the new rule's position, handle and index.
//
// The zero key means "not known": the rule is made afresh. A key is only
// ever compared with keys of the same process (it may be seeded).
type RuleKey [2]uint64

// IsZero reports whether k is the zero (unknown) key.
func (k RuleKey) IsZero() bool { return k == RuleKey{} }

// ReferenceKeys gives every rule of rs a key computed from canonical
// prints: the ruleset printed without any rule (its skeleton), the rule's
// table and chain, and the rule's own print. It is slow (it prints
// everything) and exists as the specification the parser's own keys must
// agree with, and for tests of the passes that reuse work by key. Rules
// of bound chains (`jump { ... }`) and rules holding one keep the zero key.
func ReferenceKeys(rs *Ruleset) {
	var skel strings.Builder
	for _, t := range rs.Tables {
		bare := *t
		bare.Chains = make([]*Chain, len(t.Chains))
		for i, c := range t.Chains {
			cc := *c
			cc.Rules = nil
			bare.Chains[i] = &cc
		}
		PrintTable(&skel, &bare)
	}
	base := sha256.Sum256([]byte(skel.String()))
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				r.Key = RuleKey{}
				if c.Bound || holdsBound(r) {
					continue
				}
				h := sha256.New()
				h.Write(base[:])
				h.Write([]byte(t.Family.String() + "\x00" + t.Name + "\x00" + c.Name + "\x00" + FormatRule(r)))
				var sum [32]byte
				h.Sum(sum[:0])
				r.Key = RuleKey{binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16])}
			}
		}
	}
}

// holdsBound reports whether r declares a bound chain (`jump { ... }`).
func holdsBound(r *Rule) bool {
	for _, s := range r.Stmts {
		if v, ok := s.(*Verdict); ok && v.Bound != nil {
			return true
		}
	}
	return false
}
