package rules

import (
	"context"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// packedSetsCorpus are rulesets with named sets of every kind, and one
// large set of plain values with a set timeout and counter.
func packedSetsCorpus(t *testing.T) map[string][]byte {
	out := map[string][]byte{}
	for _, g := range []string{"../parser/testdata/valid/*.nft", "../parser/testdata/acceptance/rulesets/*.nft", "../cmd/nfd/testdata/equiv/*.nft"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[f] = src
		}
	}
	out["timeouts"] = []byte(`table inet t {
	set s { type ipv4_addr; flags timeout; timeout 1h; counter; elements = { 10.0.0.1, 10.0.0.2, 10.0.0.1 } }
	set p { type inet_service; elements = { 22, 80, 443 } }
	set q { type ipv6_addr; elements = { ::1, 2001:db8::1 } }
	set r { type ipv4_addr; flags timeout; elements = { 10.0.0.1, 10.0.0.2 timeout 1m } }
	set u { type ipv4_addr; flags interval; elements = { 10.0.0.1, 10.0.0.2 } }
	chain c { type filter hook input priority 0; ip saddr @s drop; tcp dport @p drop; ip6 saddr @q drop; ip saddr @r drop; ip saddr @u drop; }
}
add element inet t p { 8080 }
`)
	return out
}

// The engine compiles a ruleset whose sets the parse packed
// (parser.WithPackedSets) to the same sets as from the parsed lists.
func TestPackedParseCompilesTheSame(t *testing.T) {
	now := func() int64 { return 1e18 }
	packed := 0
	for name, src := range packedSetsCorpus(t) {
		rs, err := parser.Parse(name, src)
		if err != nil {
			if name == "timeouts" {
				t.Fatal(err)
			}
			continue
		}
		prs, err := parser.ParseContext(parser.WithPackedSets(context.Background()), name, src)
		if err != nil {
			t.Fatalf("%s: parses as lists but not packed: %v", name, err)
		}
		if a, b := parser.Print(rs), parser.Print(prs); a != b {
			t.Fatalf("%s: packed parse prints\n%s\nwant\n%s", name, b, a)
		}
		e, err := Compile(rs, Options{Now: now})
		pe, perr := Compile(prs, Options{Now: now})
		if (err == nil) != (perr == nil) {
			t.Fatalf("%s: compile %v, packed %v", name, err, perr)
		}
		if err != nil {
			continue
		}
		for ti, tb := range rs.Tables {
			for si, s := range tb.Sets {
				ps := prs.Tables[ti].Sets[si]
				if ps.Packed != nil {
					packed++
				}
				a, b := e.sets[s], pe.sets[ps]
				if !maps.Equal(exactOf(a), exactOf(b)) || (b.ktab != nil) != (ps.Packed != nil) || !slices.Equal(a.ivals, b.ivals) || !maps.Equal(a.cexact, b.cexact) ||
					len(a.clin) != len(b.clin) || !maps.Equal(a.hexact, b.hexact) || !maps.Equal(a.hsuffix, b.hsuffix) ||
					len(a.verdicts) != len(b.verdicts) || a.catchAll != b.catchAll || a.size != b.size ||
					!slices.Equal(a.deadline, b.deadline) || len(a.ctrs) != len(b.ctrs) {
					t.Fatalf("%s: set %s compiles differently packed", name, s.Name)
				}
			}
		}
	}
	t.Logf("%d sets packed at parse", packed)
	prs, err := parser.ParseContext(parser.WithPackedSets(context.Background()), "timeouts", packedSetsCorpus(t)["timeouts"])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range prs.Tables[0].Sets {
		// s and q are plain; r has an option, u is an interval set and p
		// has an element added by a command: lists.
		if want := s.Name == "s" || s.Name == "q"; (s.Packed != nil) != want {
			t.Errorf("set %s: packed %v, want %v", s.Name, s.Packed != nil, want)
		}
	}
	if packed < 5 {
		t.Fatalf("only %d sets packed at parse", packed)
	}
}

// exactOf is a set's exact keys and their elements, from its map or its
// keyTable.
func exactOf(s *set) map[key128]int32 {
	if s.ktab == nil {
		return s.exact
	}
	m := map[key128]int32{}
	s.ktab.each(func(k key128, i int32) { m[k] = i })
	return m
}

// keyTable against a map: inserts (first of equal keys kept), removals
// (backward shifts across the table's end too), lookups.
func TestKeyTableMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 50; round++ {
		n := 1 + r.IntN(3000)
		buf := make([]byte, 0, 4*n)
		for i := 0; i < n; i++ {
			buf = binary.BigEndian.AppendUint32(buf, uint32(r.IntN(2*n)))
		}
		els := make([]parser.Elem, n)
		for i := range els {
			els[i].Lo = buf[4*i : 4*i+4]
			els[i].Hi = els[i].Lo
		}
		p, _ := parser.PackElems(els)
		kt := newKeyTable(p)
		want := newSet("", []*parser.Type{parser.TypeIPv4}, els).exact
		if !maps.Equal(exactOf(&set{ktab: kt}), want) || kt.n != len(want) {
			t.Fatalf("round %d: keyTable holds other keys than newSet", round)
		}
		for k := range want {
			if r.IntN(3) == 0 {
				kt.remove(k)
				delete(want, k)
			}
		}
		kt.remove(key128{lo: 1 << 40}) // absent
		for k, i := range want {
			if j, ok := kt.find(k); !ok || j != i {
				t.Fatalf("round %d: find(%v) = %d, %v, want %d", round, k, j, ok, i)
			}
		}
		if !maps.Equal(exactOf(&set{ktab: kt}), want) || kt.n != len(want) {
			t.Fatalf("round %d: keyTable after removals holds other keys", round)
		}
		for i := 0; i < 2*n; i++ {
			k := key128{lo: uint64(i)}
			_, ok := kt.find(k)
			if _, in := want[k]; ok != in {
				t.Fatalf("round %d: find(%d) = %v, want %v", round, i, ok, in)
			}
		}
	}
}

// A lookup into a packed set's keyTable allocates nothing.
func TestKeyTableLookupAllocs(t *testing.T) {
	prs, err := parser.ParseContext(parser.WithPackedSets(context.Background()), "t.nft", []byte(reuseSrc(reuseAddrs(5000))))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(prs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := e.sets[prs.Tables[0].Sets[0]]
	if s.ktab == nil {
		t.Fatal("no keyTable")
	}
	hit, miss := keyOf([]byte{10, 0, 19, 135}), keyOf([]byte{192, 0, 2, 1})
	if a := testing.AllocsPerRun(1000, func() {
		if _, ok := s.lookup(hit); !ok {
			t.Fatal("miss")
		}
		if _, ok := s.lookup(miss); ok {
			t.Fatal("hit")
		}
	}); a != 0 {
		t.Fatalf("%v allocations a lookup", a)
	}
}
