package planner

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/parser"
)

// fixpointNative is the definition nativeChains computes: start from every
// regular chain native and re-translate until nothing changes (quadratic
// in chains; the planner's loop before nativeChains).
func fixpointNative(t *parser.Table, kt *nftables.Table) map[string]bool {
	native := map[string]bool{}
	for _, c := range t.Chains {
		if c.Base == nil {
			native[c.Name] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, c := range t.Chains {
			if c.Base != nil || !native[c.Name] {
				continue
			}
			tr := &translator{t: t, kt: kt, sets: map[string]*nftables.Set{}, native: native}
			for _, r := range c.Rules {
				if _, err := tr.rule(r); err != nil {
					native[c.Name] = false
					changed = true
					break
				}
			}
		}
	}
	return native
}

// TestNativeChainsFixpoint compares nativeChains with the fixpoint on
// random jump graphs (shared targets, vmaps, chains only nfd can run deep in a
// chain of jumps).
func TestNativeChainsFixpoint(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for iter := 0; iter < 200; iter++ {
		n := 2 + rng.Intn(12)
		var b strings.Builder
		b.WriteString("table inet t {\n\tchain in { type filter hook input priority 0; policy accept; jump c0; }\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "\tchain c%d {\n", i)
			// Jumps go to later chains only: the parser refuses loops.
			tgt := func() int { return i + 1 + rng.Intn(n-1-i) }
			for r := 0; r < 1+rng.Intn(3); r++ {
				k := rng.Intn(10)
				if i == n-1 && k < 5 {
					k = 9
				}
				switch {
				case k < 4:
					fmt.Fprintf(&b, "\t\ttcp dport %d jump c%d\n", 1+r, tgt())
				case k < 5:
					fmt.Fprintf(&b, "\t\ttcp dport vmap { %d : goto c%d, %d : jump c%d }\n", 10+r, tgt(), 20+r, tgt())
				case k < 6:
					b.WriteString("\t\ttls sni \"x.example\" accept\n")
				default:
					fmt.Fprintf(&b, "\t\tip saddr 10.0.0.%d counter drop\n", r)
				}
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n")
		rs, err := parser.Parse("t.nft", []byte(b.String()))
		if err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		tb := rs.Tables[0]
		kt := &nftables.Table{Name: KernelTableName(tb.Name), Family: TableFamily(tb.Family)}
		want := fixpointNative(tb, kt)
		got := nativeChains(tb, kt, factsOf(tb), nil, nil)
		for c, w := range want {
			if got[c] != w {
				t.Fatalf("chain %s: native %v, the fixpoint says %v\n%s", c, got[c], w, b.String())
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d chains, the fixpoint has %d", len(got), len(want))
		}
	}
}
