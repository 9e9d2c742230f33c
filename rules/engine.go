package rules

import (
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/parser"
)

// Counters are a rule's (or a counter statement's) packets and bytes. They
// are shared by successive engines while the rule stays the same, so a
// reload does not reset them.
type Counters struct {
	Packets atomic.Uint64
	Bytes   atomic.Uint64
}

// RuleInfo names a rule for metrics, tracing and replay.
type RuleInfo struct {
	Family  parser.Family
	Table   string
	Chain   string
	Handle  int
	Index   int // position in its chain
	Comment string
	Text    string // canonical nft text of the rule
	Pos     parser.Pos
	// Counts are the packets that matched the whole rule.
	Counts *Counters
	// Userspace reports whether the rule needs nfd (a layer-7 match).
	Userspace bool
	// KernelOnly: only the kernel can evaluate the rule; nfd stops there
	// and the kernel goes on (Continue).
	KernelOnly bool
	// Final is the verdict the rule ends with when it is Accept, Drop or
	// Reject (0 otherwise); Hook is its base chain's hook when InBase.
	Final  Verdict
	Hook   parser.Hook
	InBase bool
}

// Label is the rule's comment, else its handle: the `rule` label of metrics.
func (r *RuleInfo) Label() string {
	if r == nil {
		return ""
	}
	if r.Comment != "" {
		return r.Comment
	}
	return strconv.Itoa(r.Handle)
}

// ChainInfo names a chain.
type ChainInfo struct {
	Family parser.Family
	Table  string
	Name   string
	Base   *parser.BaseSpec
}

type verdictKind uint8

const (
	vAccept verdictKind = iota + 1
	vDrop
	vReject
	vContinue
	vReturn
	vJump
	vGoto
	vBreak // internal: the rule stops here without a verdict
)

type verdict struct {
	kind   verdictKind
	target *chain
	reject parser.RejectKind
	code   uint8
	nat    bool
}

var breakVerdict = &verdict{kind: vBreak}

// op is one compiled statement: a match, or an action that may end the
// rule with a verdict.
type op struct {
	match func(*Ctx) bool
	exec  func(*Ctx) *verdict
}

type rule struct {
	ops  []op
	info *RuleInfo
	// pre is -1 for a rule nfd evaluates; for a rule only the kernel can
	// evaluate, the number of leading ops that are pure matches nfd may
	// test first (rules/continue.go), and run the index of the first rule
	// of the consecutive kernel-only rules it belongs to.
	pre int16
	run int32
}

type chain struct {
	info   *ChainInfo
	rules  []rule
	idx    *index
	policy verdictKind
	fams   uint8 // base chains: 1 IPv4, 2 IPv6
}

// Base is a base chain as the kernel runs it: nfd gives each its own
// kernel chain and queue, and evaluates it alone with EvalBase.
type Base struct {
	Info     *ChainInfo
	Hook     parser.Hook
	Priority int
	Policy   parser.VerdictKind
	// NeedsPayload: a rule this chain reaches looks at layer-7 bytes.
	NeedsPayload bool
	c            *chain
}

// Engine is an immutable compiled ruleset. Any number of goroutines may
// call Eval at once, each with its own Ctx.
type Engine struct {
	// hooks holds, per hook and per family (0 IPv4, 1 IPv6), the base
	// chains that see the packet, in priority order.
	hooks  [parser.NumHooks][2][]*chain
	Rules  []*RuleInfo
	Chains []*ChainInfo
	// Counters of `counter` statements, keyed like rules, for carry-over.
	stmtCounters map[string]*Counters
	// `quota` statements and their consumed bytes, keyed the same way.
	stmtQuotas map[string]*quota
	ruleKeys   map[string]*RuleInfo
	sets       map[*parser.Set]*set // named sets, for their element state
	// Named counters and quotas (objects.go), keyed by objKey.
	objCounters map[string]*Counters
	objQuotas   map[string]*quota
	objLimits   map[string]*limiter
	log         *logger
	Ruleset     *parser.Ruleset
	// NeedsPayload reports, per hook, whether any rule there needs layer-7
	// bytes (so the queue must copy payload, not only headers).
	NeedsPayload [parser.NumHooks]bool
	// Bases lists the base chains in file order.
	Bases []*Base
	// NameKinds are the layer-7 names some rule matches (a bitmask of
	// 1<<conntrack.Name*): the ones worth recording per connection.
	NameKinds uint8
	// chainOf finds a compiled chain by its info (EvalFrom).
	chainOf map[*ChainInfo]*chain
	offline bool
}

// SetDynamic gives the named set ps (a single-field set, not a map) its
// run-time elements. Call it before the engine decides packets.
func (e *Engine) SetDynamic(ps *parser.Set, d Dynamic) bool {
	s := e.sets[ps]
	if s == nil || (s.exact == nil && s.ktab == nil) || ps.IsMap {
		return false
	}
	s.dyn = d
	return true
}

// Options configure compilation.
type Options struct {
	Logger *slog.Logger
	Now    func() int64 // nanosecond clock for limits; nil means monotonic
	// Prev is the engine being replaced: counters of unchanged rules carry over.
	Prev *Engine
	// KernelOnly tells the rules only the kernel can evaluate: the engine
	// stops there with Continue. nil means DefaultKernelOnly.
	KernelOnly func(*parser.Table, *parser.Rule) bool
	// Offline (nfd replay, and nfd check's tools): no kernel to continue
	// in; a kernel-only rule is assumed not to match, and the first such
	// rule a packet reaches is recorded in Ctx.Assumed.
	Offline bool
}

var monoStart = time.Now()

func monotonic() int64 { return int64(time.Since(monoStart)) }

type builder struct {
	opts   Options
	e      *Engine
	chains map[*parser.Chain]*chain
	sets   map[*parser.Set]*set
	seen   map[string]int
}

// Compile builds an engine from a validated ruleset.
func Compile(rs *parser.Ruleset, opts Options) (*Engine, error) {
	if opts.Now == nil {
		opts.Now = monotonic
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.KernelOnly == nil {
		opts.KernelOnly = DefaultKernelOnly
	}
	b := &builder{opts: opts, e: &Engine{Ruleset: rs, stmtCounters: map[string]*Counters{}, stmtQuotas: map[string]*quota{}, ruleKeys: map[string]*RuleInfo{}, chainOf: map[*ChainInfo]*chain{}, offline: opts.Offline},
		chains: map[*parser.Chain]*chain{}, sets: map[*parser.Set]*set{}, seen: map[string]int{}}
	b.e.log = newLogger(opts.Logger, opts.Now)
	b.e.sets = b.sets
	b.e.objCounters, b.e.objQuotas = map[string]*Counters{}, map[string]*quota{}
	b.e.objLimits = map[string]*limiter{}
	type base struct {
		c     *chain
		prio  int
		order int
		fam   parser.Family
		hook  parser.Hook
	}
	var bases []base
	for _, t := range rs.Tables {
		for _, s := range t.Sets {
			if rs := reusedSet(b.opts.Prev, t, s); rs != nil {
				b.sets[s] = rs
			} else {
				b.sets[s] = newSetOf(s)
			}
			if s.CatchAll != nil {
				b.sets[s].withCatchAll(s.NumElems())
			}
			b.sets[s].withState(s, b.opts.Now)
		}
		for _, pc := range t.Chains {
			ci := &ChainInfo{Family: t.Family, Table: t.Name, Name: pc.Name, Base: pc.Base}
			b.e.Chains = append(b.e.Chains, ci)
			c := &chain{info: ci}
			b.chains[pc] = c
			b.e.chainOf[ci] = c
			if pc.Base != nil {
				c.policy = vAccept
				if pc.Base.Policy == parser.VerdictDrop {
					c.policy = vDrop
				}
				c.fams = map[parser.Family]uint8{parser.FamilyIP: 1, parser.FamilyIP6: 2, parser.FamilyInet: 3}[t.Family]
				bases = append(bases, base{c, pc.Base.Priority, len(bases), t.Family, pc.Base.Hook})
				b.e.Bases = append(b.e.Bases, &Base{Info: ci, Hook: pc.Base.Hook, Priority: pc.Base.Priority, Policy: pc.Base.Policy, c: c})
			}
		}
	}
	for _, t := range rs.Tables {
		for _, s := range t.Sets {
			if s.IsMap && s.Data == parser.TypeVerdict {
				cs := b.sets[s]
				for _, el := range s.Elems {
					cs.verdicts = append(cs.verdicts, b.verdictOf(t, el.Verdict))
				}
				if s.CatchAll != nil {
					cs.verdicts = append(cs.verdicts, b.verdictOf(t, s.CatchAll.Verdict))
				}
			}
		}
		for _, pc := range t.Chains {
			c := b.chains[pc]
			for i, pr := range pc.Rules {
				r, err := b.compileRule(t, pc, pr)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", pr.Pos, err)
				}
				r.info.Index = i
				if r.pre >= 0 {
					r.run = int32(i)
					if i > 0 && c.rules[i-1].pre >= 0 {
						r.run = c.rules[i-1].run
					}
				}
				c.rules = append(c.rules, r)
				b.e.NameKinds |= nameKinds(pr)
				if r.info.Userspace && pc.Base != nil {
					b.e.NeedsPayload[pc.Base.Hook] = true
				}
			}
			c.idx = buildIndex(pc.Rules)
		}
	}
	// Payload needs of regular chains apply at every hook that reaches them.
	for _, t := range rs.Tables {
		for _, pc := range t.Chains {
			if pc.Base != nil && reachesUserspace(t, pc, map[*parser.Chain]bool{}) {
				b.e.NeedsPayload[pc.Base.Hook] = true
				for _, bb := range b.e.Bases {
					if bb.c == b.chains[pc] {
						bb.NeedsPayload = true
					}
				}
			}
		}
	}
	// Priority order; among equal priorities the chain registered last runs
	// first, as nf_hook_entries_grow() inserts a hook before the first one
	// of equal or higher priority.
	sort.SliceStable(bases, func(i, j int) bool {
		if bases[i].prio != bases[j].prio {
			return bases[i].prio < bases[j].prio
		}
		return bases[i].order > bases[j].order
	})
	for _, bc := range bases {
		if bc.fam == parser.FamilyIP || bc.fam == parser.FamilyInet {
			b.e.hooks[bc.hook][0] = append(b.e.hooks[bc.hook][0], bc.c)
		}
		if bc.fam == parser.FamilyIP6 || bc.fam == parser.FamilyInet {
			b.e.hooks[bc.hook][1] = append(b.e.hooks[bc.hook][1], bc.c)
		}
	}
	return b.e, nil
}

func reachesUserspace(t *parser.Table, c *parser.Chain, seen map[*parser.Chain]bool) bool {
	if seen[c] {
		return false
	}
	seen[c] = true
	for _, r := range c.Rules {
		for _, s := range r.Stmts {
			switch s := s.(type) {
			case *parser.Match:
				for _, k := range s.Keys {
					if k.Userspace() {
						return true
					}
				}
			case *parser.Verdict:
				if s.Target != "" {
					if x := t.Chain(s.Target); x != nil && reachesUserspace(t, x, seen) {
						return true
					}
				}
			}
		}
	}
	return false
}

// HasChains reports whether any base chain sees packets of family fam
// (4 or 6) at hook.
func (e *Engine) HasChains(hook parser.Hook, fam int) bool {
	i := 0
	if fam == 6 {
		i = 1
	}
	return len(e.hooks[hook][i]) > 0
}

// Hooks lists the hooks that have base chains.
func (e *Engine) Hooks() []parser.Hook {
	var out []parser.Hook
	for _, h := range parser.Hooks {
		if len(e.hooks[h][0])+len(e.hooks[h][1]) > 0 {
			out = append(out, h)
		}
	}
	return out
}

func (b *builder) verdictOf(t *parser.Table, v *parser.Verdict) *verdict {
	out := &verdict{}
	switch v.Kind {
	case parser.VerdictAccept:
		out.kind = vAccept
	case parser.VerdictDrop:
		out.kind = vDrop
	case parser.VerdictContinue:
		out.kind = vContinue
	case parser.VerdictReturn:
		out.kind = vReturn
	case parser.VerdictJump, parser.VerdictGoto:
		out.kind = vJump
		if v.Kind == parser.VerdictGoto {
			out.kind = vGoto
		}
		out.target = b.chains[t.Chain(v.Target)]
	}
	return out
}

// ruleKey identifies a rule across reloads: where it is and what it says,
// with an occurrence number for identical rules in one chain.
func (b *builder) ruleKey(t *parser.Table, c *parser.Chain, text string) string {
	k := t.Family.String() + "\x00" + t.Name + "\x00" + c.Name + "\x00" + text
	n := b.seen[k]
	b.seen[k]++
	return k + "\x00" + strconv.Itoa(n)
}

func (b *builder) compileRule(t *parser.Table, c *parser.Chain, pr *parser.Rule) (rule, error) {
	text := parser.FormatRule(pr)
	key := b.ruleKey(t, c, text)
	info := &RuleInfo{Family: t.Family, Table: t.Name, Chain: c.Name, Handle: pr.Handle, Comment: pr.Comment, Text: text, Pos: pr.Pos}
	if c.Base != nil {
		info.Hook, info.InBase = c.Base.Hook, true
	}
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
	if old := b.prevRule(key); old != nil {
		info.Counts = old.Counts
	} else {
		info.Counts = &Counters{}
	}
	b.e.ruleKeys[key] = info
	b.e.Rules = append(b.e.Rules, info)
	r := rule{info: info, pre: -1}
	ko := b.opts.KernelOnly(t, pr)
	info.KernelOnly = ko
	pure := ko
	for i, s := range pr.Stmts {
		o, err := b.compileStmt(t, s, key+"\x00"+strconv.Itoa(i))
		if err != nil {
			return r, err
		}
		if m, ok := s.(*parser.Match); ok && m.Keys[0].Userspace() {
			info.Userspace = true
		}
		if o.match == nil && o.exec == nil {
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
		r.ops = append(r.ops, o)
	}
	if ko && r.pre < 0 {
		r.pre = 0
	}
	return r, nil
}

func (b *builder) prevRule(key string) *RuleInfo {
	if b.opts.Prev == nil {
		return nil
	}
	return b.opts.Prev.ruleKeys[key]
}

func (b *builder) compileStmt(t *parser.Table, s parser.Stmt, key string) (op, error) {
	switch s := s.(type) {
	case *parser.Match:
		m, err := b.compileMatch(t, s)
		return op{match: m}, err
	case *parser.VMap:
		return b.compileVMap(t, s)
	case *parser.Counter:
		ctr := b.stmtCounter(key, s)
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
		return op{match: b.newQuota(key, s).match}, nil
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

func (b *builder) stmtCounter(key string, s *parser.Counter) *Counters {
	if b.opts.Prev != nil {
		if c := b.opts.Prev.stmtCounters[key]; c != nil {
			b.e.stmtCounters[key] = c
			return c
		}
	}
	c := &Counters{}
	c.Packets.Store(s.Packets)
	c.Bytes.Store(s.Bytes)
	b.e.stmtCounters[key] = c
	return c
}

// StmtCounter returns the counter of the i-th statement of a rule, for
// printing live values (nil if that statement is no counter).
func (e *Engine) StmtCounter(r *RuleInfo, i int) *Counters {
	for k, v := range e.ruleKeys {
		if v == r {
			return e.stmtCounters[k+"\x00"+strconv.Itoa(i)]
		}
	}
	return nil
}

// compileMarkSetFrom sets the mark a map lookup finds.
func compileMarkSetFrom(s *parser.MarkSet, lk func(*Ctx) (uint32, bool)) op {
	ct := s.Ct
	return op{exec: func(c *Ctx) *verdict {
		v, ok := lk(c)
		if !ok {
			return breakVerdict
		}
		if ct {
			if !c.CT.Found {
				return nil
			}
			c.CtMark, c.CtMarkChanged = v, true
		} else {
			c.Mark, c.MarkChanged = v, true
		}
		return nil
	}}
}

func compileMarkSet(s *parser.MarkSet) op {
	val, from, ct := s.Value, s.From, s.Ct
	shift, by := s.Shift, s.ShiftBy
	mask, xor := uint32(0xffffffff), uint32(0)
	if s.Ops {
		mask, xor = s.Mask, s.Xor
	}
	return op{exec: func(c *Ctx) *verdict {
		v := val
		switch from {
		case parser.FieldMetaMark:
			v = c.Mark
		case parser.FieldCtMark:
			if !c.CT.Found {
				return breakVerdict // reading ct mark without conntrack breaks the rule
			}
			v = c.CtMark
		}
		if from != parser.FieldNone {
			switch shift {
			case parser.ShiftLeft:
				v <<= by // nft_bitwise_eval_lshift
			case parser.ShiftRight:
				v >>= by // nft_bitwise_eval_rshift
			}
			v = v&mask ^ xor // nft_bitwise_eval
		}
		if ct {
			// nft_ct_set_eval() quietly does nothing without a conntrack
			// entry: the rule goes on.
			if !c.CT.Found {
				return nil
			}
			c.CtMark, c.CtMarkChanged = v, true
		} else {
			c.Mark, c.MarkChanged = v, true
		}
		return nil
	}}
}

// nameKinds are the layer-7 names a rule matches.
// NameKindsOf returns the layer-7 names r matches, a bitmask of
// 1<<conntrack.Name*.
func NameKindsOf(r *parser.Rule) uint8 { return nameKinds(r) }

func nameKinds(r *parser.Rule) uint8 {
	var k uint8
	for _, st := range r.Stmts {
		if m, ok := st.(*parser.Match); ok {
			for _, f := range m.Keys {
				switch f {
				case parser.FieldTLSSNI:
					k |= 1 << conntrack.NameSNI
				case parser.FieldHTTPHost:
					k |= 1 << conntrack.NameHost
				case parser.FieldDNSQname:
					k |= 1 << conntrack.NameQname
				}
			}
		}
	}
	return k
}
