// nfd's set extension `dns names { ... }` / `dns resolvers { ... }`: a
// set of addresses nfd fills from the DNS answers it sees.

package parser

import (
	"net/netip"
	"slices"
)

// parseSetDNS parses what follows `dns` in a set declaration.
func (p *parser) parseSetDNS(s *Set, kw token) bool {
	if s.DNS == nil {
		s.DNS = &SetDNS{Pos: kw.pos}
	}
	what, ok := p.name("`names` or `resolvers`")
	if !ok {
		return false
	}
	switch what.text {
	case "names":
		if _, ok := p.expect(tLBrace, "`{` and the names"); !ok {
			return false
		}
		els, ok := p.parseElemList([]*Type{TypeHostname}, nil)
		for _, e := range els {
			if n := string(e.Lo); !slices.Contains(s.DNS.Names, n) {
				s.DNS.Names = append(s.DNS.Names, n)
			}
		}
		return ok
	case "resolvers":
		if _, ok := p.expect(tLBrace, "`{` and the resolvers' addresses"); !ok {
			return false
		}
		saved := p.commaIsElemSep
		p.commaIsElemSep = true
		defer func() { p.commaIsElemSep = saved }()
		for {
			p.skipBlankLines()
			if p.accept(tRBrace) {
				return true
			}
			t, ok := p.name("a resolver's IPv4 or IPv6 address")
			if !ok {
				return false
			}
			a, err := netip.ParseAddr(t.text)
			if err != nil || a.Zone() != "" {
				p.errorf(t.pos, "found `%s`, expected a resolver's IPv4 or IPv6 address", t.text)
				return false
			}
			a = a.Unmap()
			if !slices.Contains(s.DNS.Resolvers, a) {
				s.DNS.Resolvers = append(s.DNS.Resolvers, a)
			}
			p.skipBlankLines()
			if !p.accept(tComma) && p.peek().kind != tRBrace {
				p.errorf(p.peek().pos, "found %s, expected `,` or `}`", p.peek().describe())
				return false
			}
		}
	}
	p.errorf(what.pos, "%s", expected("`"+what.text+"`", "`names` or `resolvers` after `dns`", []string{"names", "resolvers"}))
	return false
}

// checkSetDNS checks a declared set's dns option: a set of one IPv4 or
// IPv6 address with `flags timeout` (its elements expire with their TTL),
// not a map, not an interval set, with at least one name.
func (p *parser) checkSetDNS(s *Set) {
	d := s.DNS
	if d == nil {
		return
	}
	switch {
	case s.IsMap:
		p.errorf(d.Pos, "map `%s`: `dns names` fills sets only", s.Name)
	case len(s.Key) != 1 || (s.Key[0] != TypeIPv4 && s.Key[0] != TypeIPv6):
		p.errorf(d.Pos, "set `%s`: `dns names` needs `type ipv4_addr` or `type ipv6_addr`, not %s", s.Name, typeList(s.Key))
	case s.Flags&SetTimeout == 0:
		p.errorf(d.Pos, "set `%s`: `dns names` needs `flags timeout` (learned addresses expire with their TTL)", s.Name)
	case s.Flags&(SetInterval|SetConstant) != 0:
		p.errorf(d.Pos, "set `%s`: `dns names` cannot fill an interval or constant set", s.Name)
	case len(d.Names) == 0:
		p.errorf(d.Pos, "set `%s`: `dns resolvers` without `dns names` fills nothing", s.Name)
	}
}

// printSetDNS writes the dns option lines of a set.
func printSetDNS(b interface{ WriteString(string) (int, error) }, d *SetDNS) {
	if d == nil {
		return
	}
	if len(d.Names) > 0 {
		b.WriteString("\t\tdns names { ")
		for i, n := range d.Names {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(n))
		}
		b.WriteString(" }\n")
	}
	if len(d.Resolvers) > 0 {
		b.WriteString("\t\tdns resolvers { ")
		for i, a := range d.Resolvers {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.String())
		}
		b.WriteString(" }\n")
	}
}

// Equal reports whether two dns options fill the same way.
func (d *SetDNS) Equal(o *SetDNS) bool {
	if d == nil || o == nil {
		return d == o
	}
	return slices.Equal(d.Names, o.Names) && slices.Equal(d.Resolvers, o.Resolvers)
}
