package rules

import (
	"fmt"
	"log/slog"
	"sort"
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

	// What the next compile reuses (reuse.go): the parsed chain, each
	// rule's shape (shared by the engines that reuse it), each rule's
	// key and place, the files they are in, and what the index was built
	// from.
	src *parser.Chain
	// lineage: where RuleInfos print from (ruleinfo.go); shared[j]:
	// during a compile with Prev, the previous chain's j-th RuleInfo is
	// shared by this chain.
	lineage *lineage
	shared  []bool
	shapes  []*shape
	at      []ruleAt
	files   []string
	ixs     *ixStats
	// l7: a rule matches a layer-7 name; jumps: a rule names a chain.
	l7, jumps bool
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
	sets   map[*parser.Set]*set // named sets, for their element state
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
	stats   ReuseStats
	// What the KernelOnly test was: DefaultKernelOnly, or one with
	// these facts per table (Options.KernelOnlyFacts).
	koDefault bool
	koFacts   map[tableName]string
}

type tableName struct {
	fam  parser.Family
	name string
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
	// Prev is the engine being replaced: counters of unchanged rules
	// carry over, and the compiled form of a rule with the same key
	// (parser.Rule.Key) is reused (reuse.go). KernelOnly must be the
	// same test as Prev's.
	Prev *Engine
	// KernelOnly tells the rules only the kernel can evaluate: the engine
	// stops there with Continue. nil means DefaultKernelOnly.
	KernelOnly func(*parser.Table, *parser.Rule) bool
	// KernelOnlyFacts names, for a table, everything KernelOnly's answer
	// for a rule of it depends on besides the rule's own statements. A
	// rule reused from Prev keeps Prev's answer when its table's facts
	// are those Prev was compiled with; without KernelOnlyFacts, a set
	// KernelOnly is asked about every rule. (DefaultKernelOnly depends
	// on the statements alone.)
	KernelOnlyFacts func(*parser.Table) string
	// Offline (nfd replay, and nfd check's tools): no kernel to continue
	// in; a kernel-only rule is assumed not to match, and the first such
	// rule a packet reaches is recorded in Ctx.Assumed.
	Offline bool
	// noReuse (tests): pair rules by text only and reuse nothing, the
	// carry-over as it was before rule keys.
	noReuse bool
}

var monoStart = time.Now()

func monotonic() int64 { return int64(time.Since(monoStart)) }

type builder struct {
	opts   Options
	e      *Engine
	chains map[*parser.Chain]*chain
	sets   map[*parser.Set]*set
	stats  *ReuseStats
	guards slab[guardVal]
	shapes slab[shape]
	keys   slab[key128]
}

// Compile builds an engine from a validated ruleset.
func Compile(rs *parser.Ruleset, opts Options) (*Engine, error) {
	if opts.Now == nil {
		opts.Now = monotonic
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	koDefault, koFacts := opts.KernelOnly == nil, opts.KernelOnlyFacts
	if koDefault {
		opts.KernelOnly, koFacts = DefaultKernelOnly, nil
	}
	b := &builder{opts: opts, e: &Engine{Ruleset: rs, chainOf: map[*ChainInfo]*chain{}, offline: opts.Offline},
		chains: map[*parser.Chain]*chain{}, sets: map[*parser.Set]*set{}}
	b.stats = &b.e.stats
	b.e.koDefault = koDefault
	if koFacts != nil {
		b.e.koFacts = map[tableName]string{}
		for _, t := range rs.Tables {
			b.e.koFacts[tableName{t.Family, t.Name}] = koFacts(t)
		}
	}
	nrules := 0
	for _, t := range rs.Tables {
		for _, pc := range t.Chains {
			nrules += len(pc.Rules)
		}
	}
	b.e.Rules = make([]*RuleInfo, 0, nrules)
	b.stats.Rules = nrules
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
			c := &chain{info: ci, src: pc}
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
	// Each rule's key and place, read once from the parsed rules.
	for _, t := range rs.Tables {
		for _, pc := range t.Chains {
			c := b.chains[pc]
			c.rules = make([]rule, len(pc.Rules))
			c.shapes = make([]*shape, len(pc.Rules))
			c.at = make([]ruleAt, len(pc.Rules))
			for i, pr := range pc.Rules {
				c.stamp(i, pr)
			}
		}
	}
	pairs := b.pairChains(rs)
	for _, t := range rs.Tables {
		for _, pc := range t.Chains {
			c := b.chains[pc]
			if cp := pairs[pc]; cp != nil && cp.old.lineage != nil && cp.old.lineage.rules.Load() == &cp.old.src.Rules {
				c.lineage, c.shared = cp.old.lineage, make([]bool, len(cp.old.rules))
			} else {
				c.lineage = &lineage{}
				c.lineage.rules.Store(&pc.Rules)
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
			cp := pairs[pc]
			for i, pr := range pc.Rules {
				r := &c.rules[i]
				sh, err := b.rule(t, pc, c, pr, i, cp, r)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", pr.Pos, err)
				}
				c.shapes[i] = sh
				if r.pre >= 0 {
					r.run = int32(i)
					if i > 0 && c.rules[i-1].pre >= 0 {
						r.run = c.rules[i-1].run
					}
				}
				b.e.NameKinds |= sh.names
				c.l7 = c.l7 || sh.l7
				c.jumps = c.jumps || sh.jumps
				if sh.userspace && pc.Base != nil {
					b.e.NeedsPayload[pc.Base.Hook] = true
				}
			}
			c.idx, c.ixs = b.index(c, cp)
		}
	}
	// Payload needs of regular chains apply at every hook that reaches them.
	for _, t := range rs.Tables {
		for _, pc := range t.Chains {
			if pc.Base != nil && b.reachesUserspace(t, pc, map[*parser.Chain]bool{}) {
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
	b.passLineages(rs, pairs)
	return b.e, nil
}

// passLineages makes the lineages this compile shares with the previous
// engine's chains (ruleinfo.go) print from the new rules, once the
// previous engine's RuleInfos this engine does not share print from their
// own rules.
func (b *builder) passLineages(rs *parser.Ruleset, pairs map[*parser.Chain]*chainPairs) {
	for _, t := range rs.Tables {
		for _, pc := range t.Chains {
			c := b.chains[pc]
			if c.shared == nil {
				continue
			}
			oc := pairs[pc].old
			for j, r := range oc.rules {
				if !c.shared[j] && r.info.own.Load() == nil {
					r.info.own.Store(oc.src.Rules[j])
				}
			}
			c.shared = nil
			if c.lineage.rules.CompareAndSwap(&oc.src.Rules, &pc.Rules) {
				continue
			}
			// Another compile from the same engine moved the lineage
			// on: this engine's RuleInfos print from their own rules.
			for i, r := range c.rules {
				if r.info.own.Load() == nil {
					r.info.own.Store(pc.Rules[i])
				}
			}
			c.lineage = &lineage{}
			c.lineage.rules.Store(&pc.Rules)
		}
	}
}

// reachesUserspace reports whether chain c, or a chain it jumps or goes
// to, matches a layer-7 name.
func (b *builder) reachesUserspace(t *parser.Table, pc *parser.Chain, seen map[*parser.Chain]bool) bool {
	if seen[pc] {
		return false
	}
	seen[pc] = true
	c := b.chains[pc]
	if c.l7 {
		return true
	}
	if !c.jumps {
		return false
	}
	for i, r := range pc.Rules {
		if !c.shapes[i].jumps {
			continue
		}
		for _, s := range r.Stmts {
			if v, ok := s.(*parser.Verdict); ok && v.Target != "" {
				if x := t.Chain(v.Target); x != nil && b.reachesUserspace(t, x, seen) {
					return true
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
