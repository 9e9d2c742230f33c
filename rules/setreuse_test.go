package rules

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
)

func reuseSrc(addrs []string) string {
	return "table ip t {\n set s {\n type ipv4_addr\n elements = { " + strings.Join(addrs, ", ") + " }\n }\n" +
		" chain c {\n type filter hook input priority 0; policy accept;\n ip saddr @s counter drop\n }\n}\n"
}

func reuseAddrs(n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	return a
}

// TestReusedSetMatchesNewSet: a set patched from the previous engine's is
// the set newSet builds, and the patch is refused where it would not be.
func TestReusedSetMatchesNewSet(t *testing.T) {
	base := reuseAddrs(4096)
	rs0, err := parser.Parse("old.nft", []byte(reuseSrc(base)))
	if err != nil {
		t.Fatal(err)
	}
	prev, err := Compile(rs0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(a []string) []string) []string { return f(append([]string(nil), base...)) }
	cases := []reuseCase{
		{"same", base, true},
		{"one changed", edit(func(a []string) []string { a[2000] = "192.0.2.1"; return a }), true},
		{"two swapped", edit(func(a []string) []string { a[1], a[3000] = a[3000], a[1]; return a }), true},
		{"changed to a key held at another index", edit(func(a []string) []string { a[5] = a[6]; return a }), false},
		{"changed to the key removed by another change", edit(func(a []string) []string { a[5], a[7] = "192.0.2.9", a[5]; return a }), true},
		{"one removed", edit(func(a []string) []string { return append(a[:10], a[11:]...) }), false},
		{"one added", edit(func(a []string) []string { return append(a, "192.0.2.1") }), false},
		{"half changed", edit(func(a []string) []string {
			for i := 0; i < len(a)/2; i++ {
				a[i] = fmt.Sprintf("172.16.%d.%d", i>>8, i&255)
			}
			return a
		}), false},
	}
	// The running daemon keeps its ruleset's elements packed
	// (parser.Ruleset.PackSets): the cases again against a packed one.
	for _, packed := range []bool{false, true} {
		if packed {
			rs0.PackSets()
			if s := rs0.Tables[0].Sets[0]; s.Elems != nil || s.Packed == nil {
				t.Fatal("PackSets left the elements unpacked")
			}
		}
		testReusedSetCases(t, prev, cases, false)
	}
	// A daemon's parse packs the sets: their keyTables are patched.
	pctx := parser.WithPackedSets(context.Background())
	prs0, err := parser.ParseContext(pctx, "old.nft", []byte(reuseSrc(base)))
	if err != nil {
		t.Fatal(err)
	}
	pprev, err := Compile(prs0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pprev.sets[prs0.Tables[0].Sets[0]].ktab == nil {
		t.Fatal("the packed set has no keyTable")
	}
	testReusedSetCases(t, pprev, cases, true)
}

type reuseCase = struct {
	name  string
	addrs []string
	reuse bool
}

func testReusedSetCases(t *testing.T, prev *Engine, cases []reuseCase, packed bool) {
	t.Helper()
	for _, c := range cases {
		ctx := context.Background()
		if packed {
			ctx = parser.WithPackedSets(ctx)
		}
		rs, err := parser.ParseContext(ctx, "new.nft", []byte(reuseSrc(c.addrs)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tb := rs.Tables[0]
		ps := tb.Sets[0]
		got := reusedSet(prev, tb, ps)
		if (got != nil) != c.reuse {
			t.Fatalf("%s: reused = %v, want %v", c.name, got != nil, c.reuse)
		}
		want := newSet(ps.Name, ps.Key, ps.Elems)
		if packed {
			want = newSet(ps.Name, ps.Key, ps.Packed.Unpack())
			if got != nil && got.ktab == nil {
				t.Fatalf("%s: a packed set reused without its keyTable", c.name)
			}
		}
		if got != nil && (!maps.Equal(exactOf(got), want.exact) || got.size != want.size || got.name != want.name || len(got.ivals) != 0) {
			t.Fatalf("%s: patched set differs from a new one", c.name)
		}
		// Compile with the previous engine gives the same lookups.
		e, err := Compile(rs, Options{Prev: prev})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(exactOf(e.sets[ps]), want.exact) {
			t.Fatalf("%s: compiled set differs from a new one", c.name)
		}
	}
}
