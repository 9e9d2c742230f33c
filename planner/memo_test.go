package planner

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// memoFile is a ruleset as editable lines: per chain, a header and rules.
type memoFile struct {
	r      *rand.Rand
	chains []*memoChain
	// elem is the varying element of the named sets.
	elem int
}

type memoChain struct {
	table, name, header string
	pool                []string // rule forms; %d is a random number
	rules               []string
}

func (f *memoFile) rule(c *memoChain) string {
	form := c.pool[f.r.Intn(len(c.pool))]
	n := strings.Count(form, "%d")
	args := make([]any, n)
	for i := range args {
		args[i] = 1 + f.r.Intn(250)
	}
	return fmt.Sprintf(form, args...)
}

// newMemoFile makes a ruleset with rules the kernel runs, rules nfd runs
// (`tls sni`, queued and guarded), kernel-only rules after those
// (continuations), jumps, gotos and verdict maps to native and
// userspace chains, anonymous and named sets, counters, limits, rejects
// and NAT.
func newMemoFile(r *rand.Rand, n int) *memoFile {
	f := &memoFile{r: r, elem: 7}
	common := []string{
		"ip saddr 10.0.%d.%d tcp dport %d counter drop",
		"tcp dport { 22, 80, %d } accept",
		"ip saddr @blk counter drop",
		"udp dport @ports accept",
		"ip daddr 10.1.%d.0/24 counter jump nat_c",
		"tcp dport %d goto nat_c",
		"tcp dport vmap { 22 : jump nat_c, %d : drop }",
		"tcp dport %d limit rate 10/second accept",
		"meta mark 0x%d accept",
		"meta mark { 0x10-0x20, 0x%d } accept",
		"ct state established,related accept",
		"ip saddr . tcp dport { 10.0.0.1 . 22, 10.0.0.2 . %d } accept",
		"tcp dport %d reject with tcp reset",
		"icmp type echo-request counter accept",
		"tcp dport %d counter",
		"ip saddr 10.0.0.%d tcp dport %d counter drop",
		"ip saddr 10.0.0.%d tcp dport %d counter drop",
	}
	input := append(append([]string{}, common...),
		"tls sni \"x%d.example\" drop",
		"tcp dport 443 tls sni \"y%d.example\" accept",
		"meta pkttype host counter accept",
		"meta pkttype broadcast tcp dport %d drop",
		"tcp dport %d jump user_c",
		"ip saddr 10.4.0.%d jump user_c")
	f.chains = []*memoChain{
		{table: "inet t", name: "input", header: "type filter hook input priority 0; policy accept;", pool: input},
		{table: "inet t", name: "forward_c", header: "type filter hook forward priority 0; policy drop;", pool: common},
		{table: "inet t", name: "nat_c", pool: []string{"tcp dport %d counter return", "ip saddr 10.9.%d.0/24 drop", "udp dport { 53, %d } accept"}},
		{table: "inet t", name: "user_c", pool: []string{"tls sni \"u%d.example\" accept", "tcp dport %d drop", "counter"}},
		{table: "ip nat", name: "pre", header: "type nat hook prerouting priority -100; policy accept;",
			pool: []string{"tcp dport %d dnat to 10.0.0.%d:80", "ip daddr 10.2.0.%d dnat to 10.0.0.1", "tcp dport %d counter"}},
		{table: "ip nat", name: "post", header: "type nat hook postrouting priority 100; policy accept;",
			pool: []string{"oifname \"eth0\" masquerade", "ip saddr 10.3.%d.0/24 snat to 1.2.3.4", "counter"}},
	}
	for _, c := range f.chains {
		k := n
		if c.header == "" || c.table == "ip nat" {
			k = 3
		}
		for i := 0; i < k; i++ {
			c.rules = append(c.rules, f.rule(c))
		}
	}
	return f
}

func (f *memoFile) String() string {
	var b strings.Builder
	for _, table := range []string{"inet t", "ip nat"} {
		fmt.Fprintf(&b, "table %s {\n", table)
		if table == "inet t" {
			fmt.Fprintf(&b, "  set blk {\n    type ipv4_addr; flags interval;\n    elements = { 10.5.0.0/16, 10.6.0.%d }\n  }\n", f.elem)
			fmt.Fprintf(&b, "  set ports {\n    type inet_service;\n    elements = { 53, %d }\n  }\n", 1000+f.elem)
		}
		for _, c := range f.chains {
			if c.table != table {
				continue
			}
			fmt.Fprintf(&b, "  chain %s {\n", c.name)
			if c.header != "" {
				fmt.Fprintf(&b, "    %s\n", c.header)
			}
			for _, r := range c.rules {
				fmt.Fprintf(&b, "    %s\n", r)
			}
			b.WriteString("  }\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// edit changes the file at random: rules changed, added or removed, a set
// element, a base chain's policy or priority.
func (f *memoFile) edit() string {
	c := f.chains[f.r.Intn(len(f.chains))]
	switch k := f.r.Intn(10); {
	case k < 3 && len(c.rules) > 0:
		i := f.r.Intn(len(c.rules))
		c.rules[i] = f.rule(c)
		return fmt.Sprintf("change %s rule %d", c.name, i)
	case k < 6:
		i := f.r.Intn(len(c.rules) + 1)
		c.rules = append(c.rules[:i], append([]string{f.rule(c)}, c.rules[i:]...)...)
		return fmt.Sprintf("insert %s rule %d", c.name, i)
	case k < 8 && len(c.rules) > 1:
		i := f.r.Intn(len(c.rules))
		c.rules = append(c.rules[:i], c.rules[i+1:]...)
		return fmt.Sprintf("delete %s rule %d", c.name, i)
	case k == 8:
		f.elem = 1 + f.r.Intn(250)
		return "set element"
	}
	if strings.Contains(c.header, "policy accept") {
		c.header = strings.Replace(c.header, "policy accept", "policy drop", 1)
	} else if c.header != "" && c.table == "inet t" {
		c.header = strings.Replace(c.header, "priority 0", "priority 5", 1)
	}
	return "chain header " + c.name
}

// planDump is everything of a plan but its set IDs (fresh per plan):
// each set ID is written as the set's index in the table's sets.
func planDump(t *testing.T, plans []*TablePlan) string {
	var b strings.Builder
	seen := map[uint32]bool{}
	for _, tp := range plans {
		idx := map[uint32]int{}
		for i, ps := range tp.Sets {
			if seen[ps.Set.ID] {
				t.Fatalf("set ID %d given twice in one ruleset's plans", ps.Set.ID)
			}
			seen[ps.Set.ID] = true
			idx[ps.Set.ID] = i
		}
		fmt.Fprintf(&b, "table %s %s dormant=%v objects=%d dns=%v\n", tp.Family, tp.Name, tp.Dormant, len(tp.Objects), tp.DNS != nil)
		for i, ps := range tp.Sets {
			s := *ps.Set
			s.ID, s.Table = 0, nil
			fmt.Fprintf(&b, "  set %d %+v objtype=%d\n", i, s, ps.ObjType)
			elems := ps.Elems
			if ps.Packed != nil {
				elems = ps.Packed.Decode(nil, 0, ps.Packed.Len())
			}
			for _, e := range elems {
				fmt.Fprintf(&b, "    elem %x %x end=%v val=%x verdict=%v timeout=%v %q\n", e.Key, e.KeyEnd, e.IntervalEnd, e.Val, e.VerdictData, e.Timeout, e.Comment)
			}
		}
		for _, cp := range tp.Chains {
			dumpChain(t, &b, tp, cp, idx, "  ")
		}
	}
	return b.String()
}

func dumpChain(t *testing.T, b *strings.Builder, tp *TablePlan, cp *ChainPlan, idx map[uint32]int, ind string) {
	fmt.Fprintf(b, "%schain %s base=%+v queue=%v start=%d qnum=%d qtot=%d bypass=%v names=%v est=%v reply=%q qid=%d parent=%v\n",
		ind, cp.Name, cp.Base, cp.Queue, cp.Start, cp.QueueNum, cp.QueueTotal, cp.Bypass, cp.BypassNames, cp.EstablishedNative,
		cp.ReplyChain, cp.QueueID, cp.Parent != nil)
	if len(cp.Refs) != len(cp.Rules) || len(cp.Ctr) != len(cp.Rules) || len(cp.AfterRefs) != len(cp.After) || len(cp.AfterCtr) != len(cp.After) {
		t.Fatalf("chain %s: rules, refs and counters differ in length", cp.Name)
	}
	dumpRules := func(what string, rs [][]expr.Any, refs []RuleRef, ctr []int) {
		for i, r := range rs {
			fmt.Fprintf(b, "%s %s %d %+v ctr=%d %s\n", ind, what, i, refs[i], ctr[i], exprDump(t, tp, r, idx))
		}
	}
	dumpRules("rule", cp.Rules, cp.Refs, cp.Ctr)
	for i, g := range cp.Guards {
		fmt.Fprintf(b, "%s guard %d %s\n", ind, i, exprDump(t, tp, g, idx))
	}
	dumpRules("after", cp.After, cp.AfterRefs, cp.AfterCtr)
	for _, p := range cp.Conts {
		fmt.Fprintf(b, "%s cont %d %v kernel=%v chain=%s\n", ind, p.ID, p.Frames, p.Kernel, p.Chain)
	}
	for _, rp := range cp.Rejects {
		fmt.Fprintf(b, "%s reject %+v\n", ind, *rp)
	}
	if cp.Queue || len(cp.Conts) > 0 {
		// The queue and dispatch rules as the kernel gets them.
		c := *cp
		c.ContMask = 0xff00
		fmt.Fprintf(b, "%s layout %+v dispatch=%v\n", ind, c.Layout(), c.Dispatches())
		if c.Dispatches() {
			ds := c.DispatchSet()
			fmt.Fprintf(b, "%s dispatch %d elems\n", ind, len(ds.Elems))
			for _, e := range ds.Elems {
				fmt.Fprintf(b, "%s  %x %v\n", ind, e.Key, e.VerdictData)
			}
		}
	}
	for _, cc := range cp.ContChains {
		dumpChain(t, b, tp, cc, idx, ind+"  ")
	}
}

func exprDump(t *testing.T, tp *TablePlan, exprs []expr.Any, idx map[uint32]int) string {
	var parts []string
	for _, e := range exprs {
		switch x := e.(type) {
		case *expr.Lookup:
			c := *x
			c.SetID = uint32(1000 + idxOf(t, idx, x.SetID))
			e = &c
		case *expr.Dynset:
			c := *x
			c.SetID = uint32(1000 + idxOf(t, idx, x.SetID))
			e = &c
		}
		bs, err := expr.Marshal(byte(tp.Kernel.Family), e)
		if err != nil {
			t.Fatalf("marshal %T: %v", e, err)
		}
		parts = append(parts, fmt.Sprintf("%T:%x", e, bs))
	}
	return strings.Join(parts, " ")
}

func idxOf(t *testing.T, idx map[uint32]int, id uint32) int {
	i, ok := idx[id]
	if !ok {
		t.Fatalf("a rule refers to set ID %d, which its table plan does not add", id)
	}
	return i
}

func placementDump(pl map[RuleRef]Placement) string {
	var lines []string
	for ref, p := range pl {
		lines = append(lines, fmt.Sprintf("%+v %+v", ref, p))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func parseKeyed(t *testing.T, src string) *parser.Ruleset {
	t.Helper()
	// Parsed as the daemon parses (a set of plain values packed).
	rs, err := parser.ParseContext(parser.WithPackedSets(context.Background()), "memo.nft", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	parser.ReferenceKeys(rs)
	return rs
}

// TestPlanReuseEquivalence: for random edits, the plan made with the
// previous plan's translations is the plan made from scratch (rules'
// marshalled bytes in order, sets, placements, continuation points,
// queue and dispatch rules, errors), over generations of reloads, in
// both offload modes; and translations really are reused.
func TestPlanReuseEquivalence(t *testing.T) {
	for _, off := range []string{OffloadAuto, OffloadNone} {
		t.Run(off, func(t *testing.T) {
			totalReused, plansOK := 0, 0
			seen := map[string]bool{}
			for seed := int64(1); seed <= 12; seed++ {
				r := rand.New(rand.NewSource(seed))
				f := newMemoFile(r, 6+r.Intn(20))
				var prev []*TablePlan
				for gen := 0; gen < 12; gen++ {
					var what []string
					if gen > 0 {
						for k := 1 + r.Intn(3); k > 0; k-- {
							what = append(what, f.edit())
						}
					}
					src := f.String()
					rs := parseKeyed(t, src)
					want, wantPl, wantErr := PlanRuleset(rs, off)
					got, gotPl, gotErr := PlanRulesetWith(rs, off, PlanOptions{Prev: prev})
					if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) {
						t.Fatalf("seed %d gen %d (%v): error %v, from scratch %v\n%s", seed, gen, what, gotErr, wantErr, src)
					}
					if wantErr != nil {
						continue
					}
					plansOK++
					if w, g := planDump(t, want), planDump(t, got); w != g {
						t.Fatalf("seed %d gen %d (%v): plans differ\n%s", seed, gen, what, firstDiff(w, g))
					}
					if w, g := placementDump(wantPl), placementDump(gotPl.Map()); w != g {
						t.Fatalf("seed %d gen %d (%v): placements differ\n%s", seed, gen, what, firstDiff(w, g))
					}
					for _, tp := range got {
						for _, cp := range tp.Chains {
							seen["queued"] = seen["queued"] || cp.Queue
							seen["guards"] = seen["guards"] || len(cp.Guards) > 0
							seen["continuations"] = seen["continuations"] || len(cp.Conts) > 0
							seen["reply chain"] = seen["reply chain"] || cp.ReplyChain != ""
						}
						seen["sets"] = seen["sets"] || len(tp.Sets) > 2
					}
					reused, _ := ReuseStats(got)
					if prev == nil && reused != 0 {
						t.Fatalf("reused %d translations with no previous plan", reused)
					}
					totalReused += reused
					prev = got
				}
			}
			t.Logf("%d plans equal from scratch, %d translations reused, %v", plansOK, totalReused, seen)
			for _, k := range []string{"queued", "continuations", "sets"} {
				if !seen[k] {
					t.Errorf("no plan had %s", k)
				}
			}
			if off == OffloadAuto && !seen["guards"] {
				t.Errorf("no plan had guards")
			}
			if plansOK < 60 || totalReused < 1000 {
				t.Fatalf("too little exercised: %d plans, %d reused", plansOK, totalReused)
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\nscratch: %s\nreuse:   %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d, %d", len(al), len(bl))
}

// TestPlanReuseCounts: an unchanged ruleset reuses every rule's
// translation; one changed rule is the one translated again.
func TestPlanReuseCounts(t *testing.T) {
	var b strings.Builder
	b.WriteString("table ip t {\n chain input {\n  type filter hook input priority 0; policy accept;\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "  ip saddr 10.0.0.%d tcp dport %d counter drop\n", i, 1+i%50)
	}
	b.WriteString(" }\n}\n")
	src := b.String()
	rs := parseKeyed(t, src)
	old, _, err := PlanRuleset(rs, OffloadAuto)
	if err != nil {
		t.Fatal(err)
	}
	same, _, err := PlanRulesetWith(parseKeyed(t, src), OffloadAuto, PlanOptions{Prev: old})
	if err != nil {
		t.Fatal(err)
	}
	if r, tr := ReuseStats(same); r != 200 || tr != 0 {
		t.Fatalf("unchanged: reused %d, translated %d; want 200, 0", r, tr)
	}
	for i := range same[0].Chains[0].Rules {
		if &same[0].Chains[0].Rules[i][0] != &old[0].Chains[0].Rules[i][0] {
			t.Fatalf("rule %d: expressions not shared", i)
		}
	}
	changed := strings.Replace(src, "10.0.0.100 tcp dport 1 ", "10.0.0.100 tcp dport 2 ", 1)
	if changed == src {
		t.Fatal("no change made")
	}
	got, _, err := PlanRulesetWith(parseKeyed(t, changed), OffloadAuto, PlanOptions{Prev: same})
	if err != nil {
		t.Fatal(err)
	}
	if r, tr := ReuseStats(got); r != 199 || tr != 1 {
		t.Fatalf("one changed: reused %d, translated %d; want 199, 1", r, tr)
	}
	for _, cm := range got[0].memo.order {
		if cm.prev != nil || cm.pair != nil {
			t.Fatal("the plan's memo keeps the previous plan's")
		}
	}
	// Without keys nothing is reused.
	rs0, err := parser.Parse("memo.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs0.Tables[0].Chains[0].Rules {
		r.Key = parser.RuleKey{}
	}
	none, _, err := PlanRulesetWith(rs0, OffloadAuto, PlanOptions{Prev: old})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := ReuseStats(none); r != 0 {
		t.Fatalf("zero keys: reused %d", r)
	}
}

// TestPairKeys: prefix and suffix by position, the middle by occurrence,
// zero keys never, each old rule once.
func TestPairKeys(t *testing.T) {
	k := func(n uint64) parser.RuleKey { return parser.RuleKey{n, 1} }
	z := parser.RuleKey{}
	cases := []struct {
		old, new []parser.RuleKey
		want     []int32
	}{
		{[]parser.RuleKey{k(1), k(2), k(3)}, []parser.RuleKey{k(1), k(2), k(3)}, []int32{0, 1, 2}},
		{[]parser.RuleKey{k(1), k(2), k(3)}, []parser.RuleKey{k(1), k(9), k(3)}, []int32{0, -1, 2}},
		{[]parser.RuleKey{k(1), k(1), k(1)}, []parser.RuleKey{k(1), k(1)}, []int32{0, 1}},
		{[]parser.RuleKey{k(5), k(1), k(2), k(1)}, []parser.RuleKey{k(1), k(2), k(1), k(6)}, []int32{1, 2, 3, -1}},
		{[]parser.RuleKey{z, k(1)}, []parser.RuleKey{z, k(1)}, []int32{-1, 1}},
		{[]parser.RuleKey{k(2), k(1)}, []parser.RuleKey{k(1), k(2)}, []int32{1, 0}},
	}
	for _, c := range cases {
		if got := pairKeys(c.old, c.new); !reflect.DeepEqual(got, c.want) {
			t.Errorf("pairKeys(%v, %v) = %v, want %v", c.old, c.new, got, c.want)
		}
	}
}

var _ = nftables.Set{}
