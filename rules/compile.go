package rules

import (
	"fmt"

	"github.com/nfdproject/nfd/parser"
)

// rule compiles the i-th rule pr of chain pc (compiled c, stamped
// already with the rule's key and place) into r, reusing the previous
// engine's compiled form when cp pairs it by key (reuse.go), appends its
// RuleInfo to the engine's and returns its shape.
func (b *builder) rule(t *parser.Table, pc *parser.Chain, c *chain, pr *parser.Rule, i int, cp *chainPairs, r *rule) (*shape, error) {
	var old *RuleInfo
	var or *rule
	var osh *shape
	j := -1
	if cp != nil && cp.of[i] >= 0 {
		j = int(cp.of[i])
		or = &cp.old.rules[j]
		old = or.info
		if cp.byKey && !c.at[i].key.IsZero() {
			osh = cp.old.shapes[j]
		}
		b.stats.Carried++
	}
	if osh != nil && !osh.ko && !b.kernelOnlyKept(t, pr, osh.ko) {
		ok, err := b.reuse(t, pr, c, i, cp.old, j, osh, r)
		if err != nil {
			return nil, err
		}
		if ok {
			b.e.Rules = append(b.e.Rules, r.info)
			return osh, nil
		}
	}
	sh, err := b.compileRule(t, pc, pr, i, b.opts.KernelOnly(t, pr), old, c.lineage, r)
	if err != nil {
		return nil, err
	}
	if r.info.cachedText() == nil {
		switch {
		case cp != nil && cp.texts != nil && cp.texts[i] != nil:
			r.info.text.Store(cp.texts[i])
		case c.at[i].key.IsZero():
			// A rule without a key pairs by its text at the next
			// reload: print it now, once (as every rule was printed
			// before keys).
			s := parser.FormatRule(pr)
			r.info.text.Store(&s)
		}
	}
	b.e.Rules = append(b.e.Rules, r.info)
	return sh, nil
}

// newInfo is the RuleInfo of the i-th rule pr of chain c.
func newInfo(t *parser.Table, c *parser.Chain, pr *parser.Rule, i int, ko bool, lin *lineage) *RuleInfo {
	info := &RuleInfo{Family: t.Family, Table: t.Name, Chain: c.Name, Handle: pr.Handle, Index: i, Comment: pr.Comment, Pos: pr.Pos, KernelOnly: ko, lineage: lin}
	if c.Base != nil {
		info.Hook, info.InBase = c.Base.Hook, true
	}
	return info
}

// compileRule compiles a rule afresh. old is the previous engine's rule
// it pairs with (nil if none): its counts and statement state carry over.
func (b *builder) compileRule(t *parser.Table, c *parser.Chain, pr *parser.Rule, i int, ko bool, old *RuleInfo, lin *lineage, r *rule) (*shape, error) {
	info := newInfo(t, c, pr, i, ko, lin)
	if n := len(pr.Stmts); n > 0 {
		switch s := pr.Stmts[n-1].(type) {
		case *parser.Verdict:
			switch s.Kind {
			case parser.VerdictAccept:
				info.Final = Accept
			case parser.VerdictDrop:
				info.Final = Drop
			}
		case *parser.Reject:
			info.Final = Reject
		}
	}
	if old != nil {
		info.Counts = old.Counts
		if p := old.cachedText(); p != nil {
			info.text.Store(p) // paired: the same text
		}
	} else {
		info.Counts = &Counters{}
	}
	sh := b.newShape()
	sh.ko, sh.names, sh.guard = ko, nameKinds(pr), b.guardOf(pr)
	*r = rule{info: info, pre: -1}
	pure := ko
	var at [16]int16
	opIdx := at[:0]
	if len(pr.Stmts) > len(at) {
		opIdx = make([]int16, 0, len(pr.Stmts))
	}
	fixed := false // a statement whose op must be compiled again on reuse
	for k, s := range pr.Stmts {
		var prev *stmtState
		if old != nil && k < len(old.stmts) {
			prev = &old.stmts[k]
		}
		o, st, err := b.compileStmt(t, s, prev)
		if err != nil {
			return nil, err
		}
		if st != (stmtState{}) {
			if info.stmts == nil {
				info.stmts = make([]stmtState, len(pr.Stmts))
			}
			info.stmts[k] = st
		}
		switch s := s.(type) {
		case *parser.Match:
			if s.Keys[0].Userspace() {
				info.Userspace = true
			}
			for _, f := range s.Keys {
				if f.Userspace() {
					sh.l7 = true
				}
			}
		case *parser.Verdict:
			if s.Target != "" {
				sh.jumps = true
			}
		}
		if !portable(s) {
			fixed = true
		}
		if o.match == nil && o.exec == nil {
			opIdx = append(opIdx, -1)
			continue
		}
		if pure {
			// Leading matches of a kernel-only rule that nfd can test
			// without side effects: a `limit` takes tokens, a kernel-only
			// field nfd cannot load.
			m, isMatch := s.(*parser.Match)
			if isMatch && o.match != nil && (len(m.Keys) == 0 || m.Keys[0].KernelOnly() == "") && !b.opts.KernelOnly(t, &parser.Rule{Stmts: []parser.Stmt{s}}) {
				r.pre = int16(len(r.ops) + 1)
			} else {
				pure = false
			}
		}
		opIdx = append(opIdx, int16(len(r.ops)))
		r.ops = append(r.ops, o)
	}
	if ko && r.pre < 0 {
		r.pre = 0
	}
	sh.userspace = info.Userspace
	if fixed {
		sh.opIdx = append([]int16(nil), opIdx...)
	}
	return sh, nil
}

// newStmtCounter is a `counter` statement's counter: prev's when the
// same statement of the paired rule had one, else the file's values.
func newStmtCounter(prev *stmtState, s *parser.Counter) *Counters {
	if prev != nil && prev.ctr != nil {
		return prev.ctr
	}
	c := &Counters{}
	c.Packets.Store(s.Packets)
	c.Bytes.Store(s.Bytes)
	return c
}

// compileStmt compiles one statement. prev is the state of the same
// statement of the previous engine's paired rule (nil if none): a
// `counter` or `quota` carries it over. The state returned is the
// statement's own (zero for statements without).
func (b *builder) compileStmt(t *parser.Table, s parser.Stmt, prev *stmtState) (op, stmtState, error) {
	var st stmtState
	o, err := b.compileStmtState(t, s, prev, &st)
	return o, st, err
}

func (b *builder) compileStmtState(t *parser.Table, s parser.Stmt, prev *stmtState, st *stmtState) (op, error) {
	switch s := s.(type) {
	case *parser.Match:
		m, err := b.compileMatch(t, s)
		return op{match: m}, err
	case *parser.VMap:
		return b.compileVMap(t, s)
	case *parser.Counter:
		ctr := newStmtCounter(prev, s)
		st.ctr = ctr
		return op{exec: func(c *Ctx) *verdict {
			ctr.Packets.Add(1)
			ctr.Bytes.Add(uint64(c.P.Len()))
			return nil
		}}, nil
	case *parser.Log:
		if parser.KernelOnly(s) != "" {
			// Runs only natively: the planner refuses any plan that
			// would have nfd evaluate this rule (planner.checkKernelOnly).
			return op{}, nil
		}
		lg := b.e.log
		prefix, level := s.Prefix, s.Level
		return op{exec: func(c *Ctx) *verdict { lg.log(c, prefix, level); return nil }}, nil
	case *parser.Limit:
		l := newLimiter(s, b.opts.Now)
		return op{match: l.match}, nil
	case *parser.Quota:
		var old *quota
		if prev != nil {
			old = prev.q
		}
		st.q = newQuota(old, s)
		return op{match: st.q.match}, nil
	case *parser.ObjRef:
		return b.compileObjRef(t, s)
	case *parser.MarkSet:
		if s.Map != nil {
			lk, err := b.markMap(t, s.Map)
			if err != nil {
				return op{}, err
			}
			return compileMarkSetFrom(s, lk), nil
		}
		return compileMarkSet(s), nil
	case *parser.Verdict:
		v := b.verdictOf(t, s)
		return op{exec: func(*Ctx) *verdict { return v }}, nil
	case *parser.Reject:
		v := &verdict{kind: vReject, reject: s.Kind, code: s.Code}
		return op{exec: func(*Ctx) *verdict { return v }}, nil
	case *parser.NAT:
		// NAT runs only in the kernel; to the engine it accepts.
		v := &verdict{kind: vAccept, nat: true}
		return op{exec: func(*Ctx) *verdict { return v }}, nil
	case *parser.Notrack:
		return op{}, nil
	case *parser.CtCount:
		// Kernel-only (see PayloadSet): to `nfd replay`, not matching.
		return op{match: func(*Ctx) bool { return false }}, nil
	case *parser.PayloadSet:
		// Kernel-only: the planner never places it in nfd; `nfd replay`
		// passes over it.
		return op{}, nil
	case *parser.KeySet, *parser.SynProxy, *parser.TProxy, *parser.Dup, *parser.SetUpdate:
		// Runs only natively: the planner refuses any plan that would
		// have nfd evaluate this rule (planner.checkKernelOnly).
		return op{}, nil
	}
	return op{}, fmt.Errorf("unsupported statement %T", s)
}
