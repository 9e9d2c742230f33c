// Rule keys made while parsing, and a re-parse that reuses the previous
// parse's rules (issue 20).
//
// The skeleton. Every byte of a file that is not part of a rule goes, in
// the order the parser reads it, into a running hash (the "declarations"
// stream); the element lists of sets and maps (`elements = { ... }`, `add
// element ... { ... }`) go into a second one. A rule of a chain body, with
// the blanks, comments and separators before it, and a whole `add rule` /
// `insert rule` command are left out, so adding, removing or editing rules
// never changes the skeleton. Rules that declare a bound chain (`jump {
// ... }`) stay in it: they add chains to the table. Each file read (the
// main one and every include) is framed by its name.
//
// A rule's parse depends on the parser's state where it starts, and that
// state is a function of what the parser read before it minus the rules:
// rules change nothing later rules or declarations see (the table whose
// rules are parsed is set again by every set declaration). The running
// declarations hash where a rule starts (its prefix) therefore fixes the
// state, up to the positions of $define tokens (below) and of set elements,
// which no rule's parse reads. So two rules with equal prefixes and equal
// text parse to equal statements, and:
//
//   - Rule.Key = H(declarations at the end, elements at the end, prefix,
//     the rule's text). The text is the exact bytes from the rule's first
//     token to its last (for `add rule`, from `add`), so keys are finer than
//     ReferenceKeys': `tcp dport 22  accept` (two spaces) and `tcp dport
//     ssh accept` get other keys than `tcp dport 22 accept`, and so do equal
//     rules of two blocks of one chain, or in `add rule` and `insert rule`
//     lines, where ReferenceKeys gives one key. Never the other way round.
//   - ParseWith reuses the statements the previous parse made of a rule
//     with the same prefix, text, terminator (newline, `;`, `}`) and, when
//     the rule expands $variables, the same positions of those defines'
//     tokens: their positions are inside the statements. A rule at the
//     same place shares Prev's statements; a rule that moved (lines
//     inserted or removed above it) gets copies with its positions moved
//     (memoshift.go). Rules are paired in order (the k-th of equal rules
//     with the k-th), looked for near where the last one was found, and in
//     an index of all of Prev's once many were not found there.
//   - Rules whose first token comes from a $variable or a split word, and
//     rules the parser ends elsewhere than scanRule does, get keys but are
//     never reused.
//
// What a parse does to a rule's statements after parsing it is either
// done again the same way or rules the rule out: nft's merge of adjacent
// matches (mergeLikeNft) is deterministic and Prev's statements are already
// merged, so a reused rule skips it (a rule Prev never checked, its chain
// flushed, is merged in a copy), and a rule the merge changed is never
// reused (the checks must see the statements before the merge); a rule
// whose statements the checks complete from the table's sets (an object
// map's kind, a map update's data) is never reused either. Nothing after
// the parser writes into statements (rules/, planner/ and hooks/ copy
// before they change one), so Prev and the new ruleset can share them.
//
// The checks after parsing (check.go) skip, for a reused rule that Prev
// checked, what cannot come out differently: the rule's own checks when
// the declarations stream at the end is Prev's (the sets, maps, objects,
// chains and families it checks against are then Prev's), and its checks
// in each base-chain context it ran in under Prev. Jump edges, loops,
// depths and contexts are computed afresh from every rule.

package parser

import (
	stdctx "context"
	"strings"
)

// ParseOptions tunes ParseWith.
type ParseOptions struct {
	// Prev is an earlier result of Parse, ParseContext or ParseWith (of
	// the same file, edited): rules whose text and surroundings are
	// unchanged take its statements instead of being parsed again. The
	// result is exactly what ParseContext gives; Prev is never modified,
	// stays valid, and shares statements with the result (treat both as
	// read-only). The dynamic fields of shared statements are owned by
	// both rulesets.
	Prev *Ruleset
}

// ParseWith is ParseContext with options.
func ParseWith(ctx stdctx.Context, name string, src []byte, opts ParseOptions) (*Ruleset, error) {
	p := &parser{
		ctx:       ctx,
		srcs:      map[string]string{},
		defines:   map[string]*define{},
		rs:        &Ruleset{},
		active:    map[string]bool{},
		fields:    newFieldOwner(),
		unitStart: -1,
	}
	p.bufArr = make([]token, 0, 16)
	p.skel.init()
	if opts.Prev != nil && opts.Prev.memo != nil {
		p.prev = &prevParse{rs: opts.Prev, memo: opts.Prev.memo}
		p.seq = make([]*Rule, 0, len(p.prev.memo.seq)+len(p.prev.memo.seq)/64)
	}
	p.run(name, src)
	if err := ctx.Err(); err != nil {
		p.fields.releaseNow()
		return nil, err
	}
	if len(p.errs) == 0 {
		p.finish()
		p.declSame = p.prev != nil && p.prev.memo.decl == p.skel.declSum()
		checkRuleset(p.rs, p)
	}
	if len(p.errs) > 0 {
		p.errs.sort()
		p.fields.releaseNow()
		return nil, p.errs
	}
	if p.prev != nil {
		p.cloneFresh()
	}
	p.setKeys()
	p.fields.attach(p.rs)
	return p.rs, nil
}

// parseMemo is what a ruleset keeps for the next parse's ParseWith.
type parseMemo struct {
	seq  []*Rule   // the rules that may be reused, in the order parsed
	decl [2]uint64 // the declarations stream's hash at the end
}

// ruleSrc is what the parser knows of a rule's source, apart from its
// place. A rule that reuses another shares it; it does not change once
// the parse that made it is done.
type ruleSrc struct {
	// text is the rule's source, from its first token (from `add` of an
	// `add rule`) to its last: a substring of the file, which it keeps.
	text string
	pre  [2]uint64 // the prefix: the declarations before the rule
	hash [2]uint64 // H(prefix, text): the key before the skeleton
	defs uint64    // positions of the defines the rule expands, 0 for none
	dyn  []Field   // dynamic fields the statements hold (fieldlife.go)
	nl   int32     // newlines inside the text
	term byte      // what ends the rule: '\n', ';', '}' or 0 (end of file)
	// ok: a later parse may reuse the statements.
	ok bool
	// edges: a statement may add a jump edge (a jump, a goto, a vmap).
	edges bool
}

// prevParse is ParseWith's view of Prev.
type prevParse struct {
	rs     *Ruleset
	memo   *parseMemo
	cur    int // where the next rule is looked for in memo.seq
	misses int
	index  map[[2]uint64][]int // built once many rules were not found near cur
	chains map[*Table]map[string]*Chain
}

// findWindow is how far ahead of the cursor a rule is looked for before
// it counts as a miss; after missWindow misses, an index of every rule is
// built.
const (
	findWindow = 16
	missWindow = 32
)

func (pp *prevParse) match(r *Rule, h [2]uint64, term byte, defs uint64) bool {
	return r.src.ok && r.src.hash == h && r.src.term == term && r.src.defs == defs
}

// near looks for a rule of Prev with this prefix whose text starts src at
// off, followed by its terminator, among the rules after the cursor: the
// common case, found without scanning or hashing the rule.
func (p *parser) near(src string, off int, prefix [2]uint64) *Rule {
	pp := p.prev
	seq := pp.memo.seq
	for k := pp.cur; k < len(seq) && k < pp.cur+findWindow; k++ {
		rs := seq[k].src
		if !rs.ok || rs.pre != prefix || len(src)-off < len(rs.text) || src[off:off+len(rs.text)] != rs.text ||
			!endsWith(src, off+len(rs.text), rs.term) {
			continue
		}
		if rs.defs != 0 && p.defsHash(rs.text) != rs.defs {
			continue
		}
		pp.cur = k + 1
		return seq[k]
	}
	return nil
}

// prevChain is Prev's chain of t's family and name and this name.
func (pp *prevParse) prevChain(t *Table, name string) *Chain {
	if pp.chains == nil {
		pp.chains = map[*Table]map[string]*Chain{}
	}
	m, ok := pp.chains[t]
	if !ok {
		if pt := pp.rs.Table(t.Family, t.Name); pt != nil {
			m = make(map[string]*Chain, len(pt.Chains))
			for _, c := range pt.Chains {
				m[c.Name] = c
			}
		}
		pp.chains[t] = m
	}
	return m[name]
}

// memoRule parses the rule that starts here, in a chain body or (with
// unitStart, the offset of `add`/`insert`) an `add rule` command, or
// takes it from Prev. sepStart is the end of what preceded the rule and
// the separators before it: the unit left out of the skeleton starts there.
func (p *parser) memoRule(t *Table, c *Chain, unitStart, sepStart int) *Rule {
	tok := p.peek()
	raw := len(p.buf) == 1 && !tok.exp && len(p.lex.pending) == 0 && tok.pos.File == p.lex.file
	start := int(tok.off)
	textStart := start
	if unitStart >= 0 {
		textStart = unitStart
	}
	p.skelTo(sepStart)
	prefix := p.skel.declSum()
	if raw && p.prev != nil && !p.triedFast {
		if r := p.reuse(t, c, start, tok.pos, textStart, prefix); r != nil {
			return r
		}
	}
	p.triedFast = false
	p.ruleDyn = p.ruleDyn[:0]
	r := p.parseRuleStmts(t, c)
	end := p.lastEnd
	if r == nil {
		p.skipTo(end)
		return nil
	}
	if holdsBound(r) {
		return r // it declares a chain: it stays in the skeleton, with no key
	}
	p.skipTo(end)
	if end <= textStart || textStart < 0 {
		return r
	}
	src := p.lex.src
	rs := p.newSrc()
	r.src = rs
	rs.text, rs.pre = src[textStart:end], prefix
	rs.hash = ruleHash(prefix, rs.text)
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *Verdict:
			rs.edges = rs.edges || s.Kind == VerdictJump || s.Kind == VerdictGoto
		case *VMap:
			rs.edges = true
		}
	}
	if !raw {
		return r
	}
	e, _, _, term, nl, dollar, ok := scanRule(src, start, tok.pos.Line, tok.pos.Col)
	if !ok || e != end || !reusable(r) {
		return r
	}
	rs.term, rs.nl, rs.ok = term, nl, true
	if dollar {
		rs.defs = p.defsHash(rs.text)
	}
	if len(p.ruleDyn) > 0 {
		rs.dyn = append([]Field(nil), p.ruleDyn...)
	}
	p.seq = append(p.seq, r)
	return r
}

// newSrc allocates rule records in blocks.
func (p *parser) newSrc() *ruleSrc {
	if len(p.srcSlab) == 0 {
		p.srcSlab = make([]ruleSrc, 128)
	}
	s := &p.srcSlab[0]
	p.srcSlab = p.srcSlab[1:]
	return s
}

// markUnmerged notes that chain c holds a rule mergeLikeNft must see.
func (p *parser) markUnmerged(c *Chain) {
	if p.unmerged == nil {
		p.unmerged = map[*Chain]bool{}
	}
	p.unmerged[c] = true
}

// newRule allocates rules in blocks.
func (p *parser) newRule() *Rule {
	if len(p.ruleSlab) == 0 {
		p.ruleSlab = make([]Rule, 128)
	}
	r := &p.ruleSlab[0]
	p.ruleSlab = p.ruleSlab[1:]
	return r
}

// reusable: no statement of r is completed by the checks from the
// table's declarations (objMapKindsOf, checkSetUpdate).
func reusable(r *Rule) bool {
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *ObjRef:
			if s.Map != nil && s.Map.Val.SetRef != "" {
				return false
			}
		case *SetUpdate:
			if s.DataTok != nil {
				return false
			}
		}
	}
	return true
}

// chainWord reports the words that start something else than a rule in
// a chain body (parseChainBody).
func chainWord(w string) bool {
	switch w {
	case "type", "policy", "comment", "define", "redefine", "undefine", "devices", "device":
		return true
	}
	return false
}

// fastRule is, in a chain body with Prev, the reuse of the next rule read
// from the source without tokens: it skips what skipNewlines would and,
// when a rule starts there that Prev has, takes it. Otherwise it leaves
// the lexer as it was (and memoRule does not look the rule up again).
func (p *parser) fastRule(t *Table, c *Chain, sep int) *Rule {
	p.triedFast = false
	l := p.lex
	if p.prev == nil || len(p.buf) != 0 || len(l.pending) != 0 {
		return nil
	}
	src := l.src
	i, line, lineStart := l.off, l.line, l.off-(l.col-1)
	for i < len(src) {
		switch scanClass[src[i]] {
		case cBlank:
			i++
			continue
		case cNewline:
			i++
			line, lineStart = line+1, i
			continue
		case cSemi:
			i++
			continue
		case cHash:
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case cBackslash:
			if i+1 < len(src) && src[i+1] == '\n' {
				i += 2
				line, lineStart = line+1, i
				continue
			}
			if i+2 < len(src) && src[i+1] == '\r' && src[i+2] == '\n' {
				i += 3
				line, lineStart = line+1, i
				continue
			}
			return nil
		case cWord:
			j := i
			for j < len(src) && scanClass[src[j]] == cWord {
				j++
			}
			w := src[i:j]
			if chainWord(w) || w == "." || w == "/" || strings.IndexByte(w, ':') >= 0 {
				return nil
			}
		case cOther:
		default:
			return nil
		}
		break
	}
	if i >= len(src) {
		return nil
	}
	p.skelTo(sep)
	p.triedFast = true
	return p.reuse(t, c, i, Pos{File: l.file, Line: line, Col: i - lineStart + 1}, i, p.skel.declSum())
}

// reuse takes the rule whose first token starts at start (at pos) from
// Prev when Prev has it, and moves the lexer past it.
func (p *parser) reuse(t *Table, c *Chain, start int, pos Pos, textStart int, prefix [2]uint64) *Rule {
	src := p.lex.src
	var end, eline, ecol int
	var nl int32
	pr := p.near(src, textStart, prefix)
	if pr != nil {
		end, nl = textStart+len(pr.src.text), pr.src.nl
		eline, ecol = pos.Line+int(nl), pos.Col+(end-start)
		if nl > 0 {
			ecol = end - (textStart + strings.LastIndexByte(pr.src.text, '\n'))
		}
	} else {
		var term byte
		var dollar, ok bool
		end, eline, ecol, term, nl, dollar, ok = scanRule(src, start, pos.Line, pos.Col)
		if !ok || end <= start {
			return nil
		}
		h := ruleHash(prefix, src[textStart:end])
		var defs uint64
		if dollar {
			defs = p.defsHash(src[textStart:end])
		}
		if pr = p.prev.find(h, term, defs); pr == nil || pr.src.nl != nl || pr.src.text != src[textStart:end] {
			return nil
		}
	}
	stmts := pr.Stmts[:len(pr.Stmts):len(pr.Stmts)]
	if pr.Pos != pos {
		if stmts = shiftStmts(stmts, newPosShift(pr.Pos, pos, nl)); stmts == nil {
			return nil
		}
	}
	r := p.newRule()
	*r = Rule{Pos: pos, Stmts: stmts, Comment: pr.Comment, src: pr.src, shared: true, reused: pr.checked}
	p.fields.addRefs(pr.src.dyn)
	l := p.lex
	l.off, l.line, l.col = end, eline, ecol
	p.buf = p.buf[:0]
	p.last = token{kind: tWord, pos: Pos{File: l.file, Line: eline, Col: ecol}, off: int32(end), end: int32(end)}
	p.lastEnd = end
	p.skipTo(end)
	p.curTable = t
	p.triedFast = false
	if !r.reused {
		p.markUnmerged(c)
	}
	if p.ntok += 8; p.ntok%ctxEvery < 8 && p.ctx.Err() != nil {
		panic(errCancelled)
	}
	p.seq = append(p.seq, r)
	return r
}
