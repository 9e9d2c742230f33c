package rules

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"weak"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/parser"
)

// The equivalence of a compile that reuses the previous engine's rules
// (Options.Prev with keys) with one that compiles every rule afresh:
// random rulesets, random edits, the same packets through both.

// reuseFile is a generated ruleset: a skeleton (sets, maps, objects,
// chain headers) and per chain its rule lines.
type reuseFile struct {
	blk    string // the changing element of set blk
	policy string
	chains [4][]string // in, sub1, sub2 (table inet t); fw (table ip u)
}

var reuseChainHead = [4]string{
	"\tchain in {\n\t\ttype filter hook input priority 0; policy %s;\n",
	"\tchain sub1 {\n",
	"\tchain sub2 {\n",
	"\tchain fw {\n\t\ttype filter hook input priority 10; policy accept;\n",
}

func (f *reuseFile) String() string {
	var b strings.Builder
	b.WriteString("table inet t {\n")
	fmt.Fprintf(&b, "\tset blk { type ipv4_addr; elements = { 10.9.0.1, 10.9.0.2, %s } }\n", f.blk)
	b.WriteString("\tset tmo { type ipv4_addr; flags timeout; timeout 1h; elements = { 10.0.1.3 } }\n")
	b.WriteString("\tset cnt { type ipv4_addr; counter; elements = { 10.0.2.1, 10.0.2.2 } }\n")
	b.WriteString("\tset dyn { type ipv4_addr; flags dynamic; }\n")
	b.WriteString("\tset names { typeof tls sni; elements = { \"*.n.example\", \"a1.example\" } }\n")
	b.WriteString("\tmap vm { type ipv4_addr : verdict; elements = { 10.0.3.1 : accept, 10.0.3.2 : drop, 10.0.3.3 : jump sub1 } }\n")
	b.WriteString("\tmap mm { type inet_service : mark; elements = { 21 : 0x5, 22 : 0x6 } }\n")
	b.WriteString("\tcounter c1 { }\n\tquota q1 { 700 bytes; }\n\tlimit l1 { rate 1/hour burst 4 packets; }\n")
	for i, rules := range f.chains {
		if i == 3 {
			b.WriteString("}\ntable ip u {\n")
		}
		head := reuseChainHead[i]
		if i == 0 {
			head = fmt.Sprintf(head, f.policy)
		}
		b.WriteString(head)
		for _, r := range rules {
			b.WriteString("\t\t" + r + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (f *reuseFile) clone() *reuseFile {
	c := *f
	for i := range c.chains {
		c.chains[i] = slices.Clone(f.chains[i])
	}
	return &c
}

// reuseRule is a random rule line for chain ch (0 in, 1 sub1, 2 sub2,
// 3 fw): most are indexable (ip saddr, tcp dport) so that chains get
// indexes; the others cover every kind of statement reuse must handle.
func reuseRule(r *rand.Rand, ch int) string {
	a, p := fmt.Sprintf("10.0.%d.%d", r.IntN(4), 1+r.IntN(8)), 20+r.IntN(12)
	if r.IntN(2) == 0 {
		switch r.IntN(4) {
		case 0:
			return fmt.Sprintf("ip saddr %s tcp dport %d counter accept", a, p)
		case 1:
			return fmt.Sprintf("ip saddr %s counter drop", a)
		case 2:
			return fmt.Sprintf("ip saddr %s tcp dport { %d, %d } counter accept comment \"c%d\"", a, p, p+1, r.IntN(3))
		}
		return fmt.Sprintf("tcp dport %d counter packets 5 bytes 50 drop", p)
	}
	for {
		k := r.IntN(26)
		if ch == 3 && (k <= 2 || k == 11) {
			continue // sets of table t
		}
		switch k {
		case 0:
			return "ip saddr @blk counter drop"
		case 1:
			return "ip saddr @tmo accept"
		case 2:
			return "ip saddr @cnt counter accept"
		case 3:
			return fmt.Sprintf("udp dport %d limit rate 2/hour burst 3 packets accept", p)
		case 4:
			return fmt.Sprintf("udp dport %d quota 300 bytes accept", p)
		case 5:
			return fmt.Sprintf("udp dport %d quota over 200 bytes counter drop", p)
		case 6:
			if ch == 0 || ch == 1 {
				return fmt.Sprintf("ip saddr %s jump sub2", a)
			}
		case 7:
			if ch == 0 {
				return "ip daddr vmap @vm"
			}
		case 8:
			if ch != 2 && ch != 3 {
				return fmt.Sprintf("tcp dport vmap { %d : accept, %d : drop, %d : jump sub2 }", p, p+1, p+2)
			}
		case 9:
			return fmt.Sprintf("tls sni \"a%d.example\" accept", r.IntN(3))
		case 10:
			return "tls sni { \"b.example\", \"*.c.example\" } drop"
		case 11:
			return "tls sni @names counter accept"
		case 12:
			if ch != 3 {
				return fmt.Sprintf("udp dport %d counter name \"c1\" accept", p)
			}
		case 13:
			if ch != 3 {
				return fmt.Sprintf("udp dport %d quota name \"q1\" drop", p)
			}
		case 14:
			if ch != 3 {
				return fmt.Sprintf("udp dport %d limit name \"l1\" accept", p)
			}
		case 15:
			if ch != 3 {
				return fmt.Sprintf("tcp dport %d add @dyn { ip saddr } accept", p)
			}
		case 16:
			return fmt.Sprintf("meta mark set 0x%x", 1+r.IntN(4))
		case 17:
			return fmt.Sprintf("udp dport %d log prefix \"x%d\" counter", p, r.IntN(2))
		case 18:
			return "ct state established accept"
		case 19:
			return fmt.Sprintf("tcp dport %d jump { counter; ip saddr %s return; accept; }", p, a)
		case 20:
			if ch != 0 {
				return fmt.Sprintf("tcp dport %d return", p)
			}
		case 21:
			return fmt.Sprintf("meta mark 0x%x counter drop", 1+r.IntN(4))
		case 22:
			return fmt.Sprintf("ip saddr . tcp dport { %s . %d, 10.0.0.1 . 22 } accept", a, p)
		case 23:
			if ch != 3 {
				return "meta mark set udp dport map @mm"
			}
		case 24:
			return fmt.Sprintf("udp dport %d reject", p)
		case 25:
			return fmt.Sprintf("ip saddr != %s udp dport %d counter", a, p)
		}
	}
}

func randomReuseFile(r *rand.Rand) *reuseFile {
	f := &reuseFile{blk: "10.9.0.3", policy: "accept"}
	for ch := range f.chains {
		n := r.IntN(12)
		if r.IntN(3) > 0 {
			n += 16 + r.IntN(50) // big enough for an index
		}
		for range n {
			f.chains[ch] = append(f.chains[ch], reuseRule(r, ch))
		}
	}
	if r.IntN(2) == 0 {
		// No rule setting a mark in table t: an edit adding one
		// changes reuseKO's answer for `ct state` rules.
		for c := range 3 {
			f.chains[c] = slices.DeleteFunc(f.chains[c], func(l string) bool { return strings.HasPrefix(l, "meta mark set") })
		}
	}
	return f
}

// reuseEdit changes f at random; skeleton reports whether the edit
// changed more than rule lines.
func reuseEdit(r *rand.Rand, f *reuseFile) (what string, skeleton bool) {
	ch := r.IntN(len(f.chains))
	rules := f.chains[ch]
	switch k := r.IntN(11); {
	case k == 0:
		f.blk = fmt.Sprintf("10.9.0.%d", 3+r.IntN(200))
		return "set element", true
	case k == 1:
		f.policy = map[string]string{"accept": "drop", "drop": "accept"}[f.policy]
		return "policy", true
	case k == 2 || len(rules) == 0:
		i := r.IntN(len(rules) + 1)
		f.chains[ch] = slices.Insert(rules, i, reuseRule(r, ch))
		return fmt.Sprintf("insert %d:%d", ch, i), false
	case k == 3:
		i := r.IntN(len(rules))
		f.chains[ch] = slices.Delete(rules, i, i+1)
		return fmt.Sprintf("delete %d:%d", ch, i), false
	case k == 4:
		i, j := r.IntN(len(rules)), r.IntN(len(rules)+1)
		f.chains[ch] = slices.Insert(rules, j, rules[i])
		return fmt.Sprintf("duplicate %d:%d at %d", ch, i, j), false
	case k == 5:
		i, j := r.IntN(len(rules)), r.IntN(len(rules))
		line := rules[i]
		rules = slices.Delete(rules, i, i+1)
		f.chains[ch] = slices.Insert(rules, min(j, len(rules)), line)
		return fmt.Sprintf("move %d:%d to %d", ch, i, j), false
	case k == 6:
		return "nothing", false
	case k == 7:
		// Rules setting a mark all go, or one comes: what the KernelOnly
		// test of `ct state` rules depends on (reuseKO) changes.
		removed := 0
		for c := range 3 {
			f.chains[c] = slices.DeleteFunc(f.chains[c], func(l string) bool {
				if strings.HasPrefix(l, "meta mark set") {
					removed++
					return true
				}
				return false
			})
		}
		if removed == 0 {
			c := r.IntN(3)
			f.chains[c] = slices.Insert(f.chains[c], r.IntN(len(f.chains[c])+1), "meta mark set 0x3")
			return fmt.Sprintf("add a mark to %d", c), false
		}
		return "remove the marks", false
	}
	i := r.IntN(len(rules))
	rules[i] = reuseRule(r, ch)
	return fmt.Sprintf("change %d:%d", ch, i), false
}

// reusePackets is the packet mix: addresses and ports the rules name,
// both protocols, names, marks and connection states.
func reusePackets() []pk {
	var out []pk
	addrs := []string{"10.0.0.1", "10.0.0.3", "10.0.1.3", "10.0.1.5", "10.0.2.1", "10.0.2.2", "10.0.3.1", "10.0.3.2", "10.0.3.3", "10.9.0.1", "10.9.0.3", "10.9.0.77", "192.0.2.1"}
	for i, a := range addrs {
		for p := 20; p < 33; p += 1 + i%3 {
			out = append(out, pk{src: a, dst: a, proto: tcpP, sport: 1000, dport: uint16(p), hook: input, mark: uint32(p % 5)})
			out = append(out, pk{src: a, dst: "10.0.3.3", proto: udpP, sport: 1000, dport: uint16(p), hook: input, ct: conntrack.StateEstablished})
		}
	}
	return out
}

var reuseNames = []string{"", "a1.example", "a2.example", "x.c.example", "b.example", "y.n.example"}

type reuseOutcome struct {
	d    Decision
	mark uint32
	cont ContKey
}

func (o reuseOutcome) String() string {
	s := fmt.Sprintf("%s mark=%d", o.d.Verdict, o.mark)
	if o.d.Rule != nil {
		s += fmt.Sprintf(" rule %s/%s#%d h%d", o.d.Rule.Table, o.d.Rule.Chain, o.d.Rule.Index, o.d.Rule.Handle)
	}
	if o.d.Chain != nil {
		s += " chain " + o.d.Chain.Name
	}
	if o.d.Verdict == Reject {
		s += fmt.Sprintf(" reject %d/%d", o.d.RejectKind, o.d.RejectCode)
	}
	if o.d.Verdict == Continue {
		for _, f := range o.cont.Frames[:o.cont.Depth] {
			s += fmt.Sprintf(" %s:%d", f.Chain.Name, f.Index)
		}
	}
	return s
}

// runPackets sends the mix through e, each packet once per name.
func runPackets(e *Engine, mix []pk) []string {
	var out []string
	for i, x := range mix {
		c := x.ctx()
		if n := reuseNames[i%len(reuseNames)]; n != "" {
			c.CT.Names[conntrack.NameSNI] = []byte(n)
		}
		d := e.Eval(c)
		out = append(out, reuseOutcome{d, c.Mark, c.Cont}.String())
	}
	return out
}

// reuseKO is a KernelOnly test that, like the planner's, depends on the
// other rules of the table: a `ct state` rule is kernel-only in a table
// with a rule setting a mark.
func reuseKO(t *parser.Table, r *parser.Rule) bool {
	if DefaultKernelOnly(t, r) {
		return true
	}
	if reuseKOFacts(t) == "marks" {
		for _, s := range r.Stmts {
			if m, ok := s.(*parser.Match); ok && m.Keys[0] == parser.FieldCtState {
				return true
			}
		}
	}
	return false
}

func reuseKOFacts(t *parser.Table) string {
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			for _, s := range r.Stmts {
				if _, ok := s.(*parser.MarkSet); ok {
					return "marks"
				}
			}
		}
	}
	return ""
}

// TestCompileReuseEquivalent: for random rulesets and edits, a compile
// with Prev (reusing compiled rules by key) decides the packet mix as a
// compile without reuse does (the previous engines having seen the same
// packets), carries over exactly the same counters and quotas, and makes
// the same RuleInfos and indexes as a compile from scratch; rules really
// are reused when only rule lines changed.
func TestCompileReuseEquivalent(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 11))
	mix := reusePackets()
	now := func() int64 { return 1e12 }
	quiet := slog.New(slog.DiscardHandler)
	rounds := 150
	if testing.Short() {
		rounds = 30
	}
	var reused, keyPaired, patched int
	for round := range rounds {
		opts := Options{Now: now, Logger: quiet}
		switch round % 3 {
		case 1:
			opts.KernelOnly, opts.KernelOnlyFacts = reuseKO, reuseKOFacts
		case 2:
			opts.KernelOnly = reuseKO
		}
		f := randomReuseFile(r)
		old, f0 := f.String(), f.clone()
		var whats []string
		for range 1 + r.IntN(3) {
			what, _ := reuseEdit(r, f)
			whats = append(whats, what)
		}
		skeleton := f.blk != f0.blk || f.policy != f0.policy
		cur := f.String()
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("round %d (%s): %s\nold:\n%s\nnew:\n%s", round, strings.Join(whats, ", "), fmt.Sprintf(format, args...), old, cur)
		}
		compileOpts := func(src string, o Options) *Engine {
			t.Helper()
			rs, err := parser.Parse("r.nft", []byte(src))
			if err != nil {
				fail("parse: %v", err)
			}
			parser.ReferenceKeys(rs)
			e, err := Compile(rs, o)
			if err != nil {
				fail("compile: %v", err)
			}
			return e
		}
		// Two previous engines with the same history.
		e1, e1ref := compileOpts(old, opts), compileOpts(old, opts)
		runPackets(e1, mix)
		runPackets(e1ref, mix)
		withPrev := func(prev *Engine, noReuse bool) Options {
			o := opts
			o.Prev, o.noReuse = prev, noReuse
			return o
		}
		e2 := compileOpts(cur, withPrev(e1, false))
		e2ref := compileOpts(cur, withPrev(e1ref, true))
		scratch := compileOpts(cur, opts)
		// Run-time elements of @blk (as dnsfill gives them): the
		// engine's own set must have them.
		for _, e := range []*Engine{e2, e2ref} {
			if !e.SetDynamic(e.Ruleset.Tables[0].Set("blk"), reuseDyn{}) {
				fail("SetDynamic refused @blk")
			}
		}

		st := e2.Reuse()
		reused += st.Reused
		keyPaired += st.KeyPaired
		patched += st.IndexPatched
		if skeleton && (st.KeyPaired != 0 || st.Reused != 0) {
			fail("the skeleton changed, yet %+v", st)
		}
		if !skeleton && st.Reused == 0 && st.KeyPaired > 8 {
			fail("rules paired by key but none reused: %+v", st)
		}
		if st.Carried != e2ref.Reuse().Carried {
			fail("carried %d rules, without reuse %d", st.Carried, e2ref.Reuse().Carried)
		}

		// A second engine from the same previous one (a reload whose
		// engine was dropped, then done again): every engine's texts
		// stay its own rules'.
		if round%4 == 0 {
			sibling := compileOpts(old, withPrev(e1, false))
			if err := textsRight(sibling); err != nil {
				fail("sibling engine: %v", err)
			}
		}
		for _, e := range []*Engine{e1, e2} {
			if err := textsRight(e); err != nil {
				fail("%v", err)
			}
		}

		// RuleInfos as from scratch.
		if len(e2.Rules) != len(scratch.Rules) {
			fail("%d rules, from scratch %d", len(e2.Rules), len(scratch.Rules))
		}
		for i, a := range e2.Rules {
			b := scratch.Rules[i]
			if ia, ib := infoString(a), infoString(b); ia != ib {
				fail("rule %d:\n reused  %s\n scratch %s", i, ia, ib)
			}
		}
		if fmt.Sprint(e2.NeedsPayload, e2.NameKinds, e2.Hooks()) != fmt.Sprint(scratch.NeedsPayload, scratch.NameKinds, scratch.Hooks()) {
			fail("engine facts differ: %v %v %v / %v %v %v", e2.NeedsPayload, e2.NameKinds, e2.Hooks(), scratch.NeedsPayload, scratch.NameKinds, scratch.Hooks())
		}
		for i, b := range e2.Bases {
			sb := scratch.Bases[i]
			if b.NeedsPayload != sb.NeedsPayload || b.Policy != sb.Policy || b.Priority != sb.Priority || b.Info.Name != sb.Info.Name {
				fail("base %d differs", i)
			}
		}
		for i, ci := range e2.Chains {
			if err := indexEqual(e2.chainOf[ci].idx, scratch.chainOf[scratch.Chains[i]].idx); err != nil {
				fail("chain %s index: %v", ci.Name, err)
			}
		}

		// The same counters and quota state carried over as without
		// reuse: a rule's state is its previous rule's exactly when it
		// is so without reuse (e1 and e1ref are the same ruleset).
		for i, a := range e2.Rules {
			b := e2ref.Rules[i]
			if ga, gb := origin(e1, a.Counts), origin(e1ref, b.Counts); ga != gb {
				fail("rule %d (%s) counts from %s, without reuse from %s", i, a.Text(), ga, gb)
			}
			for k := range scratchStmts(scratch, i) {
				ca, cb := e2.StmtCounter(a, k), e2ref.StmtCounter(b, k)
				if (ca == nil) != (cb == nil) || ca != nil && origin(e1, ca) != origin(e1ref, cb) {
					fail("rule %d (%s) statement %d counter from %s, without reuse from %s", i, a.Text(), k, origin(e1, ca), origin(e1ref, cb))
				}
				qa, oka := e2.StmtQuotaUsed(a, k)
				qb, okb := e2ref.StmtQuotaUsed(b, k)
				if qa != qb || oka != okb {
					fail("rule %d (%s) statement %d quota used %d, without reuse %d", i, a.Text(), k, qa, qb)
				}
			}
		}

		// The same decisions, twice (state moves on alike).
		for pass := range 2 {
			ga, gb := runPackets(e2, mix), runPackets(e2ref, mix)
			for i := range ga {
				if ga[i] != gb[i] {
					fail("pass %d packet %d %+v name %q: reused %s, without reuse %s", pass, i, mix[i], reuseNames[i%len(reuseNames)], ga[i], gb[i])
				}
			}
		}
		for i, a := range e2.Rules {
			if pa, pb := a.Counts.Packets.Load(), e2ref.Rules[i].Counts.Packets.Load(); pa != pb {
				fail("rule %d (%s) counted %d, without reuse %d", i, a.Text(), pa, pb)
			}
		}
		for i, ps := range e2.Ruleset.Tables[0].Sets {
			ca, cb := e2.ElemCounters(ps), e2ref.ElemCounters(e2ref.Ruleset.Tables[0].Sets[i])
			for k := range ca {
				if pa, pb := ca[k].Packets.Load(), cb[k].Packets.Load(); pa != pb {
					fail("set %s element %d counted %d, without reuse %d", ps.Name, k, pa, pb)
				}
			}
		}
	}
	if reused == 0 || keyPaired == 0 || patched == 0 {
		t.Fatalf("no reuse over %d rounds: %d reused, %d paired by key, %d indexes patched", rounds, reused, keyPaired, patched)
	}
	t.Logf("%d rounds: %d rules reused, %d paired by key, %d indexes patched", rounds, reused, keyPaired, patched)
}

// reuseDyn holds 10.9.0.77 at run time.
type reuseDyn struct{}

func (reuseDyn) Contains(hi, lo uint64) bool { return hi == 0 && lo == 0x0a09004d }

// textsRight checks that e's RuleInfos print the rules of e's ruleset.
func textsRight(e *Engine) error {
	i := 0
	for _, t := range e.Ruleset.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				if got, want := e.Rules[i].Text(), parser.FormatRule(r); got != want {
					return fmt.Errorf("rule %d prints %q, want %q", i, got, want)
				}
				i++
			}
		}
	}
	return nil
}

func infoString(r *RuleInfo) string {
	return fmt.Sprintf("%v %s %s h%d i%d %q %v %q us=%v ko=%v final=%v hook=%v base=%v", r.Family, r.Table, r.Chain, r.Handle, r.Index,
		r.Comment, r.Pos, r.Text(), r.Userspace, r.KernelOnly, r.Final, r.Hook, r.InBase)
}

// origin names the rule of e whose counts or statement counter c is, or
// "new".
func origin(e *Engine, c *Counters) string {
	for i, r := range e.Rules {
		if r.Counts == c {
			return fmt.Sprintf("rule %d", i)
		}
		for k, s := range r.stmts {
			if s.ctr == c {
				return fmt.Sprintf("rule %d statement %d", i, k)
			}
		}
	}
	return "new"
}

// scratchStmts ranges over the statement indexes of rule i of e.
func scratchStmts(e *Engine, i int) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range e.Rules[i].source().Stmts {
			if !yield(k) {
				return
			}
		}
	}
}

// indexEqual reports how two indexes of the same rules differ in what
// they give a packet: the same levels, the same non-empty buckets, the
// same unindexed rules.
func indexEqual(a, b *index) error {
	if (a == nil) != (b == nil) {
		return fmt.Errorf("index %v, want %v", a != nil, b != nil)
	}
	if a == nil {
		return nil
	}
	if len(a.levels) != len(b.levels) {
		return fmt.Errorf("%d levels, want %d", len(a.levels), len(b.levels))
	}
	for i := range a.levels {
		la, lb := &a.levels[i], &b.levels[i]
		if la.field != lb.field {
			return fmt.Errorf("level %d on %v, want %v", i, la.field, lb.field)
		}
		for k, id := range lb.ids {
			got := []int32{}
			if ia, ok := la.ids[k]; ok {
				got = append(got, la.bucket(ia)...)
			}
			if want := append([]int32{}, lb.bucket(id)...); !slices.Equal(got, want) {
				return fmt.Errorf("level %d bucket %v: %v, want %v", i, k, got, want)
			}
		}
		for k, id := range la.ids {
			if _, ok := lb.ids[k]; !ok && len(la.bucket(id)) > 0 {
				return fmt.Errorf("level %d bucket %v: %v, want none", i, k, la.bucket(id))
			}
		}
	}
	if !slices.Equal(a.wild, b.wild) {
		return fmt.Errorf("wild %v, want %v", a.wild, b.wild)
	}
	return nil
}

// TestCompileReuseDropsPrevious: an engine that reused the rules of the
// previous one does not keep the previous ruleset's rules reachable (its
// shared RuleInfos print their text from the new rules), so a reload
// does not double the parse tree's memory.
func TestCompileReuseDropsPrevious(t *testing.T) {
	old := parseKeyed(t, scaleFile(200, false))
	var weakRules []weak.Pointer[parser.Rule]
	for _, r := range old.Tables[0].Chains[0].Rules {
		weakRules = append(weakRules, weak.Make(r))
	}
	weakRS := weak.Make(old)
	prev, err := Compile(old, Options{})
	if err != nil {
		t.Fatal(err)
	}
	prev.Rules[3].Text() // a printed text is shared too
	cur := parseKeyed(t, scaleFile(200, true))
	e, err := Compile(cur, Options{Prev: prev})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.Reuse(); st.Reused != 199 || st.SharedInfo != 199 {
		t.Fatalf("reuse %+v, want 199 rules reused and sharing their RuleInfo", st)
	}
	old, prev = nil, nil
	runtime.GC()
	runtime.GC()
	if weakRS.Value() != nil {
		t.Errorf("the previous ruleset is still reachable")
	}
	for i, w := range weakRules {
		if w.Value() != nil {
			t.Fatalf("rule %d of the previous ruleset is still reachable", i)
		}
	}
	if got, want := e.Rules[3].Text(), parser.FormatRule(cur.Tables[0].Chains[0].Rules[3]); got != want {
		t.Fatalf("text %q, want %q", got, want)
	}
	runtime.KeepAlive(e)
}

// TestCompileReuseWhileRunning: the previous engine keeps deciding and
// printing its rules while a compile reuses them (run with -race).
func TestCompileReuseWhileRunning(t *testing.T) {
	old, cur := parseKeyed(t, scaleFile(300, false)), parseKeyed(t, scaleFile(300, true))
	prev, err := Compile(old, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := pk{src: "10.0.0.7", dst: "10.0.0.2", proto: tcpP, sport: 1, dport: 8, hook: input}
	stop := make(chan struct{})
	done := make(chan string)
	go func() {
		bad := ""
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- bad
				return
			default:
			}
			if d := prev.Eval(x.ctx()); d.Verdict != Drop || d.Rule == nil || d.Rule.Index != 7 {
				bad = fmt.Sprintf("decision %+v", d)
			}
			r := prev.Rules[i%len(prev.Rules)]
			if got, want := r.Text(), parser.FormatRule(old.Tables[0].Chains[0].Rules[r.Index]); got != want {
				bad = fmt.Sprintf("rule %d prints %q, want %q", r.Index, got, want)
			}
		}
	}()
	for i := range 20 {
		src := cur
		if i%2 == 1 {
			src = parseKeyed(t, scaleFile(300, i%4 == 1))
		}
		if _, err := Compile(src, Options{Prev: prev}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if bad := <-done; bad != "" {
		t.Fatal(bad)
	}
}

// TestIndexPatchSuccessive: a long chain edited one rule at a time over
// many reloads, each compiled from the engine before: every patched index
// holds what buildIndex makes of the same rules, as buckets are replaced
// and their dead space grows until the index is built afresh.
func TestIndexPatchSuccessive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var lines []string
	line := func() string {
		if r.IntN(10) == 0 {
			return fmt.Sprintf("tcp dport %d counter accept", r.IntN(40))
		}
		return fmt.Sprintf("ip saddr 10.1.%d.%d tcp dport %d counter accept", r.IntN(4), r.IntN(200), r.IntN(40))
	}
	for range 1000 {
		lines = append(lines, line())
	}
	file := func() string {
		return "table ip t {\n\tchain in {\n\t\ttype filter hook input priority 0; policy drop;\n\t\t" + strings.Join(lines, "\n\t\t") + "\n\t}\n}\n"
	}
	prev, err := Compile(parseKeyed(t, file()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	patched, built := 0, 0
	for round := range 300 {
		switch i := r.IntN(len(lines)); r.IntN(3) {
		case 0:
			lines[i] = line()
		case 1:
			lines = slices.Insert(lines, i, line())
		default:
			lines = slices.Delete(lines, i, i+1)
		}
		rs := parseKeyed(t, file())
		e, err := Compile(rs, Options{Prev: prev})
		if err != nil {
			t.Fatal(err)
		}
		scratch := buildIndexOf(t, file())
		if err := indexEqual(e.chainOf[e.Chains[0]].idx, scratch); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		st := e.Reuse()
		patched += st.IndexPatched
		built += st.IndexBuilt
		prev = e
	}
	if patched < 200 || built == 0 {
		t.Fatalf("%d indexes patched, %d built: want most patched and some built afresh (dead space)", patched, built)
	}
	t.Logf("%d indexes patched, %d built", patched, built)
}

func buildIndexOf(t *testing.T, src string) *index {
	t.Helper()
	e := compile(t, src)
	return e.chainOf[e.Chains[0]].idx
}
