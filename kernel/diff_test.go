package kernel

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// diffBase is the ruleset the incremental tests edit: native rules,
// anonymous sets, a named set, a regular chain, and a userspace-only
// rule (so a queue rule and a continuation chain) with native rules
// after it.
const diffBase = `table inet t {
  set blk { type ipv4_addr; elements = { 10.9.0.1, 10.9.0.2, 10.9.0.3 } }
  set nets { type ipv4_addr; flags interval; elements = { 10.20.0.0/16, 10.30.0.0/24 } }
  chain sub {
    ip daddr 127.0.0.9 counter return
    counter
  }
  chain output {
    type filter hook output priority 0; policy accept;
    ip daddr 127.0.0.1 icmp type echo-request counter
    ip daddr 127.0.0.2 counter
    tcp dport { 22, 80 } counter accept
    ip saddr @blk counter drop
    ip daddr @nets counter drop
    ip daddr 127.0.0.1 counter jump sub
    ip daddr 127.0.0.3 counter
    tls sni "example.com" counter drop
    ip daddr 127.0.0.4 counter
    ip daddr 127.0.0.1 counter
  }
}
`

// diffEdits are the edits each test applies to diffBase: old, new.
var diffEdits = []struct{ name, old, new string }{
	{"change", "ip daddr 127.0.0.2 counter", "ip daddr 127.0.0.22 counter"},
	{"insert head", "    ip daddr 127.0.0.1 icmp type echo-request counter\n", "    ip daddr 127.0.0.50 counter\n    ip daddr 127.0.0.1 icmp type echo-request counter\n"},
	{"insert middle", "    ip daddr 127.0.0.3 counter\n", "    ip daddr 127.0.0.3 counter\n    udp dport { 53, 5353 } counter\n    ip daddr 127.0.0.51 counter\n"},
	{"insert tail", "    counter\n  }\n  chain output", "    counter\n    ip daddr 127.0.0.52 counter\n    ip daddr 127.0.0.53 counter\n  }\n  chain output"},
	{"delete", "    ip daddr 127.0.0.2 counter\n", ""},
	{"move", "    ip daddr 127.0.0.2 counter\n", ""}, // and added at the end below
	{"anonymous set", "tcp dport { 22, 80 }", "tcp dport { 22, 443 }"},
	{"after the userspace rule", "ip daddr 127.0.0.4 counter", "ip daddr 127.0.0.44 counter drop"},
	{"userspace rule", `tls sni "example.com"`, `tls sni "example.org"`},
	{"set element", "10.9.0.2, 10.9.0.3", "10.9.0.3, 10.9.0.4"},
	{"interval element", "10.30.0.0/24", "10.30.0.0/23, 10.40.0.1-10.40.0.9"},
	{"set definition", "set blk { type ipv4_addr;", "set blk { type ipv4_addr; flags timeout;"},
	{"add chain", "  chain sub {", "  chain extra {\n    counter\n  }\n  chain sub {"},
	{"remove chain", "    ip daddr 127.0.0.1 counter jump sub\n", ""},
	{"policy", "policy accept;", "policy drop;"},
	{"add table", "", "table ip u {\n  chain input {\n    type filter hook input priority 0;\n    counter\n  }\n}\n"},
	{"hook change", "type filter hook output priority 0;", "type filter hook output priority 10;"},
}

func applyEdit(t *testing.T, name, old, new string) string {
	src := diffBase
	switch {
	case name == "remove chain":
		src = strings.Replace(src, old, new, 1)
		i, j := strings.Index(src, "  chain sub {"), strings.Index(src, "  chain output {")
		return src[:i] + src[j:]
	case old == "":
		return src + new
	case !strings.Contains(src, old):
		t.Fatalf("edit %s: %q not in the base", name, old)
	}
	src = strings.Replace(src, old, new, 1)
	if name == "move" {
		src = strings.Replace(src, "    ip daddr 127.0.0.1 counter\n  }\n}", "    ip daddr 127.0.0.1 counter\n    ip daddr 127.0.0.2 counter\n  }\n}", 1)
	}
	return src
}

func diffPlans(t *testing.T, src string) []*planner.TablePlan {
	t.Helper()
	return diffPlansFrom(t, src, false, nil)
}

// diffPlansFrom plans src; keyed gives its rules keys
// (parser.ReferenceKeys), so the planner reuses prev's translations.
func diffPlansFrom(t *testing.T, src string, keyed bool, prev []*planner.TablePlan) []*planner.TablePlan {
	t.Helper()
	// Parsed as the daemon parses: a set of plain values packed
	// (blk: its kernel elements are the parse's keys), others as lists.
	rs, err := parser.ParseContext(parser.WithPackedSets(context.Background()), "diff.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if keyed {
		parser.ReferenceKeys(rs)
	} else {
		zeroKeys(rs) // the parser's own keys would reuse too
	}
	plans, _, err := planner.PlanRulesetWith(rs, planner.OffloadAuto, planner.PlanOptions{Prev: prev})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range plans {
		for _, cp := range tp.Chains {
			cp.ContMask = 0x00ff0000
			if cp.Queue {
				cp.QueueNum, cp.QueueTotal = 7, 1
			}
		}
	}
	return plans
}

var (
	handleRe  = regexp.MustCompile(` # handle \d+`)
	counterRe = regexp.MustCompile(`counter packets \d+ bytes \d+`)
)

// listing is the namespace's ruleset with handles and counts left out.
func listing(t *testing.T, ns *netns.NS) string {
	t.Helper()
	out, err := ns.Cmd("nft", "list", "ruleset").Output()
	if err != nil {
		t.Fatal(err)
	}
	return sortBlocks(counterRe.ReplaceAllString(string(out), "counter"))
}

// sortBlocks sorts the chains and sets of each table by name: an
// incremental load adds new chains after the old ones, a full load in
// the plan's order.
func sortBlocks(s string) string {
	var out, blocks []string
	var cur []string
	flush := func() {
		sort.Strings(blocks)
		out = append(out, blocks...)
		blocks = nil
	}
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "\tchain ") || strings.HasPrefix(l, "\tset ") || strings.HasPrefix(l, "\tmap "):
			cur = []string{l}
		case cur != nil && l == "\t}":
			blocks = append(blocks, strings.Join(append(cur, l), "\n"))
			cur = nil
		case cur != nil:
			cur = append(cur, l)
		case l == "":
		default:
			if l == "}" {
				flush()
			}
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// handles maps each rule line of `nft -a list ruleset` (counts left out)
// that occurs once to its handle and line with counts.
func handles(t *testing.T, ns *netns.NS) map[string]string {
	t.Helper()
	out, err := ns.Cmd("nft", "-a", "list", "ruleset").Output()
	if err != nil {
		t.Fatal(err)
	}
	m, seen := map[string]string{}, map[string]int{}
	chain := ""
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "chain ") {
			chain = l
		}
		if !strings.Contains(l, "# handle") || strings.HasPrefix(l, "chain ") || strings.HasPrefix(l, "table ") || strings.HasPrefix(l, "set ") {
			continue
		}
		k := chain + " " + counterRe.ReplaceAllString(handleRe.ReplaceAllString(l, ""), "counter")
		seen[k]++
		m[k] = l
	}
	for k, n := range seen {
		if n > 1 {
			delete(m, k)
		}
	}
	return m
}

// TestProgramDiffEqualsFullLoad: for each edit, the incremental batch
// from the old ruleset leaves the kernel's listing equal to a full load
// of the new one in another namespace, keeps the handles and counters of
// the rules it does not change, and is small; also when the new plans
// reuse the old plans' translations (rules with keys), and with them the
// old rules' keys the diff computed.
func TestProgramDiffEqualsFullLoad(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inc, full := netns.New(t, "dfi"), netns.New(t, "dff")
	incConn, fullConn := connIn(t, inc), connIn(t, full)
	if _, err := inc.Run("ip", "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	for _, reuse := range []bool{false, true} {
		mode := "scratch"
		if reuse {
			mode = "reuse"
		}
		t.Run(mode, func(t *testing.T) { programDiffEqualsFullLoad(t, reuse, incConn, fullConn, inc, full) })
	}
}

func programDiffEqualsFullLoad(t *testing.T, reuse bool, incConn, fullConn func() (*nftables.Conn, error), inc, full *netns.NS) {
	for i, e := range diffEdits {
		// Every other edit, nfd forgets the handles it knows and dumps
		// the chains instead (another tool committed meanwhile).
		dump := i%2 == 1
		t.Run(strings.ReplaceAll(e.name, " ", "_"), func(t *testing.T) {
			c, err := incConn()
			if err != nil {
				t.Fatal(err)
			}
			if err := Remove(c); err != nil {
				t.Fatal(err)
			}
			oldPlans := diffPlansFrom(t, diffBase, reuse, nil)
			if err := ProgramPlans(c, QueueCompat, oldPlans); err != nil {
				t.Fatal(err)
			}
			checkKnownHandles(t, c, oldPlans)
			inc.Ping("127.0.0.1", time.Second)
			before := handles(t, inc)
			newSrc := applyEdit(t, e.name, e.old, e.new)
			newPlans := diffPlansFrom(t, newSrc, reuse, oldPlans)
			// An edit of the declarations changes every rule's key.
			skeleton := map[string]bool{"set element": true, "interval element": true, "set definition": true, "add chain": true,
				"remove chain": true, "policy": true, "add table": true, "hook change": true}[e.name]
			if reused, _ := planner.ReuseStats(newPlans); (reuse && !skeleton) != (reused > 0) {
				t.Errorf("reuse %v, but %d translations reused", reuse, reused)
			}
			if dump {
				forgetHandles(c.NetNS)
			}
			res, err := ProgramDiff(c, QueueCompat, oldPlans, newPlans)
			if err != nil {
				t.Fatal(err)
			}
			if (res.Dumped != 0) != dump && e.name != "set definition" {
				t.Errorf("%d chains dumped, want dumps %v", res.Dumped, dump)
			}
			if !dump && e.name != "set definition" {
				checkKnownHandles(t, c, newPlans)
			}
			fc, err := fullConn()
			if err != nil {
				t.Fatal(err)
			}
			if err := Remove(fc); err != nil {
				t.Fatal(err)
			}
			if err := ProgramPlans(fc, QueueCompat, diffPlans(t, newSrc)); err != nil {
				t.Fatal(err)
			}
			if got, want := listing(t, inc), listing(t, full); got != want {
				t.Fatalf("incremental listing differs from a full load:\n--- incremental\n%s\n--- full\n%s", got, want)
			}
			if e.name == "set definition" || e.name == "hook change" {
				return // the table, or the chain, is programmed whole
			}
			after := handles(t, inc)
			kept, counted := 0, 0
			for k, l := range before {
				if strings.Contains(l, "ct state") {
					continue // the queue rule: replaced at every reload (chainKeys)
				}
				if a, ok := after[k]; ok {
					kept++
					if a != l {
						t.Errorf("unchanged rule %s: was %q, now %q", k, l, a)
					}
					if !strings.Contains(l, "packets 0 ") {
						counted++
					}
				}
			}
			// And back: known handles again.
			back := diffPlansFrom(t, diffBase, reuse, newPlans)
			if _, err := ProgramDiff(c, QueueCompat, newPlans, back); err != nil {
				t.Fatal(err)
			}
			if !dump && e.name != "set definition" {
				checkKnownHandles(t, c, back)
			}
			t.Logf("%s: %d messages, %d tables whole, %d rules kept (%d with counts)", e.name, res.Messages, res.Full, kept, counted)
			if res.Full != 0 && e.name != "add table" {
				t.Errorf("the table was programmed whole")
			}
			if kept < 7 || counted < 1 {
				t.Errorf("only %d rules kept, %d with counts", kept, counted)
			}
			if res.Messages > 16 {
				t.Errorf("the batch has %d messages", res.Messages)
			}
		})
	}
}

// checkKnownHandles: the handles nfd expects the kernel gave its rules
// (handles.go) are the handles a dump shows.
func checkKnownHandles(t *testing.T, c *nftables.Conn, plans []*planner.TablePlan) {
	t.Helper()
	tabs, _, ok := knownHandles(c.NetNS)
	if !ok || tabs == nil {
		t.Fatal("nothing known of the handles after nfd's own batch")
	}
	for _, tp := range plans {
		th := tabs[tp]
		if th == nil {
			t.Fatalf("table %s: handles not known", tp.Name)
		}
		for name, hs := range th.chains {
			rs, err := nlbatch.DumpRules(c.NetNS, byte(tp.Kernel.Family), tp.Kernel.Name, name)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, r := range rs {
				got = append(got, r.Handle)
			}
			if fmt.Sprint(got) != fmt.Sprint(hs) {
				t.Fatalf("chain %s: the kernel's handles %v, nfd expects %v", name, got, hs)
			}
		}
	}
}

// TestProgramDiffGoneElement: an element the file drops that the kernel
// already lost (timed out, or deleted by a rule or another tool) is no
// error: the diff destroys elements (NFT_MSG_DESTROYSETELEM), so the
// batch is not refused and the table is not programmed whole.
func TestProgramDiffGoneElement(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "dfg")
	c, err := connIn(t, ns)()
	if err != nil {
		t.Fatal(err)
	}
	old := diffPlans(t, diffBase)
	if err := ProgramPlans(c, QueueCompat, old); err != nil {
		t.Fatal(err)
	}
	if out, err := ns.Run("nft", "delete", "element", "inet", "nfd_t", "blk", "{ 10.9.0.2 }"); err != nil {
		t.Fatal(err, out)
	}
	res, err := ProgramDiff(c, QueueCompat, old, diffPlans(t, strings.Replace(diffBase, "10.9.0.2, ", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Full != 0 {
		t.Fatalf("the diff was refused and the table programmed whole: %+v", res)
	}
	out, err := ns.Run("nft", "list", "set", "inet", "nfd_t", "blk")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "10.9.0.2") || !strings.Contains(out, "10.9.0.3") {
		t.Fatalf("set after the diff:\n%s", out)
	}
}

// objectsBase has kernel objects, an anonymous object map and a dormant
// table: such tables are programmed whole by ProgramDiff (wholeOnly), and
// the handles nfd expects must still be the kernel's (objects take table
// handles too), or the next diff would delete the wrong rules.
const objectsBase = `table ip o {
  ct helper ftp-standard { type "ftp" protocol tcp; l3proto ip; }
  ct timeout short { protocol tcp; l3proto ip; policy = { established: 100 }; }
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    tcp dport 21 ct helper set "ftp-standard"
    ct timeout set "short"
    ct helper set udp dport map { 69 : "ftp-standard" }
    ip daddr 127.0.0.7 counter
  }
}
table ip d {
  flags dormant
  chain in {
    type filter hook input priority 0; policy accept;
    ip daddr 127.0.0.8 counter
  }
}
`

func TestProgramDiffObjects(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inc, full := netns.New(t, "dfo"), netns.New(t, "dfp")
	incConn, fullConn := connIn(t, inc), connIn(t, full)
	for _, e := range []struct{ name, old, new string }{
		{"rule", "ip daddr 127.0.0.7 counter", "ip daddr 127.0.0.77 counter"},
		{"object", "established: 100", "established: 200"},
		{"wake", "  flags dormant\n", ""},
	} {
		t.Run(e.name, func(t *testing.T) {
			c, err := incConn()
			if err != nil {
				t.Fatal(err)
			}
			if err := Remove(c); err != nil {
				t.Fatal(err)
			}
			oldPlans := diffPlans(t, objectsBase)
			if err := ProgramPlans(c, QueueCompat, oldPlans); err != nil {
				t.Fatal(err)
			}
			checkKnownHandles(t, c, oldPlans)
			if !strings.Contains(objectsBase, e.old) {
				t.Fatalf("%q not in the base", e.old)
			}
			newSrc := strings.Replace(objectsBase, e.old, e.new, 1)
			newPlans := diffPlans(t, newSrc)
			if _, err := ProgramDiff(c, QueueCompat, oldPlans, newPlans); err != nil {
				t.Fatal(err)
			}
			// Programmed whole in place (wholeOnly): its handles are not
			// claimed known, so the next diff dumps.
			if tabs, _, _ := knownHandles(c.NetNS); tabs[newPlans[0]] != nil {
				t.Errorf("handles of a table programmed whole in place claimed known")
			}
			same := func(src string) {
				t.Helper()
				fc, err := fullConn()
				if err != nil {
					t.Fatal(err)
				}
				if err := Remove(fc); err != nil {
					t.Fatal(err)
				}
				if err := ProgramPlans(fc, QueueCompat, diffPlans(t, src)); err != nil {
					t.Fatal(err)
				}
				if got, want := listing(t, inc), listing(t, full); got != want {
					t.Fatalf("incremental listing differs from a full load:\n--- incremental\n%s\n--- full\n%s", got, want)
				}
			}
			same(newSrc)
			back := diffPlans(t, objectsBase)
			if _, err := ProgramDiff(c, QueueCompat, newPlans, back); err != nil {
				t.Fatal(err)
			}
			same(objectsBase)
		})
	}
}

// zeroKeys takes rs's rules' keys away: nothing of them is reused.
func zeroKeys(rs *parser.Ruleset) {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				r.Key = parser.RuleKey{}
			}
		}
	}
}
