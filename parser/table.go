// Tables and chains: families, table bodies, chain declarations, base-chain
// hook/priority/policy specs.

package parser

import (
	"sort"
	"strings"
)

var familyWords = []string{"ip", "ip6", "inet", "bridge", "arp", "netdev"}

// parseFamily reads an optional family; the default is ip, as in nft.
func (p *parser) parseFamily() (Family, bool) {
	t := p.peek()
	if t.kind != tWord {
		return FamilyIP, true
	}
	switch t.text {
	case "ip":
		p.next()
		return FamilyIP, true
	case "ip6":
		p.next()
		return FamilyIP6, true
	case "inet":
		p.next()
		return FamilyInet, true
	case "bridge", "arp", "netdev":
		p.next()
		p.errorf(t.pos, "family `%s` is not supported by nfd (supported: ip, ip6, inet)", t.text)
		return 0, false
	}
	// A table name that looks like a misspelt family, followed by another name.
	if n := p.peekAt(1); n.kind == tWord || n.kind == tString {
		if s := suggest(t.text, familyWords); s != "" {
			p.errorf(t.pos, "unknown family `%s`, did you mean `%s`?", t.text, s)
			return 0, false
		}
	}
	return FamilyIP, true
}

func (p *parser) table(f Family, name string, pos Pos, create bool) *Table {
	if t := p.rs.Table(f, name); t != nil {
		return t
	}
	if !create {
		p.errorf(pos, "table `%s %s` does not exist", f, name)
		return nil
	}
	t := &Table{Pos: pos, Family: f, Name: name}
	p.rs.Tables = append(p.rs.Tables, t)
	return t
}

// parseTableCmd parses `[family] name [{ body }]` after `table`.
func (p *parser) parseTableCmd(block bool) bool {
	fam, ok := p.parseFamily()
	if !ok {
		p.skipToBlockEnd()
		return false
	}
	n, ok := p.declName("table name")
	if !ok {
		return false
	}
	t := p.table(fam, n.text, n.pos, true)
	if p.peek().kind != tLBrace {
		return true
	}
	p.next()
	p.parseTableBody(t)
	return true
}

// skipToBlockEnd skips the rest of the line and, if it opens a block, the block.
func (p *parser) skipToBlockEnd() {
	for !p.atEnd() && p.peek().kind != tLBrace {
		p.next()
	}
	p.skipBlock()
}

var tableKeywords = []string{"chain", "set", "map", "comment", "flags", "define"}

func (p *parser) parseTableBody(t *Table) {
	defer p.openScope()()
	for {
		p.skipNewlines()
		tok := p.peek()
		switch tok.kind {
		case tRBrace:
			p.next()
			return
		case tEOF:
			p.errorf(tok.pos, "found end of file, expected `}` closing table `%s`", t.Name)
			return
		case tWord:
		default:
			p.errorf(tok.pos, "found %s, expected `chain`, `set`, `map` or `}`", tok.describe())
			p.sync()
			continue
		}
		p.next()
		ok := true
		switch tok.text {
		case "chain":
			ok = p.parseChainDecl(t)
		case "set", "map":
			ok = p.parseSetDecl(t, tok.text == "map")
		case "comment":
			var s token
			if s, ok = p.expect(tString, "a quoted comment"); ok {
				if ok = p.commentFits(s); ok {
					t.Comment = s.text
				}
			}
		case "define", "redefine", "undefine":
			ok = p.parseScopedDefine(tok.text)
		case "counter", "quota", "limit":
			ok = p.parseObjectDecl(t, tok)
		case "synproxy":
			ok = p.parseKernelObjectDecl(t, "synproxy", tok)
		case "ct":
			if k := p.peek(); k.kind == tWord && (k.text == "helper" || k.text == "timeout" || k.text == "expectation") {
				p.next()
				ok = p.parseKernelObjectDecl(t, "ct "+k.text, tok)
				break
			}
			p.errorf(tok.pos, "found %s after `ct`, expected `helper`, `timeout` or `expectation`", p.peek().describe())
			ok = false
		case "flowtable", "secmark":
			p.errorf(tok.pos, "`%s` objects are not supported by nfd", tok.text)
			p.skipToBlockEnd()
			continue
		case "flags":
			// `flags dormant`: the table's chains see no packets
			// (NFT_TABLE_F_DORMANT). `owner` ties a table to the process
			// that made it, which nfd's own tables cannot mean.
			for {
				f, fok := p.name("a table flag (dormant)")
				if !fok {
					ok = false
					break
				}
				if f.text != "dormant" {
					p.errorf(f.pos, "table flag `%s` is not supported by nfd (only `dormant`)", f.text)
					ok = false
					break
				}
				t.Dormant = true
				if !p.accept(tComma) {
					break
				}
			}
		default:
			p.errorf(tok.pos, "%s", expected(tok.describe(), "`chain`, `set`, `map` or `}`", tableKeywords))
			ok = false
		}
		if !ok {
			p.sync()
		}
	}
}

func (p *parser) parseChainDecl(t *Table) bool {
	n, ok := p.declName("chain name")
	if !ok {
		return false
	}
	c := t.Chain(n.text)
	if c == nil {
		c = &Chain{Pos: n.pos, Name: n.text}
		if p.prev != nil {
			// room for as many rules as Prev's chain had
			if pc := p.prev.prevChain(t, n.text); pc != nil {
				c.Rules = make([]*Rule, 0, len(pc.Rules)+len(pc.Rules)/64)
			}
		}
		t.Chains = append(t.Chains, c)
	}
	if p.peek().kind == tLBrace {
		p.next()
		p.parseChainBody(t, c, false)
	}
	if c.Base == nil {
		if p.regular == nil {
			p.regular = map[*Chain]Pos{}
		}
		if _, seen := p.regular[c]; !seen {
			p.regular[c] = n.pos
		}
	}
	return true
}

var chainKeywords = []string{"type", "policy", "comment", "devices"}

func (p *parser) parseChainBody(t *Table, c *Chain, insert bool) {
	p.policySeen = false
	defer p.openScope()()
	var inserted []*Rule
	defer func() {
		if insert {
			c.Rules = append(inserted, c.Rules...)
		}
	}()
	for {
		sep := p.lastEnd // a rule's unit starts here (memo.go)
		if r := p.fastRule(t, c, sep); r != nil {
			if insert {
				inserted = append(inserted, r)
			} else {
				c.Rules = append(c.Rules, r)
			}
			continue
		}
		p.skipNewlines()
		tok := p.peek()
		switch tok.kind {
		case tRBrace:
			p.next()
			return
		case tEOF:
			p.errorf(tok.pos, "found end of file, expected `}` closing chain `%s`", c.Name)
			return
		}
		if tok.kind == tWord {
			switch tok.text {
			case "type":
				p.next()
				if !p.parseBaseSpec(t, c, tok.pos) {
					p.sync()
				}
				continue
			case "policy":
				p.next()
				if !p.parsePolicy(c, tok.pos) {
					p.sync()
				}
				continue
			case "comment":
				if k := p.peekAt(1).kind; k == tString {
					if n := p.peekAt(2).kind; n == tNewline || n == tSemi || n == tRBrace {
						p.next()
						if s := p.next(); p.commentFits(s) {
							c.Comment = s.text
						}
						continue
					}
				}
			case "define", "redefine", "undefine":
				p.next()
				if !p.parseScopedDefine(tok.text) {
					p.sync()
				}
				continue
			case "devices", "device":
				p.errorf(tok.pos, "`%s` belongs to netdev chains, which nfd does not support", tok.text)
				p.sync()
				continue
			}
		}
		r := p.memoRule(t, c, -1, sep)
		if r != nil {
			if insert {
				inserted = append(inserted, r)
			} else {
				c.Rules = append(c.Rules, r)
			}
		}
	}
}

var priorityNames = map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

func (p *parser) parseBaseSpec(t *Table, c *Chain, pos Pos) bool {
	bs := &BaseSpec{Pos: pos}
	tt, ok := p.name("chain type")
	if !ok {
		return false
	}
	switch tt.text {
	case "filter":
		bs.Type = ChainFilter
	case "nat":
		bs.Type = ChainNAT
	case "route":
		bs.Type = ChainRoute
	default:
		p.errorf(tt.pos, "%s", expected("`"+tt.text+"`", "chain type filter, nat or route", []string{"filter", "nat", "route"}))
		return false
	}
	if !p.acceptWord("hook") {
		tok := p.peek()
		p.errorf(tok.pos, "%s", expected(tok.describe(), "`hook`", []string{"hook"}))
		return false
	}
	h, ok := p.name("hook name")
	if !ok {
		return false
	}
	hook, found := ParseHook(h.text)
	if !found {
		if h.text == "ingress" || h.text == "egress" {
			p.errorf(h.pos, "hook `%s` belongs to netdev tables, which nfd does not support", h.text)
		} else {
			p.errorf(h.pos, "%s", expected("`"+h.text+"`", "a hook (prerouting, input, forward, output, postrouting)", hookNames[:]))
		}
		return false
	}
	bs.Hook = hook
	if p.isWord("device") {
		p.errorf(p.peek().pos, "`device` belongs to netdev chains, which nfd does not support")
		return false
	}
	if !p.acceptWord("priority") {
		tok := p.peek()
		p.errorf(tok.pos, "%s", expected(tok.describe(), "`priority`", []string{"priority"}))
		return false
	}
	prioTok := p.peek()
	prio, ok := p.parsePriority()
	if !ok {
		return false
	}
	if kw := strings.TrimRight(strings.SplitN(strings.SplitN(prioTok.text, "+", 2)[0], "-", 2)[0], " "); priorityNames[kw] != 0 || kw == "filter" {
		if !prioValidAt(kw, hook) {
			p.errorf(prioTok.pos, "priority `%s` is not valid at the %s hook (nft allows dstnat at prerouting, srcnat at postrouting)", kw, hook)
			return false
		}
	}
	bs.Priority = prio
	p.accept(tSemi)
	if p.isWord("policy") {
		tok := p.next()
		if !p.parsePolicyInto(bs, tok.pos) {
			return false
		}
	}
	if old := c.Base; old != nil {
		if old.Type != bs.Type || old.Hook != bs.Hook || old.Priority != bs.Priority {
			p.errorf(pos, "chain `%s` is already a base chain with a different type, hook or priority (declared at %s)", c.Name, old.Pos)
			return false
		}
		if bs.Policy != 0 {
			old.Policy = bs.Policy
		}
		return true
	}
	if at, was := p.regular[c]; was {
		// The kernel keeps a chain's kind: adding a hook to a regular
		// chain is EEXIST (nft: "Could not process rule: File exists").
		p.errorf(pos, "chain `%s` was declared as a regular chain at %s; the kernel cannot make it a base chain", c.Name, at)
		return false
	}
	if bs.Policy == 0 {
		bs.Policy = VerdictAccept
	}
	c.Base = bs
	return true
}

// parsePriority reads a priority as nft 1.0.6's grammar does: a number
// (`-5`, `0x10`, `- 5`), a name, or a name, `+` or `-`, and a number.
// nft's scanner takes `-` as part of a name, so `filter-5` is one unknown
// name to nft (its "invalid priority expression value in this context");
// `filter+5`, `filter +5`, `filter -5` and `filter - 5` are not.
func (p *parser) parsePriority() (int, bool) {
	t, ok := p.name("a priority (number or raw, mangle, dstnat, filter, security, srcnat)")
	if !ok {
		return 0, false
	}
	s := t.text
	if s == "-" {
		// `priority - 5`
		n, ok := p.name("a number")
		if !ok {
			return 0, false
		}
		v, ok := p.prioNumber(n)
		return -v, ok
	}
	if s[0] >= '0' && s[0] <= '9' || s[0] == '-' {
		return p.prioNumber(t)
	}
	base, ok := priorityNames[s]
	if !ok {
		var names []string
		for k := range priorityNames {
			names = append(names, k)
		}
		sort.Strings(names)
		if kw, off, cut := strings.Cut(s, "-"); cut {
			if _, known := priorityNames[kw]; known {
				p.errorf(t.pos, "found `%s`, expected a priority: nft reads `%s` as one name; write `%s - %s`", s, s, kw, off)
				return 0, false
			}
		}
		p.errorf(t.pos, "%s", expected("`"+s+"`", "a priority (number or raw, mangle, dstnat, filter, security, srcnat)", names))
		return 0, false
	}
	sign := 0
	if p.accept(tPlus) {
		sign = 1
	} else if p.isWord("-") {
		p.next()
		sign = -1
	} else if n := p.peek(); n.kind == tWord && len(n.text) > 1 && n.text[0] == '-' {
		// `filter -5`
		p.next()
		v, ok := p.prioNumber(n)
		return base + v, ok
	}
	if sign == 0 {
		return base, true
	}
	n, ok := p.name("a number")
	if !ok {
		return 0, false
	}
	v, ok := p.prioNumber(n)
	return base + sign*v, ok
}

// prioNumber reads a number token of a priority, with an optional minus.
func (p *parser) prioNumber(t token) (int, bool) {
	s, neg := t.text, false
	if len(s) > 1 && s[0] == '-' {
		s, neg = s[1:], true
	}
	v, err := parseNftUint(s, 32)
	// an int32: down to -2^31, up to 2^31-1
	if err != nil || v > 1<<31 || v == 1<<31 && !neg {
		p.errorf(t.pos, "found `%s`, expected a number", t.text)
		return 0, false
	}
	if neg {
		return -int(v), true
	}
	return int(v), true
}

func (p *parser) parsePolicy(c *Chain, pos Pos) bool {
	if c.Base == nil {
		p.errorf(pos, "`policy` needs a base chain: put `type filter hook HOOK priority P;` first")
		p.next()
		return false
	}
	return p.parsePolicyInto(c.Base, pos)
}

func (p *parser) parsePolicyInto(bs *BaseSpec, pos Pos) bool {
	if p.policySeen {
		// nft: "you cannot set chain policy twice" (in one chain block).
		p.errorf(pos, "the chain's policy is already set in this block; nft refuses a second `policy`")
		return false
	}
	p.policySeen = true
	t, ok := p.name("`accept` or `drop`")
	if !ok {
		return false
	}
	switch t.text {
	case "accept":
		bs.Policy = VerdictAccept
	case "drop":
		bs.Policy = VerdictDrop
	default:
		p.errorf(t.pos, "%s", expected("`"+t.text+"`", "policy `accept` or `drop`", []string{"accept", "drop"}))
		return false
	}
	p.accept(tSemi)
	return true
}

// MaxCommentLen is nft's NFTNL_UDATA_COMMENT_MAXLEN: longer comments on
// tables, chains, sets and rules are refused ("comment too long, 128
// characters maximum allowed").
const MaxCommentLen = 128

func (p *parser) commentFits(t token) bool {
	if len(t.text) > MaxCommentLen {
		p.errorf(t.pos, "comment too long: %d characters, nft allows at most %d", len(t.text), MaxCommentLen)
		return false
	}
	return true
}
