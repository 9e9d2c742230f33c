package rules

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// A deliberately naive reference evaluator: it walks the parser's tree for
// every packet, extracts fields into byte slices and compares bytes. No
// compilation, no index, no specialisation.

type refState struct {
	rs    *parser.Ruleset
	c     *Ctx // only for its inputs: packet, hook, interfaces, conntrack
	mark  uint32
	ctm   uint32
	ctSet bool
}

func (s *refState) field(f parser.Field) []byte {
	p := s.c.P
	be := func(v uint64, n int) []byte {
		b := make([]byte, n)
		for i := n - 1; i >= 0; i-- {
			b[i] = byte(v)
			v >>= 8
		}
		return b
	}
	l4 := func(proto uint8, need int) bool { return p.HasL4Proto && p.L4Proto == proto && p.L4Len >= need }
	if fi := f.Info(); fi.NoFamilyDep {
		// ICMP fields in ip/ip6 tables: the transport protocol only
		switch parser.FieldByName(fi.Name) {
		case parser.FieldICMPType:
			if l4(packet.ProtoICMP, 1) {
				return p.Transport()[:1]
			}
		case parser.FieldICMPCode:
			if l4(packet.ProtoICMP, 2) {
				return p.Transport()[1:2]
			}
		case parser.FieldICMP6Type:
			if l4(packet.ProtoICMPv6, 1) {
				return p.Transport()[:1]
			}
		case parser.FieldICMP6Code:
			if l4(packet.ProtoICMPv6, 2) {
				return p.Transport()[1:2]
			}
		}
		return nil
	}
	switch f {
	case parser.FieldIPSaddr, parser.FieldIPDaddr, parser.FieldIPProtocol, parser.FieldIPTTL, parser.FieldIPLength:
		if p.Family != 4 {
			return nil
		}
		switch f {
		case parser.FieldIPSaddr:
			return append([]byte(nil), p.Src[:4]...)
		case parser.FieldIPDaddr:
			return append([]byte(nil), p.Dst[:4]...)
		case parser.FieldIPProtocol:
			return []byte{p.NetProto}
		case parser.FieldIPTTL:
			return []byte{p.TTL}
		}
		return be(uint64(p.IPLen), 2)
	case parser.FieldIP6Saddr, parser.FieldIP6Daddr, parser.FieldIP6Nexthdr, parser.FieldIP6Hoplimit:
		if p.Family != 6 {
			return nil
		}
		switch f {
		case parser.FieldIP6Saddr:
			return append([]byte(nil), p.Src[:]...)
		case parser.FieldIP6Daddr:
			return append([]byte(nil), p.Dst[:]...)
		case parser.FieldIP6Nexthdr:
			return []byte{p.NetProto}
		}
		return []byte{p.TTL}
	case parser.FieldTCPSport, parser.FieldTCPDport, parser.FieldTCPFlags:
		if !l4(packet.ProtoTCP, map[parser.Field]int{parser.FieldTCPSport: 2, parser.FieldTCPDport: 4, parser.FieldTCPFlags: 14}[f]) {
			return nil
		}
		t := p.Transport()
		switch f {
		case parser.FieldTCPSport:
			return t[0:2]
		case parser.FieldTCPDport:
			return t[2:4]
		}
		return t[13:14]
	case parser.FieldUDPSport, parser.FieldUDPDport:
		if !l4(packet.ProtoUDP, 4) {
			return nil
		}
		if f == parser.FieldUDPSport {
			return p.Transport()[0:2]
		}
		return p.Transport()[2:4]
	case parser.FieldTHSport, parser.FieldTHDport:
		if !p.HasL4Proto || p.L4Len < 4 {
			return nil
		}
		if f == parser.FieldTHSport {
			return p.Transport()[0:2]
		}
		return p.Transport()[2:4]
	case parser.FieldICMPType, parser.FieldICMPCode:
		if p.Family != 4 || !l4(packet.ProtoICMP, 2) {
			return nil
		}
		return p.Transport()[map[parser.Field]int{parser.FieldICMPType: 0, parser.FieldICMPCode: 1}[f]:][:1]
	case parser.FieldICMP6Type, parser.FieldICMP6Code:
		if p.Family != 6 || !l4(packet.ProtoICMPv6, 2) {
			return nil
		}
		return p.Transport()[map[parser.Field]int{parser.FieldICMP6Type: 0, parser.FieldICMP6Code: 1}[f]:][:1]
	case parser.FieldMetaL4proto:
		if !p.HasL4Proto {
			return nil
		}
		return []byte{p.L4Proto}
	case parser.FieldMetaNfproto:
		return []byte{map[uint8]byte{4: 2, 6: 10}[p.Family]}
	case parser.FieldMetaIif, parser.FieldMetaIifname:
		// No interface at this hook: an empty name (nft_meta_store_ifname).
		return append([]byte(nil), s.c.IifName[:]...)
	case parser.FieldMetaOif, parser.FieldMetaOifname:
		return append([]byte(nil), s.c.OifName[:]...)
	case parser.FieldMetaMark:
		return be(uint64(s.mark), 4)
	case parser.FieldMetaLength:
		return be(uint64(p.Len()), 4)
	case parser.FieldMetaPkttype:
		if !s.c.HasPktType {
			return nil
		}
		return []byte{s.c.PktType}
	case parser.FieldCtState:
		return be(uint64(s.c.CT.State), 4)
	case parser.FieldCtStatus, parser.FieldCtMark, parser.FieldCtDirection:
		if !s.c.CT.Found {
			return nil
		}
		switch f {
		case parser.FieldCtStatus:
			return be(uint64(s.c.CT.Status), 4)
		case parser.FieldCtMark:
			return be(uint64(s.ctm), 4)
		}
		return []byte{s.c.CT.Dir}
	}
	return nil
}

func refIn(types []*parser.Type, e parser.Elem, k []byte) bool {
	off := 0
	for _, t := range types {
		n := t.Size
		if bytes.Compare(k[off:off+n], e.Lo[off:off+n]) < 0 || bytes.Compare(k[off:off+n], e.Hi[off:off+n]) > 0 {
			return false
		}
		off += n
	}
	return true
}

func (s *refState) key(t *parser.Table, keys []parser.Field) ([]byte, []*parser.Type) {
	var k []byte
	var types []*parser.Type
	for _, f := range keys {
		b := s.field(f)
		if b == nil {
			return nil, nil
		}
		k = append(k, b...)
		types = append(types, f.Type())
	}
	return k, types
}

func (s *refState) elems(t *parser.Table, v *parser.Value) []parser.Elem {
	if v.SetRef != "" {
		return t.Set(v.SetRef).Elems
	}
	return v.Elems
}

func (s *refState) match(t *parser.Table, m *parser.Match) bool {
	if m.Keys[0].Userspace() {
		n := s.c.l7Name(m.Keys[0])
		if n == nil {
			return false
		}
		hit := false
		for _, e := range s.elems(t, &m.Val) {
			hit = hit || packet.HostMatch(string(e.Lo), n)
		}
		return hit != (m.Op == parser.OpNe)
	}
	k, types := s.key(t, m.Keys)
	if k == nil {
		return false
	}
	if m.Mask != nil {
		k = append([]byte(nil), k...)
		for i := range k {
			k[i] &= m.Mask[i]
		}
	}
	els := s.elems(t, &m.Val)
	if m.Val.Anon || m.Val.SetRef != "" {
		hit := false
		for _, e := range els {
			hit = hit || refIn(types, e, k)
		}
		return hit != (m.Op == parser.OpNe)
	}
	e := els[0]
	if len(m.Keys) == 1 && types[0].Bitmask && m.Op == parser.OpImplicit {
		for i := range k {
			if k[i]&e.Lo[i] != 0 {
				return true
			}
		}
		return false
	}
	switch m.Op {
	case parser.OpLt:
		return bytes.Compare(k, e.Lo) < 0
	case parser.OpGt:
		return bytes.Compare(k, e.Lo) > 0
	case parser.OpLe:
		return bytes.Compare(k, e.Lo) <= 0
	case parser.OpGe:
		return bytes.Compare(k, e.Lo) >= 0
	case parser.OpNe:
		return !refIn(types, e, k)
	}
	return refIn(types, e, k)
}

type refResult struct {
	kind string // accept drop reject return fallthrough
	rule *parser.Rule
	tbl  *parser.Table
	ch   *parser.Chain
}

// chain evaluates a chain recursively: a jump is a call, a goto a tail call.
func (s *refState) chain(t *parser.Table, c *parser.Chain) refResult {
	for _, r := range c.Rules {
		res, done := s.rule(t, c, r)
		if !done {
			continue
		}
		switch res.kind {
		case "return":
			return refResult{kind: "fallthrough"}
		case "continue":
			continue
		}
		return res
	}
	return refResult{kind: "fallthrough"}
}

func (s *refState) verdict(t *parser.Table, c *parser.Chain, r *parser.Rule, v *parser.Verdict) (refResult, bool) {
	switch v.Kind {
	case parser.VerdictAccept:
		return refResult{"accept", r, t, c}, true
	case parser.VerdictDrop:
		return refResult{"drop", r, t, c}, true
	case parser.VerdictContinue:
		return refResult{kind: "continue"}, true
	case parser.VerdictReturn:
		return refResult{kind: "return"}, true
	case parser.VerdictJump:
		res := s.chain(t, t.Chain(v.Target))
		if res.kind == "fallthrough" {
			return refResult{kind: "continue"}, true
		}
		return res, true
	case parser.VerdictGoto:
		res := s.chain(t, t.Chain(v.Target))
		if res.kind == "fallthrough" {
			return refResult{kind: "return"}, true
		}
		return res, true
	}
	return refResult{}, false
}

// rule returns the rule's outcome and whether it produced one.
func (s *refState) rule(t *parser.Table, c *parser.Chain, r *parser.Rule) (refResult, bool) {
	for _, st := range r.Stmts {
		switch st := st.(type) {
		case *parser.Match:
			if !s.match(t, st) {
				return refResult{}, false
			}
		case *parser.VMap:
			k, types := s.key(t, st.Keys)
			if k == nil {
				return refResult{}, false
			}
			var found *parser.Verdict
			for _, e := range s.elems(t, &st.Val) {
				if refIn(types, e, k) {
					found = e.Verdict
					break
				}
			}
			if found == nil {
				return refResult{}, false
			}
			return s.verdict(t, c, r, found)
		case *parser.MarkSet:
			v := st.Value
			switch st.From {
			case parser.FieldMetaMark:
				v = s.mark
			case parser.FieldCtMark:
				if !s.c.CT.Found {
					return refResult{}, false
				}
				v = s.ctm
			}
			if st.Ct {
				if s.c.CT.Found {
					s.ctm, s.ctSet = v, true
				}
			} else {
				s.mark = v
			}
		case *parser.Verdict:
			return s.verdict(t, c, r, st)
		case *parser.Reject:
			return refResult{"reject", r, t, c}, true
		}
	}
	return refResult{}, false
}

func refEval(rs *parser.Ruleset, c *Ctx) (refResult, uint32, uint32) {
	s := &refState{rs: rs, c: c, mark: c.Mark, ctm: c.CtMark}
	type bc struct {
		t     *parser.Table
		c     *parser.Chain
		order int
	}
	var bases []bc
	for _, t := range rs.Tables {
		if t.Family == parser.FamilyIP && c.P.Family != 4 || t.Family == parser.FamilyIP6 && c.P.Family != 6 {
			continue
		}
		for _, ch := range t.Chains {
			if ch.Base != nil && ch.Base.Hook == c.Hook {
				bases = append(bases, bc{t, ch, len(bases)})
			}
		}
	}
	// insertion sort by priority; on equal priority the later chain first,
	// as the kernel registers hooks
	for i := 1; i < len(bases); i++ {
		for j := i; j > 0 && bases[j].c.Base.Priority <= bases[j-1].c.Base.Priority; j-- {
			bases[j], bases[j-1] = bases[j-1], bases[j]
		}
	}
	last := refResult{kind: "accept"}
	for _, b := range bases {
		res := s.chain(b.t, b.c)
		if res.kind == "fallthrough" {
			res = refResult{kind: "accept"}
			if b.c.Base.Policy == parser.VerdictDrop {
				res.kind = "drop"
			}
		}
		if res.kind != "accept" {
			return res, s.mark, s.ctm
		}
		last = res
	}
	return last, s.mark, s.ctm
}

// ctxOf builds an evaluation context for a generated packet.
func ctxOf(gp rulegen.Packet, hook parser.Hook) *Ctx {
	var p packet.Parsed
	p.Decode(gp.Bytes)
	c := &Ctx{}
	c.Reset(&p, hook)
	c.CT = gp.CT
	c.CtMark = gp.CT.Mark
	c.Mark = gp.Mark
	if gp.Iif != "" {
		c.SetIif(gp.Iif)
	}
	return c
}

// TestDifferential compares the compiled engine with the reference
// evaluator over thousands of random rulesets and packets.
func TestDifferential(t *testing.T) {
	g := &rulegen.Gen{R: rand.New(rand.NewSource(42)), UserspaceForms: true}
	packets := 0
	for i := 0; i < 1500; i++ {
		src := g.Ruleset()
		rs, err := parser.Parse("gen.nft", []byte(src))
		if err != nil {
			t.Fatalf("generated ruleset rejected: %v\n%s", err.(parser.ErrorList).Pretty(), src)
		}
		e, err := Compile(rs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 30; j++ {
			c := ctxOf(g.Packet(), parser.HookInput)
			ref := *c
			want, wmark, wctm := refEval(rs, &ref)
			d := e.Eval(c)
			got := d.Verdict.String()
			var gotRule string
			if d.Rule != nil {
				gotRule = fmt.Sprintf("%s/%s/%d", d.Rule.Table, d.Rule.Chain, d.Rule.Handle)
			}
			wantRule := ""
			if want.rule != nil {
				wantRule = fmt.Sprintf("%s/%s/%d", want.tbl.Name, want.ch.Name, want.rule.Handle)
			}
			if got != want.kind || gotRule != wantRule || c.Mark != wmark || c.CtMark != wctm {
				t.Fatalf("ruleset:\n%s\npacket %+v ct %+v mark %d iif %q\nengine: %s by %s mark %d ctmark %d\nreference: %s by %s mark %d ctmark %d",
					parser.Print(rs), c.P, c.CT, ref.Mark, cstr(c.IifName[:]), got, gotRule, c.Mark, c.CtMark, want.kind, wantRule, wmark, wctm)
			}
			packets++
		}
	}
	t.Logf("%d packets agreed", packets)
}
