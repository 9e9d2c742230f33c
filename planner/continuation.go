package planner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// Continuations: kernel-only rules anywhere in a chain.
//
// A queued packet that nfd's engine carries to a rule only the kernel can
// evaluate (rules.Continue) goes back to the kernel with NF_REPEAT and a
// continuation id in nfd's mark bits. NF_REPEAT re-enters the same base
// chain from its first rule (nf_reinject() → nf_hook_slow() again, with
// the verdict's mark), so that rule is the dispatch: it reads the id,
// clears nfd's bits from the mark and goes to the continuation chain of
// that id. The continuation chain holds the native tail of the chain from
// the kernel-only rule on; for a point inside a chain reached by jump, it
// first jumps to a chain holding that tail, then to one holding the tail
// of each caller after its jump, and ends with the base chain's own tail,
// so `return` and falling off a chain resume in the caller as they would
// (a goto to the dispatch target keeps it at depth 0, where `return` and
// the end of the chain give the base chain's policy). The rules before
// the point ran once, in nfd or natively before the queue, and are not run
// again.
//
// A tail stops at the next rule the kernel cannot run (a layer-7 match,
// or with --offload=none any rule nfd can evaluate): there it queues the
// packet again, its mark carrying the id of that point, and nfd resumes
// there (rules.Engine.EvalFrom). Ids are global over the ruleset, so a
// marked packet that a failing-open queue accepts meets no other chain's
// continuation with its id: the next dispatch only clears the bits.
//
// Bounds: a ruleset has at most MaxContPoints points; the daemon takes
// the bits for them from --mark-mask and refuses a ruleset whose points
// do not fit the free bits (naming the count and the bits needed).

// ContChainPrefix names continuation chains: nfd-cont-<base chain>-<id>.
const ContChainPrefix = "nfd-cont-"

// MaxContPoints bounds the continuation points of a ruleset.
const MaxContPoints = 255

// ContFrame is one frame of a continuation point (rules.ContFrame by
// chain name): lower frames name the rule that jumped, the top frame the
// rule where evaluation resumes.
type ContFrame struct {
	Chain string
	Index int
}

// ContPoint is a point where evaluation crosses between nfd and the
// kernel: Kernel points are where the kernel resumes (nfd reached a
// kernel-only rule), the others where nfd resumes (a continuation chain
// reached a rule only nfd runs).
type ContPoint struct {
	ID     uint16
	Frames []ContFrame
	Kernel bool
	// Chain is the continuation chain the dispatch goes to (Kernel).
	Chain string
}

func (p *ContPoint) String() string {
	var parts []string
	for i, f := range p.Frames {
		if i < len(p.Frames)-1 {
			parts = append(parts, fmt.Sprintf("%s rule %d (jump)", f.Chain, f.Index+1))
		} else {
			parts = append(parts, fmt.Sprintf("%s rule %d", f.Chain, f.Index+1))
		}
	}
	return strings.Join(parts, " → ")
}

func framesKey(fs []ContFrame) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Chain)
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(f.Index))
		b.WriteByte(0)
	}
	return b.String()
}

// KernelOnly reports whether only the kernel can evaluate rule r of
// table t: the engine stops there (rules.Options.KernelOnly) and the plan
// runs it natively.
func KernelOnly(t *parser.Table, r *parser.Rule) bool {
	return kernelOnly(factsOf(t), r)
}

// tableFacts are what the kernel-only test needs of a rule's whole table:
// the sets its rules update and whether a rule changes how the kernel
// tracks packets. Found once per table: per rule, planning and compiling
// would be quadratic.
type tableFacts struct {
	upd      map[string]bool
	tracking bool
}

func factsOf(t *parser.Table) *tableFacts {
	return &tableFacts{upd: updatedSets(t), tracking: changesTracking(t)}
}

// KernelOnlyTest is KernelOnly for one compile of a ruleset
// (rules.Options.KernelOnly): each table's updated sets are found once,
// not once per rule, which would make compiling quadratic.
func KernelOnlyTest() func(*parser.Table, *parser.Rule) bool {
	memo := map[*parser.Table]*tableFacts{}
	return func(t *parser.Table, r *parser.Rule) bool {
		kf, ok := memo[t]
		if !ok {
			kf = factsOf(t)
			memo[t] = kf
		}
		return kernelOnly(kf, r)
	}
}

func kernelOnly(kf *tableFacts, r *parser.Rule) bool {
	if _, _, _, ok := kernelOnlyPart(kf.upd, r); ok {
		return true
	}
	for _, s := range r.Stmts {
		if _, ok := s.(*parser.Notrack); ok {
			return true
		}
	}
	return kf.tracking && readsCt(r)
}

// changesTracking reports whether a rule of t changes how the kernel
// tracks a packet: `notrack` leaves it untracked, `ct zone set` tracks it
// in another zone. nfd, handing a packet back to the kernel before such a
// rule, cannot tell whether it ran (NFQUEUE delivers no conntrack state
// here), so after it nfd's own table may not be the kernel's: the rules
// of that table that read the connection run in the kernel.
func changesTracking(t *parser.Table) bool {
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			for _, s := range r.Stmts {
				switch s := s.(type) {
				case *parser.Notrack:
					return true
				case *parser.KeySet:
					if s.Ct && s.Key == "zone" {
						return true
					}
				}
			}
		}
	}
	return false
}

// readsCt reports whether r reads the packet's connection (a ct key).
func readsCt(r *parser.Rule) bool {
	for _, s := range r.Stmts {
		for _, k := range stmtKeys(s) {
			if strings.HasPrefix(k.Info().Name, "ct ") {
				return true
			}
		}
	}
	return false
}

// contIDs numbers continuation points over a whole ruleset.
type contIDs struct{ next int }

type contBuilder struct {
	tr         *translator
	t          *parser.Table
	base       *parser.Chain
	cp         *ChainPlan
	none       bool
	ids        *contIDs
	placements *Placements
	points     map[string]*ContPoint
	walked     map[string]bool
	err        error
}

// continuations lays out the continuation points of a queued base chain c
// (plan cp, evaluated by nfd from cp.Start): every kernel-only rule nfd
// can reach gets a continuation chain, every rule only nfd runs that a
// continuation chain reaches gets an id to resume at.
func (tr *translator) continuations(c *parser.Chain, cp *ChainPlan, none bool, ids *contIDs, placements *Placements) error {
	b := &contBuilder{tr: tr, t: tr.t, base: c, cp: cp, none: none, ids: ids, placements: placements,
		points: map[string]*ContPoint{}, walked: map[string]bool{}}
	b.walk(nil, c, cp.Start)
	return b.err
}

func (b *contBuilder) chain(name string) *parser.Chain { return b.t.Chain(name) }

// walk follows nfd's evaluation from rule from of chain c with the call
// stack below it, recording each kernel-only rule it can reach.
func (b *contBuilder) walk(stack []ContFrame, c *parser.Chain, from int) {
	if b.err != nil || c == nil {
		return
	}
	key := framesKey(stack) + "|" + c.Name + "|" + strconv.Itoa(from)
	if b.walked[key] {
		return
	}
	b.walked[key] = true
	for j := from; j < len(c.Rules); j++ {
		r := c.Rules[j]
		if b.tr.ko(c, j) {
			run := j
			for run > 0 && b.tr.ko(c, run-1) {
				run--
			}
			b.point(true, append(clone(stack), ContFrame{c.Name, run}))
			continue
		}
		for _, tg := range targets(b.t, r) {
			if tg.goTo {
				b.walk(stack, b.chain(tg.name), 0)
			} else if len(stack) < parser.MaxJumpDepth {
				b.walk(append(clone(stack), ContFrame{c.Name, j}), b.chain(tg.name), 0)
			}
		}
		if returns(r) {
			b.ret(stack)
		}
	}
	b.ret(stack)
}

// ret follows a return to the caller (the base chain's policy at depth 0).
func (b *contBuilder) ret(stack []ContFrame) {
	if n := len(stack); n > 0 {
		b.walk(stack[:n-1], b.chain(stack[n-1].Chain), stack[n-1].Index+1)
	}
}

func clone(fs []ContFrame) []ContFrame { return append([]ContFrame(nil), fs...) }

// point finds or makes the point at frames; a new kernel point gets its
// continuation chains, a new nfd point is walked from.
func (b *contBuilder) point(kernel bool, frames []ContFrame) *ContPoint {
	key := fmt.Sprint(kernel) + framesKey(frames)
	if p := b.points[key]; p != nil {
		return p
	}
	if b.ids.next >= MaxContPoints {
		if b.err == nil {
			top := frames[len(frames)-1]
			r := b.chain(top.Chain).Rules[top.Index]
			b.err = errorf(r.Pos, "this rule needs continuation point %d, and nfd allows %d per ruleset: place the rules only the kernel can run (or only nfd can run) closer together", b.ids.next+1, MaxContPoints)
		}
		return &ContPoint{}
	}
	b.ids.next++
	p := &ContPoint{ID: uint16(b.ids.next), Frames: frames, Kernel: kernel}
	b.points[key] = p
	b.cp.Conts = append(b.cp.Conts, p)
	if kernel {
		b.kernelChains(p)
	} else {
		top := frames[len(frames)-1]
		b.walk(frames[:len(frames)-1], b.chain(top.Chain), top.Index)
	}
	return p
}

// kernelChains builds the continuation chains of kernel point p.
func (b *contBuilder) kernelChains(p *ContPoint) {
	n := len(p.Frames)
	w := &ChainPlan{Name: ContChainPrefix + b.base.Name + "-" + strconv.Itoa(int(p.ID)), Parent: b.cp}
	if len(w.Name)+4 > maxNameLen {
		b.err = errorf(b.base.Pos, "chain name `%s` is too long for nfd: its continuation chains would have over %d bytes, the kernel takes %d", b.base.Name, len(w.Name)+4, maxNameLen)
		return
	}
	p.Chain = w.Name
	b.cp.ContChains = append(b.cp.ContChains, w)
	for k := n - 1; k >= 1; k-- {
		tc := &ChainPlan{Name: w.Name + "-" + strconv.Itoa(k), Parent: b.cp}
		b.cp.ContChains = append(b.cp.ContChains, tc)
		start := p.Frames[k].Index
		if k < n-1 {
			start++
		}
		b.tail(tc, p.Frames[:k], b.chain(p.Frames[k].Chain), start)
		w.addOther([]expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: tc.Name}})
	}
	start := p.Frames[0].Index
	if n > 1 {
		start++
	}
	b.tail(w, nil, b.chain(p.Frames[0].Chain), start)
}

// tail fills continuation chain cp with chain c's rules from start, as
// far as the kernel runs them; at a rule only nfd runs it queues the
// packet marked with that point (lower frames below it).
func (b *contBuilder) tail(cp *ChainPlan, lower []ContFrame, c *parser.Chain, start int) {
	for j := start; j < len(c.Rules) && b.err == nil; j++ {
		r := c.Rules[j]
		ref := RuleRef{b.t.Family, b.t.Name, c.Name, j}
		ko := b.tr.ko(c, j)
		var x *xlate
		err := userspace("--offload=none")
		if ko || !b.none {
			x, err = b.tr.ruleAt(c, j)
		}
		if err != nil && ko {
			if jb, ok := b.jumpBack(lower, c, j, r); ok {
				exprs, ord := withCounter(jb, r)
				x, err = &xlate{counted: exprs, ord: ord}, nil
			}
		}
		if err != nil {
			if ko {
				b.err = errorf(r.Pos, "only the kernel can run this rule, but nfd cannot write it as native nftables: %v", err)
				return
			}
			np := b.point(false, append(clone(lower), ContFrame{c.Name, j}))
			cp.Queue, cp.QueueID = true, np.ID
			return
		}
		cp.addRule(x, ref)
		pl := b.placements.get(ref)
		if ko {
			pl = Placement{Kernel: true, Cont: true}
		} else if !pl.Kernel || pl.Both {
			// nfd runs it for the packets it decides, the continuation
			// chain for those that went on in the kernel: counts add up.
			pl.Kernel, pl.Both = true, true
		}
		b.placements.set(ref, pl)
	}
}

// jumpBack writes kernel-only rule r (rule j of c), which jumps or goes
// to a chain only nfd runs, as its native matches and statements and a
// goto to a continuation chain that queues the packet back to nfd, marked
// with the point at the target chain's first rule (the jump's frame below
// it): the kernel decides the match, nfd runs the chain jumped to. ok is
// false when the rest of the rule cannot be native either.
func (b *contBuilder) jumpBack(lower []ContFrame, c *parser.Chain, j int, r *parser.Rule) ([]expr.Any, bool) {
	n := len(r.Stmts)
	if n == 0 {
		return nil, false
	}
	v, ok := r.Stmts[n-1].(*parser.Verdict)
	if !ok || v.Target == "" || (v.Kind != parser.VerdictJump && v.Kind != parser.VerdictGoto) || b.chain(v.Target) == nil {
		return nil, false
	}
	head := *r
	head.Stmts = r.Stmts[:n-1]
	exprs, err := b.tr.rule(&head)
	if err != nil {
		return nil, false
	}
	frames := append(clone(lower), ContFrame{v.Target, 0})
	if v.Kind == parser.VerdictJump {
		if len(lower) >= parser.MaxJumpDepth {
			return nil, false
		}
		frames = append(append(clone(lower), ContFrame{c.Name, j}), ContFrame{v.Target, 0})
	}
	np := b.point(false, frames)
	if b.err != nil {
		return nil, false
	}
	name := ContChainPrefix + b.base.Name + "-" + strconv.Itoa(int(np.ID)) + "-q"
	have := false
	for _, cc := range b.cp.ContChains {
		have = have || cc.Name == name
	}
	if !have {
		b.cp.ContChains = append(b.cp.ContChains, &ChainPlan{Name: name, Parent: b.cp, Queue: true, QueueID: np.ID})
	}
	return append(exprs, &expr.Verdict{Kind: expr.VerdictGoto, Chain: name}), true
}

type target struct {
	name string
	goTo bool
}

// targets lists the chains a rule may jump or go to.
func targets(t *parser.Table, r *parser.Rule) []target {
	var out []target
	add := func(v *parser.Verdict) {
		if v != nil && v.Target != "" {
			out = append(out, target{v.Target, v.Kind == parser.VerdictGoto})
		}
	}
	for _, st := range r.Stmts {
		switch st := st.(type) {
		case *parser.Verdict:
			add(st)
		case *parser.VMap:
			for _, e := range st.Val.Elems {
				add(e.Verdict)
			}
			if st.Val.SetRef != "" {
				if set := t.Set(st.Val.SetRef); set != nil {
					for _, e := range set.Elems {
						add(e.Verdict)
					}
				}
			}
		}
	}
	return out
}

// returns reports whether a rule may return to its caller.
func returns(r *parser.Rule) bool {
	for _, st := range r.Stmts {
		switch st := st.(type) {
		case *parser.Verdict:
			if st.Kind == parser.VerdictReturn {
				return true
			}
		case *parser.VMap:
			for _, e := range st.Val.Elems {
				if e.Verdict != nil && e.Verdict.Kind == parser.VerdictReturn {
					return true
				}
			}
			if st.Val.SetRef != "" {
				return true // conservatively
			}
		}
	}
	return false
}

// ContValue spreads id over the bits of mask, lowest bit first (as x86's
// PDEP): the mark value of continuation id under mask.
func ContValue(id uint16, mask uint32) uint32 {
	var v uint32
	for b := uint32(1); b != 0 && id != 0; b <<= 1 {
		if mask&b != 0 {
			if id&1 != 0 {
				v |= b
			}
			id >>= 1
		}
	}
	return v
}

// ContID gathers the bits of mask from mark into an id (PEXT).
func ContID(mark, mask uint32) uint16 {
	var id uint16
	n := 0
	for b := uint32(1); b != 0; b <<= 1 {
		if mask&b != 0 {
			if mark&b != 0 {
				id |= 1 << n
			}
			n++
		}
	}
	return id
}

// DispatchSet is the anonymous verdict map of cp's dispatch rule: each
// kernel point's id under cp.ContMask → goto its continuation chain.
func (cp *ChainPlan) DispatchSet() PendingSet {
	set := &nftables.Set{Name: "__map%d", Anonymous: true, Constant: true, IsMap: true, ID: setIDs.Add(1),
		KeyType: nftables.TypeMark, KeyByteOrder: binaryutil.NativeEndian, DataType: nftables.TypeVerdict}
	var elems []nftables.SetElement
	for _, p := range cp.KernelPoints() {
		elems = append(elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(ContValue(p.ID, cp.ContMask)),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: p.Chain}})
	}
	for _, rp := range cp.Rejects {
		elems = append(elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(ContValue(rp.ID, cp.ContMask)),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: rp.Chain}})
	}
	return PendingSet{Set: set, Elems: elems}
}

// DispatchExprs: the base chain's first rule. meta mark & mask → reg 1;
// if it is not 0: meta mark set meta mark & ^mask, then the id's verdict
// from the continuation map (a miss goes on: an id of another chain, or
// of a ruleset replaced meanwhile, is only cleared).
func DispatchExprs(mask uint32, setName string, setID uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 2},
		&expr.Bitwise{SourceRegister: 2, DestRegister: 2, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(^mask), Xor: make([]byte, 4)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 2, SourceRegister: true},
		&expr.Lookup{SourceRegister: reg1, SetName: setName, SetID: setID, IsDestRegSet: true, DestRegister: 0},
	}
}

// ContMarkExprs: meta mark set (meta mark & ^mask) | value, before a
// continuation chain's queue rule.
func ContMarkExprs(mask, value uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(^mask), Xor: binaryutil.NativeEndian.PutUint32(value)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1, SourceRegister: true},
	}
}

// KernelPoints lists cp's points where the kernel resumes.
func (cp *ChainPlan) KernelPoints() []*ContPoint {
	var out []*ContPoint
	for _, p := range cp.Conts {
		if p.Kernel {
			out = append(out, p)
		}
	}
	return out
}

// MaxContID is the largest continuation id of plans (0: none).
func MaxContID(plans []*TablePlan) uint16 {
	var m uint16
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			for _, p := range cp.Conts {
				m = max(m, p.ID)
			}
			for _, rp := range cp.Rejects {
				m = max(m, rp.ID)
			}
		}
	}
	return m
}
