package parser

import (
	"bytes"
	"fmt"
	"golang.org/x/sys/unix"
	"sort"
	"strings"
)

// MaxJumpDepth is the kernel's NFT_JUMP_STACK_SIZE: nft_chain_validate()
// refuses a chain reached at this depth of jumps (-EMLINK).
const MaxJumpDepth = 16

// finish numbers rules per table in file order, as handles, and gives
// them their keys (memo.go).
func (p *parser) finish() {
	skel := p.skelKey()
	for _, t := range p.rs.Tables {
		h := 0
		for _, c := range t.Chains {
			if len(c.Rules) == 0 {
				c.Rules = nil // as a parse without Prev leaves it (ParseWith sizes it)
			}
			for _, r := range c.Rules {
				h++
				r.Handle = h
				r.Key = ruleKey(r, c, skel)
			}
		}
	}
}

// context is a base chain's type and hook: where a chain can run.
type context struct {
	typ  ChainType
	hook Hook
}

// checkRuleset runs the semantic checks that need the whole file: names
// resolve, types agree, families fit, jumps neither loop nor nest too deep,
// and statements sit in chains where the kernel runs them.
func checkRuleset(rs *Ruleset, p *parser) {
	for _, t := range rs.Tables {
		checkTable(t, p)
	}
}

type edge struct {
	to  *Chain
	pos Pos
}

// checkTable validates one table in five phases: sets, per-rule checks and
// jump edges, loops, jump depth and chain contexts, context-dependent statements.
func checkTable(t *Table, p *parser) {
	objMapKindsOf(t)
	checkSets(t, p)
	edges := jumpEdges(t, p)
	if checkLoops(t, edges, p) {
		return
	}
	contexts := chainContexts(t, edges, p)
	for _, c := range t.Chains {
		c.ctxs = contexts[c]
	}
	checkRuleContexts(t, contexts, p)
	// Once the rules passed nft's checks, merge as nft does. A reused
	// rule's statements are merged already (and shared with Prev); a
	// rule the merge changes is not reused later, since the checks must
	// see its statements unmerged (memo.go).
	for _, c := range t.Chains {
		if p.prev != nil && !p.unmerged[c] {
			continue // all its rules reused: merged already
		}
		for _, r := range c.Rules {
			if r.reused {
				continue
			}
			if r.shared {
				// Prev's statements, never checked (nor merged) there:
				// merge a copy
				r.Stmts = append([]Stmt(nil), r.Stmts...)
			}
			if mergeLikeNft(r) && r.src != nil {
				if r.shared {
					s := *r.src // Prev's record stays as it is
					r.src = &s
				}
				r.src.ok = false
			}
		}
	}
}

// checkSets: interval elements need `flags interval`; contents match the type.
func checkSets(t *Table, p *parser) {
	for _, s := range t.Sets {
		for _, e := range s.Elems {
			if string(e.Lo) != string(e.Hi) && s.Flags&SetInterval == 0 {
				p.errorf(s.Pos, "set `%s` holds ranges or prefixes but has no `flags interval`", s.Name)
				break
			}
		}
		if s.IsMap && !checkMapElems(s.Key, s.Elems, s.Pos, p) {
			continue
		}
		if s.IsMap && s.Data == TypeVerdict && !checkMapTargets(t, s, p) {
			continue
		}
		if s.ObjKind != "" && !checkObjMapNames(t, s, p) {
			continue
		}
		checkSetContents(s, p)
	}
}

// jumpEdges checks every rule on its own and collects the jump edges, from
// rules and from verdict maps.
func jumpEdges(t *Table, p *parser) map[*Chain][]edge {
	edges := map[*Chain][]edge{}
	addVerdictEdge := func(from *Chain, v *Verdict) {
		if v == nil || (v.Kind != VerdictJump && v.Kind != VerdictGoto) {
			return
		}
		to := t.Chain(v.Target)
		if to == nil {
			var names []string
			for _, c := range t.Chains {
				names = append(names, c.Name)
			}
			msg := fmt.Sprintf("%s to undefined chain `%s` in table `%s %s`", v.Kind, v.Target, t.Family, t.Name)
			if s := suggest(v.Target, names); s != "" {
				msg += fmt.Sprintf(", did you mean `%s`?", s)
			}
			p.errorf(v.Pos, "%s", msg)
			return
		}
		if to.Base != nil {
			p.errorf(v.Pos, "cannot %s to base chain `%s`", v.Kind, to.Name)
			return
		}
		edges[from] = append(edges[from], edge{to, v.Pos})
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			r.checked = true
			// A reused rule Prev checked against the same declarations
			// passes its own checks again (memo.go).
			own := !r.reused || !p.declSame
			if !own && !r.src.edges {
				continue // and adds no edge
			}
			if own {
				checkRuleLocal(t, r, p)
			}
			for _, s := range r.Stmts {
				switch s := s.(type) {
				case *SetUpdate:
					if own {
						p.checkSetUpdate(t, s)
					}
				case *ObjRef:
					if own {
						p.checkObjRef(t, s)
					}
				case *Verdict:
					addVerdictEdge(c, s)
				case *VMap:
					if s.Val.SetRef != "" {
						if m := t.Set(s.Val.SetRef); m != nil {
							els := m.Elems
							if m.CatchAll != nil {
								els = append(els[:len(els):len(els)], *m.CatchAll)
							}
							for i := range els {
								if els[i].Verdict == nil {
									continue // not a verdict map: refused where the types are checked
								}
								v := *els[i].Verdict
								v.Pos = s.Val.Pos
								addVerdictEdge(c, &v)
							}
						}
					}
					for i := range s.Val.Elems {
						addVerdictEdge(c, s.Val.Elems[i].Verdict)
					}
					if s.Val.CatchAll != nil {
						addVerdictEdge(c, s.Val.CatchAll.Verdict)
					}
				}
			}
		}
	}
	return edges
}

// checkLoops reports the first jump loop reachable from a base chain and
// says whether there was one. The kernel validates the chains a base chain
// reaches (nft_table_validate → nft_chain_validate, -EMLINK "Too many
// links" for a loop): a loop among regular chains no base chain jumps to
// loads.
func checkLoops(t *Table, edges map[*Chain][]edge, p *parser) bool {
	state := map[*Chain]int{} // 0 new, 1 on stack, 2 done
	var stack []*Chain
	looped := false
	var visit func(c *Chain)
	visit = func(c *Chain) {
		state[c] = 1
		stack = append(stack, c)
		for _, e := range edges[c] {
			if looped {
				break
			}
			switch state[e.to] {
			case 0:
				visit(e.to)
			case 1:
				var path []string
				in := false
				for _, x := range stack {
					if x == e.to {
						in = true
					}
					if in {
						path = append(path, x.Name)
					}
				}
				path = append(path, e.to.Name)
				p.errorf(e.pos, "jump loop: %s", strings.Join(path, " → "))
				looped = true
			}
		}
		stack = stack[:len(stack)-1]
		state[c] = 2
	}
	for _, c := range t.Chains {
		if c.Base != nil && state[c] == 0 && !looped {
			visit(c)
		}
	}
	return looped
}

// chainContexts checks every base chain and walks from it, checking the
// kernel's jump depth and collecting the contexts (type, hook) each chain runs in.
func chainContexts(t *Table, edges map[*Chain][]edge, p *parser) map[*Chain]map[context]bool {
	contexts := map[*Chain]map[context]bool{}
	depthErr := false
	var walk func(c *Chain, ctx context, depth int, path []string)
	walk = func(c *Chain, ctx context, depth int, path []string) {
		if contexts[c] == nil {
			contexts[c] = map[context]bool{}
		}
		contexts[c][ctx] = true
		for _, e := range edges[c] {
			if depthErr {
				return
			}
			if depth+1 >= MaxJumpDepth {
				p.errorf(e.pos, "jumps nest deeper than %d chains (the kernel's limit): %s → %s", MaxJumpDepth, strings.Join(path, " → "), e.to.Name)
				depthErr = true
				return
			}
			walk(e.to, ctx, depth+1, append(path, e.to.Name))
		}
	}
	for _, c := range t.Chains {
		if c.Base != nil {
			if !checkBase(t, c, p) {
				continue
			}
			walk(c, context{c.Base.Type, c.Base.Hook}, 0, []string{c.Name})
		}
	}
	return contexts
}

// checkRuleContexts checks the statements that depend on where the chain runs.
func checkRuleContexts(t *Table, contexts map[*Chain]map[context]bool, p *parser) {
	for _, c := range t.Chains {
		var prev map[context]bool
		if p.prev != nil && len(contexts[c]) > 0 {
			if pc := p.prev.prevChain(t, c.Name); pc != nil {
				prev = pc.ctxs
			}
		}
		for ctx := range contexts[c] {
			// A reused rule Prev checked in this chain in this context
			// passes again: the check reads only the statements, the
			// context and the chain's name.
			seen := prev[ctx]
			if seen && !p.unmerged[c] {
				continue // every rule reused: Prev checked them all here
			}
			for _, r := range c.Rules {
				if seen && r.reused {
					continue
				}
				if !checkRuleContext(t, c, ctx, r, p) {
					break
				}
			}
		}
	}
}

func checkBase(t *Table, c *Chain, p *parser) bool {
	b := c.Base
	switch b.Type {
	case ChainNAT:
		if b.Hook == HookForward {
			p.errorf(b.Pos, "nat chains cannot hook forward (use prerouting, input, output or postrouting)")
			return false
		}
		if b.Priority <= -200 {
			// nf_nat_register_fn: NAT runs after conntrack
			// (NF_IP_PRI_CONNTRACK, -200); the kernel refuses EOPNOTSUPP.
			p.errorf(b.Pos, "a nat chain's priority must be above -200 (conntrack's), not %d", b.Priority)
			return false
		}
	case ChainRoute:
		if b.Hook != HookOutput {
			p.errorf(b.Pos, "route chains only hook output")
			return false
		}
	}
	return true
}

// checkRuleLocal checks what one rule can get wrong on its own.
func checkRuleLocal(t *Table, r *Rule, p *parser) {
	pc := newProtoCtx(t.Family)
	for i, s := range r.Stmts {
		if i > 0 && IsTerminal(r.Stmts[i-1]) {
			p.errorf(s.StmtPos(), "statement after `%s` is never reached", stmtName(r.Stmts[i-1]))
			return
		}
		var keys []Field
		var val *Value
		isMap := false
		switch s := s.(type) {
		case *Match:
			keys, val = s.Keys, &s.Val
			if len(s.Keys) > 1 && !s.Val.Anon && s.Val.SetRef == "" && !s.Merged {
				p.errorf(s.Pos, "use concatenations with sets and maps, not singleton values (write `{ %s }`)", FormatElem(keyTypes(s.Keys), &s.Val.Elems[0], nil))
				return
			}
			if s.Keys[0] == FieldMetaNfproto && t.Family != FamilyInet {
				p.errorf(s.Pos, "meta nfproto is only useful in the inet family")
				return
			}
		case *VMap:
			keys, val, isMap = s.Keys, &s.Val, true
			if s.Val.Anon && !checkMapElems(keyTypes(s.Keys), s.Val.Elems, s.Val.Pos, p) {
				return
			}
		case *Reject:
			if msg := pc.reject(s, t.Family); msg != "" {
				p.errorf(s.Pos, "%s", msg)
				return
			}
		case *NAT:
			if msg := pc.nat(s, t.Family); msg != "" {
				p.errorf(s.Pos, "%s", msg)
				return
			}
			for _, m := range []*DataMap{s.AddrMap, s.PortMap} {
				if m != nil {
					if !checkDataMap(t, m, p) {
						return
					}
					keys = append(keys, m.Keys...)
				}
			}
		case *ObjRef:
			if s.Map != nil {
				keys = s.Map.Keys
			}
		case *Dup:
			if s.Map != nil {
				if !checkDataMap(t, s.Map, p) {
					return
				}
				keys = s.Map.Keys
			}
		case *KeySet:
			if s.Map != nil {
				if !checkDataMap(t, s.Map, p) {
					return
				}
				keys = s.Map.Keys
			}
		case *MarkSet:
			if s.Map != nil {
				if !checkDataMap(t, s.Map, p) {
					return
				}
				keys = s.Map.Keys
			} else if s.From != FieldNone {
				keys = []Field{s.From}
			}
		}
		for _, k := range withHashSources(keys) {
			fi := k.Info()
			pr := fi.Proto
			if fi.Base == BaseXfrm {
				// nft's expr_evaluate_xfrm: the state's addresses, of
				// either family whatever the packet's (a tunnel's
				// outer header), with no protocol dependency.
				pr = ProtoNone
			}
			if (fi.Key == unix.NFT_CT_PROTO_SRC || fi.Key == unix.NFT_CT_PROTO_DST) && fi.Base == BaseCt && len(pc.l4) == 0 && !hasL4Match(r.Stmts[:i], t.Family) {
				// nft types proto-src by the transport protocol the
				// rule has matched; without one it has no type.
				p.errorf(s.StmtPos(), "`%s` needs a transport protocol match before it (such as `meta l4proto tcp`); nft cannot parse its value otherwise", k)
				return
			}
			if (pr == ProtoIP && t.Family == FamilyIP6) || (pr == ProtoIP6 && t.Family == FamilyIP) {
				p.errorf(s.StmtPos(), "`%s` in an %s table: the family does not match", k, t.Family)
				return
			}
			if msg := pc.field(pr, s.StmtPos()); msg != "" {
				p.errorf(s.StmtPos(), "%s", msg)
				return
			}
		}
		if m, ok := s.(*Match); ok {
			pc.match(m)
		}
		if val != nil && val.SetRef != "" {
			checkSetRef(t, keys, val, isMap, p)
		}
	}
}

// hasL4Match reports whether a statement before the NAT pins the transport
// protocol, as nft's "transport protocol mapping" check requires.
func hasL4Match(stmts []Stmt, fam Family) bool {
	for _, s := range stmts {
		if m, ok := s.(*Match); ok {
			for _, k := range m.Keys {
				switch k {
				case FieldMetaL4proto, FieldIPProtocol, FieldIP6Nexthdr:
					return true
				}
				// `ct [original|reply] protocol` too in ip and ip6
				// tables: nft's ct_expr_pctx_update sets the transport
				// protocol context from it (in inet nft refuses: "Can't
				// parse symbolic invalid expressions", measured).
				if fi := k.Info(); fi.Base == BaseCt && fi.Key == unix.NFT_CT_PROTOCOL && fam != FamilyInet {
					return true
				}
			}
		}
	}
	return false
}

func stmtName(s Stmt) string {
	switch s := s.(type) {
	case *Verdict:
		return s.Kind.String()
	case *Reject:
		return "reject"
	case *NAT:
		return s.Kind.String()
	}
	return "statement"
}

func checkSetRef(t *Table, keys []Field, val *Value, isMap bool, p *parser) {
	s := t.Set(val.SetRef)
	if s == nil {
		var names []string
		for _, x := range t.Sets {
			names = append(names, x.Name)
		}
		msg := fmt.Sprintf("undefined set `@%s` in table `%s %s`", val.SetRef, t.Family, t.Name)
		if sg := suggest(val.SetRef, names); sg != "" {
			msg += fmt.Sprintf(", did you mean `@%s`?", sg)
		}
		p.errorf(val.Pos, "%s", msg)
		return
	}
	if isMap && (!s.IsMap || s.Data != TypeVerdict) {
		p.errorf(val.Pos, "`vmap @%s` needs a verdict map (`type ... : verdict`)", s.Name)
		return
	}
	if !isMap && s.IsMap {
		p.errorf(val.Pos, "`@%s` is a map; use `vmap @%s` or a set", s.Name, s.Name)
		return
	}
	want := make([]*Type, len(keys))
	for i, k := range keys {
		want[i] = k.Type()
	}
	if !sameTypes(want, s.Key) {
		p.errorf(val.Pos, "set `@%s` holds %s, but `%s` is %s", s.Name, typeList(s.Key), keyNames(keys), typeList(want))
	}
}

// checkRuleContext checks a rule against one base-chain context it runs in.
// It reports at most one error and returns false after one.
func checkRuleContext(t *Table, c *Chain, ctx context, r *Rule, p *parser) bool {
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *Match, *VMap, *PayloadSet:
			var keys []Field
			switch s := s.(type) {
			case *Match:
				keys = s.Keys
			case *VMap:
				keys = s.Keys
			case *PayloadSet:
				keys = []Field{s.Field}
				if s.From != 0 {
					keys = append(keys, s.From)
				}
			}
			for _, k := range keys {
				if h := k.Info().Hooks; h != 0 && h&(1<<ctx.hook) == 0 {
					p.errorf(s.StmtPos(), "`%s` is not valid at the %s hook (the kernel refuses it there; chain `%s`)", k, ctx.hook, c.Name)
					return false
				}
				if k.Userspace() && ctx.typ != ChainFilter {
					p.errorf(s.StmtPos(), "`%s` is evaluated by nfd in userspace and cannot be used in a %s chain (chain `%s`)", k, ctx.typ, c.Name)
					return false
				}
			}
		case *NAT:
			if ctx.typ != ChainNAT {
				p.errorf(s.Pos, "`%s` only works in a nat chain; chain `%s` runs in a %s chain", s.Kind, c.Name, ctx.typ)
				return false
			}
			ok := false
			switch s.Kind {
			case NATSnat:
				ok = ctx.hook == HookPostrouting || ctx.hook == HookInput
			case NATMasquerade:
				ok = ctx.hook == HookPostrouting
			case NATDnat, NATRedirect:
				ok = ctx.hook == HookPrerouting || ctx.hook == HookOutput
			}
			if !ok {
				p.errorf(s.Pos, "`%s` is not valid at the %s hook", s.Kind, ctx.hook)
				return false
			}
		case *Reject:
			if ctx.hook == HookPostrouting {
				p.errorf(s.Pos, "`reject` is not valid at the postrouting hook (chain `%s`)", c.Name)
				return false
			}
		}
	}
	return true
}

// checkSetContents refuses what nft or the kernel would refuse at load:
// more elements than the set's size (the kernel's nft_add_set_elem fails
// with ENFILE) and, without auto-merge, overlapping intervals (nft's
// "conflicting intervals specified").
func checkSetContents(s *Set, p *parser) {
	if s.Size > 0 && uint64(s.NumElems()) > uint64(s.Size) {
		p.errorf(s.Pos, "set `%s` has %d elements, more than its `size %d`", s.Name, s.NumElems(), s.Size)
	}
	if s.Flags&SetInterval != 0 {
		s.unpack() // checked and merged as a list
	}
	if s.Flags&SetInterval == 0 || len(s.Key) != 1 || len(s.Elems) < 2 {
		return
	}
	if s.AutoMerg {
		mergeIntervals(s)
		return
	}
	idx := make([]int, len(s.Elems))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return bytes.Compare(s.Elems[idx[a]].Lo, s.Elems[idx[b]].Lo) < 0 })
	for i := 1; i < len(idx); i++ {
		prev, cur := &s.Elems[idx[i-1]], &s.Elems[idx[i]]
		if bytes.Compare(cur.Lo, prev.Hi) <= 0 {
			p.errorf(s.Pos, "set `%s`: elements %s and %s overlap (conflicting intervals); merge them or add `auto-merge`",
				s.Name, FormatElem(s.Key, prev, nil), FormatElem(s.Key, cur, nil))
			return
		}
	}
}

// mergeIntervals does what nft's auto-merge does before it sends a set:
// overlapping and adjacent intervals become one (the kernel itself
// refuses overlaps).
func mergeIntervals(s *Set) {
	els := append([]Elem(nil), s.Elems...)
	sort.SliceStable(els, func(a, b int) bool { return bytes.Compare(els[a].Lo, els[b].Lo) < 0 })
	out := els[:1]
	for _, e := range els[1:] {
		last := &out[len(out)-1]
		if next := NextKey(last.Hi); bytes.Compare(e.Lo, last.Hi) <= 0 || (next != nil && bytes.Equal(e.Lo, next)) {
			if bytes.Compare(e.Hi, last.Hi) > 0 {
				last.Hi = e.Hi
			}
			continue
		}
		out = append(out, e)
	}
	s.Elems = out
}

// NextKey is k+1 as a big-endian number, nil when k is all ones.
func NextKey(k []byte) []byte {
	n := append([]byte(nil), k...)
	for i := len(n) - 1; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return n
		}
	}
	return nil
}

// checkMapTargets: the kernel resolves a verdict map's jump and goto
// targets when the elements are added, used by a rule or not
// (nft_verdict_init: ENOENT for a missing chain, EOPNOTSUPP for a base
// chain).
func checkMapTargets(t *Table, s *Set, p *parser) bool {
	for _, e := range s.Elems {
		v := e.Verdict
		if v == nil || (v.Kind != VerdictJump && v.Kind != VerdictGoto) {
			continue
		}
		switch to := t.Chain(v.Target); {
		case to == nil:
			p.errorf(s.Pos, "map `%s`: %s to undefined chain `%s` in table `%s %s`", s.Name, v.Kind, v.Target, t.Family, t.Name)
			return false
		case to.Base != nil:
			p.errorf(s.Pos, "map `%s`: cannot %s to base chain `%s`", s.Name, v.Kind, to.Name)
			return false
		}
	}
	return true
}

// withHashSources adds the fields a jhash hashes after it: nft evaluates
// them in the rule's protocol context (`jhash ip saddr` in an ip6 table is
// a conflict).
func withHashSources(keys []Field) []Field {
	var out []Field
	for _, k := range keys {
		if src := k.HashSources(); len(src) > 0 {
			if out == nil {
				out = append([]Field(nil), keys...)
			}
			out = append(out, src...)
		}
	}
	if out == nil {
		return keys
	}
	return out
}
