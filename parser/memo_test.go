package parser

import (
	stdctx "context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"unsafe"

	"github.com/nfdproject/nfd/internal/acccorpus"
)

// memoSkip are the unexported fields diffTree does not compare: what a
// tree keeps of its source and its owner of dynamic fields.
var memoSkip = map[string]bool{"fields": true, "src": true, "memo": true, "ctxs": true, "shared": true, "reused": true, "checked": true}

// diffTree compares two trees field by field (unexported ones too, but
// memoSkip) and describes the first difference, "" when equal.
func diffTree(a, b reflect.Value, path string) string {
	if a.Kind() != b.Kind() {
		return path + ": kinds differ"
	}
	if a.Type() == reflect.TypeOf(Field(0)) {
		// by what the field is: some (numgen's) are made anew by every
		// parse, with equal contents
		if fa, fb := Field(a.Uint()), Field(b.Uint()); fa != fb {
			return diffTree(reflect.ValueOf(*fa.Info()), reflect.ValueOf(*fb.Info()), path+"(field)")
		}
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": nil and non-nil"
			}
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return ""
		}
		return diffTree(a.Elem(), b.Elem(), path)
	case reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": nil and non-nil"
			}
			return ""
		}
		if a.Elem().Type() != b.Elem().Type() {
			return fmt.Sprintf("%s: %s and %s", path, a.Elem().Type(), b.Elem().Type())
		}
		return diffTree(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			f := a.Type().Field(i)
			if !f.IsExported() && memoSkip[f.Name] {
				continue
			}
			if d := diffTree(a.Field(i), b.Field(i), path+"."+f.Name); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return path + ": nil and empty slice"
		}
		fallthrough
	case reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: lengths %d and %d", path, a.Len(), b.Len())
		}
		for i := 0; i < a.Len(); i++ {
			if d := diffTree(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Map:
		if a.Len() != b.Len() {
			return path + ": map lengths differ"
		}
		for _, k := range a.MapKeys() {
			if d := diffTree(a.MapIndex(k), b.MapIndex(k), fmt.Sprintf("%s[%v]", path, k)); d != "" {
				return d
			}
		}
		return ""
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s: %q and %q", path, a.String(), b.String())
		}
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return path + ": bools differ"
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s: %d and %d", path, a.Int(), b.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s: %d and %d", path, a.Uint(), b.Uint())
		}
	case reflect.Func:
		if !a.IsNil() || !b.IsNil() {
			return path + ": func"
		}
	default:
		return path + ": cannot compare " + a.Kind().String()
	}
	return ""
}

func errText(err error) string {
	if el, ok := err.(ErrorList); ok {
		var b strings.Builder
		for _, e := range el {
			fmt.Fprintf(&b, "%s: %s | %s\n", e.Pos, e.Msg, e.Line)
		}
		return b.String()
	}
	return err.Error()
}

// checkReparse: ParseWith(src, Prev: prev) gives exactly ParseContext(src)
// (tree, positions, handles, keys, print, or the same errors), and leaves
// prev as pristine (an identical parse of prev's file) is.
func checkReparse(t *testing.T, label, name string, src []byte, prev, pristine *Ruleset) (*Ruleset, bool) {
	t.Helper()
	ctx := stdctx.Background()
	got, gerr := ParseWith(ctx, name, src, ParseOptions{Prev: prev})
	want, werr := ParseContext(ctx, name, src)
	if d := diffTree(reflect.ValueOf(prev), reflect.ValueOf(pristine), "prev"); d != "" {
		t.Fatalf("%s: ParseWith changed Prev: %s\n%s", label, d, src)
	}
	if (gerr != nil) != (werr != nil) {
		t.Fatalf("%s: ParseWith error %v, ParseContext error %v\n%s", label, gerr, werr, src)
	}
	if gerr != nil {
		if g, w := errText(gerr), errText(werr); g != w {
			t.Fatalf("%s: errors differ:\nParseWith:\n%s\nParseContext:\n%s\n%s", label, g, w, src)
		}
		return nil, false
	}
	if g, w := Print(got), Print(want); g != w {
		t.Fatalf("%s: prints differ:\n%s\n---\n%s", label, g, w)
	}
	if d := diffTree(reflect.ValueOf(got), reflect.ValueOf(want), "rs"); d != "" {
		t.Fatalf("%s: trees differ at %s\n%s", label, d, src)
	}
	return got, true
}

// ruleStartLines are the lines of file name where a rule of rs starts.
func ruleStartLines(rs *Ruleset, name string) []int {
	seen := map[int]bool{}
	var out []int
	for _, tb := range rs.Tables {
		for _, c := range tb.Chains {
			if c.Bound {
				continue
			}
			for _, r := range c.Rules {
				if r.Pos.File == name && !seen[r.Pos.Line] {
					seen[r.Pos.Line] = true
					out = append(out, r.Pos.Line-1)
				}
			}
		}
	}
	sort.Ints(out)
	return out
}

var digitRE = regexp.MustCompile(`[0-9]`)

// mutateDigit changes one digit of s (false when s has none).
func mutateDigit(r *rand.Rand, s string) (string, bool) {
	idx := digitRE.FindAllStringIndex(s, -1)
	if len(idx) == 0 {
		return s, false
	}
	i := idx[r.Intn(len(idx))][0]
	d := byte('0' + (int(s[i]-'0')+1+r.Intn(8))%10)
	return s[:i] + string(d) + s[i+1:], true
}

// edit makes one random edit of lines (rules: the lines rules start on).
func edit(r *rand.Rand, lines []string, rules []int) ([]string, string) {
	return editDepth(r, lines, rules, 0)
}

func editDepth(r *rand.Rand, lines []string, all []int, depth int) ([]string, string) {
	out := append([]string(nil), lines...)
	var rules []int // earlier edits may have moved lines: keep those inside
	for _, l := range all {
		if l < len(lines) {
			rules = append(rules, l)
		}
	}
	pick := func(xs []int) int { return xs[r.Intn(len(xs))] }
	var other []int // lines that hold no rule start
	isRule := map[int]bool{}
	for _, l := range rules {
		isRule[l] = true
	}
	for i := range lines {
		if !isRule[i] && digitRE.MatchString(lines[i]) {
			other = append(other, i)
		}
	}
	switch k := r.Intn(11); {
	case k == 0 && len(rules) > 0: // change a rule
		l := pick(rules)
		if s, ok := mutateDigit(r, out[l]); ok {
			out[l] = s
		} else {
			out[l] = lines[pick(rules)]
		}
		return out, "change rule"
	case k == 1 && len(rules) > 0: // insert a rule
		l := pick(rules)
		return append(out[:l], append([]string{lines[pick(rules)]}, out[l:]...)...), "insert rule"
	case k == 2 && len(rules) > 0: // delete one to three rules
		l := pick(rules)
		n := 1 + r.Intn(3)
		for i := 0; i < n && l < len(out) && isRule[l+i]; i++ {
			out = append(out[:l], out[l+1:]...)
		}
		return out, "delete rules"
	case k == 3 && len(rules) > 1: // move a rule
		a, b := pick(rules), pick(rules)
		s := out[a]
		out = append(out[:a], out[a+1:]...)
		if b > len(out) {
			b = len(out)
		}
		return append(out[:b], append([]string{s}, out[b:]...)...), "move rule"
	case k == 4 && len(other) > 0: // a declaration's number (elements, defines, priorities)
		l := pick(other)
		out[l], _ = mutateDigit(r, out[l])
		return out, "change declaration"
	case k == 5: // a chain header's policy
		for _, i := range r.Perm(len(out)) {
			if strings.Contains(out[i], "policy accept") {
				out[i] = strings.Replace(out[i], "policy accept", "policy drop", 1)
				return out, "change policy"
			}
			if strings.Contains(out[i], "policy drop") {
				out[i] = strings.Replace(out[i], "policy drop", "policy accept", 1)
				return out, "change policy"
			}
		}
	case k == 6: // a line inserted above (positions move)
		l := r.Intn(len(out) + 1)
		return append(out[:l], append([]string{"# moved"}, out[l:]...)...), "insert comment line"
	case k == 7 && len(rules) > 0: // text before a rule on its line (columns move)
		l := pick(rules)
		out[l] = "  " + out[l]
		return out, "indent rule"
	case k == 8: // a byte anywhere
		l := r.Intn(len(out))
		if s := out[l]; len(s) > 0 {
			i := r.Intn(len(s))
			if r.Intn(2) == 0 {
				out[l] = s[:i] + s[i+1:]
			} else {
				out[l] = s[:i] + string("x;{}$@ 1:"[r.Intn(9)]) + s[i:]
			}
		}
		return out, "byte"
	case k == 9 && len(rules) > 0: // a rule line duplicated in place
		l := pick(rules)
		return append(out[:l], append([]string{out[l]}, out[l:]...)...), "duplicate rule"
	}
	if depth > 0 {
		return out, "none"
	}
	for i := 0; i < 2+r.Intn(3); i++ { // several edits
		out, _ = editDepth(r, out, rules, depth+1)
	}
	return out, "several"
}

// reparseSources are the rulesets the reuse is checked on: the valid
// corpus, the acceptance corpus' rule files and its rule lines (gathered
// per family, chain and declarations into one file each), and generated
// ones.
func reparseSources(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, pat := range []string{"testdata/valid/*.nft", "testdata/acceptance/rulesets/*.nft"} {
		files, _ := filepath.Glob(pat)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(f, b); err == nil {
				out[f] = b
			}
		}
	}
	_, entries, err := acccorpus.Load(filepath.Join("testdata", "acceptance", "lines"))
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]*acccorpus.Entry{}
	var keys []string
	for _, e := range entries {
		if e.Nft != '+' {
			continue
		}
		if _, err := Parse("line.nft", []byte(e.Wrap())); err != nil {
			continue
		}
		k := e.Family + "|" + strings.Join(e.Chain[:], " ") + "|" + strings.Join(e.Decls, "\n")
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], e)
	}
	for i, k := range keys {
		g := groups[k]
		e := *g[0]
		var rules []string
		for _, x := range g {
			rules = append(rules, x.Rule)
		}
		e.Rule = strings.Join(rules, "\n\t\t")
		name := fmt.Sprintf("lines%03d.nft", i)
		if _, err := Parse(name, []byte(e.Wrap())); err == nil {
			out[name] = []byte(e.Wrap())
		}
	}
	gr := &gen{r: rand.New(rand.NewSource(7))}
	for i := 0; i < 40; i++ {
		out[fmt.Sprintf("gen%02d.nft", i)] = []byte(gr.table(fmt.Sprintf("t%d", i)))
	}
	out["memo.nft"] = memoFile(300, false, false)
	return out
}

// TestParseWithEquivalence: for random edits of every source, ParseWith
// with the old parse as Prev gives exactly what ParseContext gives.
func TestParseWithEquivalence(t *testing.T) {
	srcs := reparseSources(t)
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	r := rand.New(rand.NewSource(20))
	edits := 12
	if testing.Short() {
		edits = 3
	}
	kinds := map[string]int{}
	valid := 0
	for _, name := range names {
		src := srcs[name]
		prev, err := Parse(name, src)
		if err != nil {
			t.Fatal(err)
		}
		pristine, _ := Parse(name, src)
		lines := strings.Split(string(src), "\n")
		for i := 0; i < edits; i++ {
			nl, kind := edit(r, lines, ruleStartLines(prev, name))
			kinds[kind]++
			next := []byte(strings.Join(nl, "\n"))
			got, ok := checkReparse(t, name+" ("+kind+")", name, next, prev, pristine)
			if ok {
				valid++
				// and a reparse of that with no change
				again, _ := Parse(name, next)
				checkReparse(t, name+" (unchanged)", name, next, got, again)
			}
		}
	}
	t.Logf("%d sources, %d valid edits of %d; kinds %v", len(names), valid, len(names)*edits, kinds)
}

// TestParseWithErrors: edits that break the checks the file as a whole
// must pass give ParseContext's errors.
func TestParseWithErrors(t *testing.T) {
	// declarations after the rules: a changed one does not change the
	// rules' prefixes, so they are reused and must be checked again
	const head = "table ip t {\n chain a {\n  tcp dport 1 jump b\n }\n chain b {\n  tcp dport 2 accept\n  tcp dport 443 tls sni \"a.example\" accept\n }\n chain in {\n  type filter hook input priority 0;\n  jump a\n  ip saddr @s drop\n  meta mark set 1\n }\n set s { type ipv4_addr; elements = { 10.0.0.1 } }\n}\n"
	prev, err := Parse("e.nft", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	pristine, _ := Parse("e.nft", []byte(head))
	for _, c := range []struct{ old, new string }{
		{"tcp dport 2 accept", "tcp dport 2 jump a"},                                                    // a jump loop
		{"ip saddr @s drop", "ip saddr @x drop"},                                                        // a missing set
		{"type ipv4_addr;", "type ipv6_addr;"},                                                          // the set's type: the rule using it
		{"set s {", "map s { type ipv4_addr : verdict; }\n set x {"},                                    // a set become a map
		{"tcp dport 1 jump b", "tcp dport 1 jump c"},                                                    // a missing chain
		{"chain b {", "chain b {\n  type filter hook input priority 0;"},                                // a jump to a base chain
		{"type filter hook input priority 0;", "type filter hook postrouting priority 0;\n  reject"},    // a context
		{"type filter hook input priority 0;", "type nat hook postrouting priority 100;"},               // a context for the rules below
		{"chain a {", "chain x {\n  type nat hook postrouting priority 100;\n  jump b\n }\n chain a {"}, // a new context for b
	} {
		next := strings.Replace(head, c.old, c.new, 1)
		if _, ok := checkReparse(t, c.new, "e.nft", []byte(next), prev, pristine); ok {
			t.Errorf("%q: accepted", c.new)
		}
	}
}

// TestParseWithShares: ParseWith takes the statements of unchanged rules
// from Prev (the same pointers) and parses the changed ones, and those
// below an inserted line get copies at their new places.
func TestParseWithShares(t *testing.T) {
	ctx := stdctx.Background()
	old := memoFile(100, false, false)
	prev, err := Parse("r.nft", old)
	if err != nil {
		t.Fatal(err)
	}
	pr := prev.Tables[0].Chains[0].Rules
	for _, tc := range []struct {
		name           string
		change, insert bool
	}{{"change", true, false}, {"insert", false, true}} {
		rs, err := ParseWith(ctx, "r.nft", memoFile(100, tc.change, tc.insert), ParseOptions{Prev: prev})
		if err != nil {
			t.Fatal(err)
		}
		nr := rs.Tables[0].Chains[0].Rules
		for i, r := range nr {
			j := i
			if tc.insert && i > 50 {
				j = i - 1
			}
			shared := &r.Stmts[0] == &pr[j].Stmts[0]
			switch {
			case i == 50:
				if shared || r.reused {
					t.Errorf("%s: rule %d is new but was taken from Prev", tc.name, i)
				}
			case i < 50 || tc.change:
				if !shared || r.Key != pr[j].Key {
					t.Errorf("%s: rule %d does not share Prev's statements (or key)", tc.name, i)
				}
			default:
				if shared || !r.reused || r.Stmts[0].(*Match) == pr[j].Stmts[0].(*Match) || r.Key != pr[j].Key {
					t.Errorf("%s: rule %d moved: want a copy of Prev's statements with the same key", tc.name, i)
				}
				if r.Pos.Line != pr[j].Pos.Line+1 || r.Stmts[1].StmtPos().Line != r.Pos.Line {
					t.Errorf("%s: rule %d at %v, statement at %v", tc.name, i, r.Pos, r.Stmts[1].StmtPos())
				}
			}
		}
	}
}

// TestParseWithFields: statements holding dynamic fields that a reparse
// takes from Prev keep their fields when Prev is gone.
func TestParseWithFields(t *testing.T) {
	ctx := stdctx.Background()
	src := func(p int) []byte {
		return []byte(fmt.Sprintf("table inet t {\n chain c {\n  type filter hook input priority 0;\n  @th,123,11 %d accept\n  @th,321,13 5 drop\n }\n}\n", p))
	}
	prev, err := Parse("f.nft", src(1))
	if err != nil {
		t.Fatal(err)
	}
	f := prev.Tables[0].Chains[0].Rules[1].Stmts[0].(*Match).Keys[0]
	info := *f.Info()
	rs, err := ParseWith(ctx, "f.nft", src(2), ParseOptions{Prev: prev})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Tables[0].Chains[0].Rules[1].Stmts[0] != prev.Tables[0].Chains[0].Rules[1].Stmts[0] {
		t.Fatal("the unchanged rule was not reused")
	}
	prev = nil
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	// Fill the table's freed slots: a field rs still holds must keep its slot.
	var keep []*Ruleset
	for g := 0; g < 3; g++ {
		var b strings.Builder
		b.WriteString("table inet u {\n chain c {\n")
		for i := 0; i < 300; i++ {
			fmt.Fprintf(&b, "  @th,%d,7 1 accept\n", 1000+g*300+i)
		}
		b.WriteString(" }\n}\n")
		x, err := Parse("g.nft", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, x)
	}
	if got := *rs.Tables[0].Chains[0].Rules[1].Stmts[0].(*Match).Keys[0].Info(); got != info {
		t.Fatalf("a reused rule's field changed under it: %+v, was %+v", got, info)
	}
	runtime.KeepAlive(keep)
	runtime.KeepAlive(rs)
}

// TestParserKeysMatchReference: on every source, and across each source
// and its edits, equal parser keys mean equal ReferenceKeys (never the
// other way round is needed: the parser's keys may be finer).
func TestParserKeysMatchReference(t *testing.T) {
	srcs := reparseSources(t)
	r := rand.New(rand.NewSource(3))
	finer, pairs := 0, 0
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		src := srcs[name]
		var pk, rk []RuleKey
		var texts []string
		collect := func(b []byte) bool {
			rs, err := Parse(name, b)
			if err != nil {
				return false
			}
			var keys []RuleKey
			for _, tb := range rs.Tables {
				for _, c := range tb.Chains {
					for _, x := range c.Rules {
						keys = append(keys, x.Key)
						texts = append(texts, FormatRule(x))
					}
				}
			}
			ReferenceKeys(rs)
			i := 0
			for _, tb := range rs.Tables {
				for _, c := range tb.Chains {
					for _, x := range c.Rules {
						if keys[i].IsZero() != x.Key.IsZero() {
							t.Errorf("%s: rule %q: parser key %v, reference key %v", name, texts[len(texts)-len(keys)+i], keys[i], x.Key)
						}
						pk, rk = append(pk, keys[i]), append(rk, x.Key)
						i++
					}
				}
			}
			return true
		}
		collect(src)
		prev, _ := Parse(name, src)
		lines := strings.Split(string(src), "\n")
		for i := 0; i < 4; i++ {
			nl, _ := edit(r, lines, ruleStartLines(prev, name))
			collect([]byte(strings.Join(nl, "\n")))
		}
		byParser := map[RuleKey]RuleKey{}
		byRef := map[RuleKey]map[RuleKey]bool{}
		for i := range pk {
			if pk[i].IsZero() {
				continue
			}
			if ref, ok := byParser[pk[i]]; ok && ref != rk[i] {
				t.Errorf("%s: rule %q has the parser key of a rule with another reference key", name, texts[i])
			}
			byParser[pk[i]] = rk[i]
			if byRef[rk[i]] == nil {
				byRef[rk[i]] = map[RuleKey]bool{}
			}
			byRef[rk[i]][pk[i]] = true
		}
		for _, ps := range byRef {
			pairs++
			if len(ps) > 1 {
				finer++
			}
		}
	}
	t.Logf("%d reference keys, %d of them split into several parser keys (finer: whitespace, other blocks, add/insert)", pairs, finer)
}

// TestParserKeysWithinBlock: equal rules of one chain block share a key,
// other text or another block gives another key, a rule change changes
// its key only, a declaration change every key.
func TestParserKeysWithinBlock(t *testing.T) {
	keys := func(src string) []RuleKey {
		rs, err := Parse("k.nft", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		var out []RuleKey
		for _, c := range rs.Tables[0].Chains {
			for _, r := range c.Rules {
				out = append(out, r.Key)
			}
		}
		return out
	}
	const head = "table ip t {\n set s { type ipv4_addr; elements = { 10.0.0.1 } }\n chain c {\n type filter hook input priority 0;\n"
	a := keys(head + "  tcp dport 22 accept\n  ip saddr @s drop\n  tcp dport 22 accept\n }\n}\n")
	b := keys(head + "  tcp dport 23 accept\n  ip saddr @s drop\n  tcp dport 22 accept\n }\n}\n")
	c := keys(strings.Replace(head, "10.0.0.1", "10.0.0.2", 1) + "  tcp dport 22 accept\n  ip saddr @s drop\n  tcp dport 22 accept\n }\n}\n")
	d := keys(head + "  # a comment\n\n  tcp dport 22 accept;  ip saddr @s drop\n  tcp dport 22 accept\n }\n}\n")
	if a[0] != a[2] || a[0].IsZero() || a[0] == a[1] {
		t.Errorf("equal rules of a block: %v", a)
	}
	if a[0] == b[0] || a[1] != b[1] || a[2] != b[2] {
		t.Errorf("a rule edit changes its key only: %v %v", a, b)
	}
	if c[0] == a[0] || c[1] == a[1] {
		t.Errorf("an element change changes every key: %v %v", a, c)
	}
	if d[0] != a[0] || d[1] != a[1] || d[2] != a[2] {
		t.Errorf("comments, blank lines and separators between rules change no key: %v %v", a, d)
	}
}

// FuzzParseWith: for any two inputs a and b, ParseWith(b) with a's parse
// as Prev gives ParseContext(b).
func FuzzParseWith(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.nft"))
		r := rand.New(rand.NewSource(5))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil || len(b) >= 8192 {
				continue
			}
			rs, err := Parse("fuzz.nft", b)
			lines := strings.Split(string(b), "\n")
			var rules []int
			if err == nil {
				rules = ruleStartLines(rs, "fuzz.nft")
			}
			e, _ := edit(r, lines, rules)
			f.Add(b, []byte(strings.Join(e, "\n")))
		}
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) > 1<<14 || len(b) > 1<<14 {
			return
		}
		prev, err := Parse("fuzz.nft", a)
		if err != nil {
			return
		}
		pristine, _ := Parse("fuzz.nft", a)
		checkReparse(t, "fuzz.nft", "fuzz.nft", b, prev, pristine)
	})
}

// TestParseWithDefines: a rule expanding a define takes the define's
// token positions into its statements; when the define moves (a rule
// inserted above it in the same block) and the rule does not change, the
// rule is parsed again rather than reused with stale positions.
func TestParseWithDefines(t *testing.T) {
	const old = "table ip t {\n chain c {\n  tcp dport 1 accept\n  define p = 22\n  tcp dport $p accept\n  define q = { 80, 443 }\n  tcp dport $q ip saddr 10.0.0.1 drop\n }\n}\n"
	prev, err := Parse("d.nft", []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	pristine, _ := Parse("d.nft", []byte(old))
	for _, next := range []string{
		strings.Replace(old, "  tcp dport 1 accept\n", "  tcp dport 0 accept\n  tcp dport 1 accept\n", 1),
		strings.Replace(old, "  tcp dport 1 accept\n", "", 1),
		strings.Replace(old, "define p = 22", "define p =  22", 1),
		strings.Replace(old, "define p = 22", "define p = 23", 1),
		strings.Replace(old, "tcp dport $p accept", "tcp dport $p  accept", 1),
	} {
		checkReparse(t, next, "d.nft", []byte(next), prev, pristine)
	}
}

// TestParseWithUncheckedPrev: a rule Prev parsed but never checked (its
// chain flushed) is taken from Prev unmerged: the reparse merges a copy
// and checks it in full.
func TestParseWithUncheckedPrev(t *testing.T) {
	const rule = "table ip t {\n chain c {\n  type filter hook input priority 0;\n  tcp sport 22 tcp dport 80 accept\n  ip saddr @s drop\n }\n}\n"
	old := rule + "flush chain ip t c\ntable ip t { set s { type ipv4_addr; } }\n"
	prev, err := Parse("u.nft", []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	pristine, _ := Parse("u.nft", []byte(old))
	for _, next := range []string{
		rule + "\ntable ip t { set s { type ipv4_addr; } }\n", // merged, checked
		rule + "\ntable ip t { set s { type ipv6_addr; } }\n", // and refused
	} {
		rs, _ := checkReparse(t, next, "u.nft", []byte(next), prev, pristine)
		if rs != nil && !rs.Tables[0].Chains[0].Rules[0].shared {
			t.Error("the flushed rule was not taken from Prev")
		}
	}
}

// TestParseWithFreshStrings: a rule a reparse parses itself (few of them)
// holds copies of its strings, not substrings of the file, so that
// reusing it later does not keep this reload's whole file in memory.
func TestParseWithFreshStrings(t *testing.T) {
	mk := func(c string) []byte {
		var b strings.Builder
		b.WriteString("table ip tname {\n chain c {\n  type filter hook input priority 0;\n")
		for i := 0; i < 20; i++ {
			fmt.Fprintf(&b, "  tcp dport %d accept\n", i+1)
		}
		fmt.Fprintf(&b, "  tcp dport 99 log prefix %q accept comment %q\n }\n}\n", c, c)
		return []byte(b.String())
	}
	prev, err := Parse("s.nft", mk("old"))
	if err != nil {
		t.Fatal(err)
	}
	src := mk("new")
	rs, err := ParseWith(stdctx.Background(), "s.nft", src, ParseOptions{Prev: prev})
	if err != nil {
		t.Fatal(err)
	}
	name := rs.Tables[0].Name
	base := uintptr(unsafe.Pointer(unsafe.StringData(name))) - uintptr(strings.Index(string(src), "tname"))
	inSource := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= base && p < base+uintptr(len(src))
	}
	if !inSource(name) {
		t.Fatal("the table's name is not a substring of the file")
	}
	r := rs.Tables[0].Chains[0].Rules[20]
	if r.shared || r.Comment != "new" {
		t.Fatalf("rule 20 %q shared %v", r.Comment, r.shared)
	}
	if inSource(r.Comment) || inSource(r.src.text) || inSource(r.Stmts[1].(*Log).Prefix) {
		t.Error("the re-parsed rule keeps substrings of the file")
	}
}

// TestParseWithPackedPrev: the daemon parses with packed sets and packs
// the rest of its sets once compiled (Ruleset.PackSets), then re-parses
// with that ruleset as Prev: the result is still a fresh parse's.
func TestParseWithPackedPrev(t *testing.T) {
	srcs := reparseSources(t)
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	r := rand.New(rand.NewSource(21))
	ctx := WithPackedSets(stdctx.Background())
	valid := 0
	for _, name := range names {
		src := srcs[name]
		prev, err := ParseContext(ctx, name, src)
		if err != nil {
			t.Fatal(err)
		}
		prev.PackSets()
		lines := strings.Split(string(src), "\n")
		for i := 0; i < 4; i++ {
			nl, kind := edit(r, lines, ruleStartLines(prev, name))
			next := []byte(strings.Join(nl, "\n"))
			got, gerr := ParseWith(ctx, name, next, ParseOptions{Prev: prev})
			want, werr := ParseContext(ctx, name, next)
			if (gerr != nil) != (werr != nil) || gerr != nil && errText(gerr) != errText(werr) {
				t.Fatalf("%s (%s): ParseWith error %v, ParseContext error %v", name, kind, gerr, werr)
			}
			if gerr != nil {
				continue
			}
			valid++
			if g, w := Print(got), Print(want); g != w {
				t.Fatalf("%s (%s): prints differ:\n%s\n---\n%s", name, kind, g, w)
			}
			if d := diffTree(reflect.ValueOf(got), reflect.ValueOf(want), "rs"); d != "" {
				t.Fatalf("%s (%s): trees differ at %s", name, kind, d)
			}
		}
	}
	if valid < 100 {
		t.Fatalf("only %d valid edits", valid)
	}
	t.Logf("%d valid edits against packed Prevs", valid)
}
