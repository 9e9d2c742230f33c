package rules

import (
	"fmt"
	"testing"

	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/parser"
)

// scaleFile is the scale benchmarks' ruleset (rulegen.ScaleChain).
func scaleFile(n int, changed bool) string { return rulegen.ScaleChain(n, changed) }

func parseKeyed(tb testing.TB, src string) *parser.Ruleset {
	tb.Helper()
	rs, err := parser.Parse("r.nft", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	parser.ReferenceKeys(rs)
	return rs
}

func parseNoKeys(tb testing.TB, src string) *parser.Ruleset {
	tb.Helper()
	rs, err := parser.Parse("r.nft", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// BenchmarkCompileReuse compiles the scale ruleset with one rule changed
// from scratch (scratch), and with the engine of the unchanged ruleset as
// Prev (reuse: successive one-rule reloads); keys come from parser.ReferenceKeys, made outside the
// timed loop. nokeys is a compile with Prev of rules without keys (the
// daemon before the parser gives keys): rules pair by printed text.
func BenchmarkCompileReuse(b *testing.B) {
	for _, n := range []int{1000, 10_000, 100_000} {
		if n == 100_000 || testing.Short() {
			// Without keys (the texts of the previous engine printed
			// at its compile, as every load did before keys).
			old, cur := parseNoKeys(b, scaleFile(n, false)), parseNoKeys(b, scaleFile(n, true))
			prev, err := Compile(old, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("rules=%d/nokeys", n), func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if _, err := Compile(cur, Options{Prev: prev}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		old, cur := parseKeyed(b, scaleFile(n, false)), parseKeyed(b, scaleFile(n, true))
		prev, err := Compile(old, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rules=%d/scratch", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := Compile(cur, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		next, other := cur, old // prev is old's engine
		b.Run(fmt.Sprintf("rules=%d/reuse", n), func(b *testing.B) {
			// Successive reloads, each from the engine before it, the
			// file going back and forth between the two versions.
			b.ReportAllocs()
			for range b.N {
				e, err := Compile(next, Options{Prev: prev})
				if err != nil {
					b.Fatal(err)
				}
				if st := e.Reuse(); st.Reused != n-1 || st.SharedInfo != n-1 {
					b.Fatalf("reuse %+v", st)
				}
				prev, next, other = e, other, next
			}
		})
	}
}
