package kernel

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
)

// scaleRules writes n rules `ip saddr A tcp dport P counter drop` spread
// over chains regular chains jumped to from one base chain (chains <= 1:
// all in the base chain), with a layer-7 rule in the middle of the base
// chain when l7 is set (so hoisting and bypass analysis run).
func scaleRules(n, chains int, l7 bool) string {
	var b strings.Builder
	b.WriteString("table inet t {\n")
	per := n
	if chains > 1 {
		per = n / chains
		for c := 0; c < chains; c++ {
			fmt.Fprintf(&b, "  chain c%d {\n", c)
			for i := 0; i < per; i++ {
				k := c*per + i
				fmt.Fprintf(&b, "    ip saddr 10.%d.%d.%d tcp dport %d counter drop\n", k>>16&255, k>>8&255, k&255, 1+k%60000)
			}
			b.WriteString("  }\n")
		}
	}
	b.WriteString("  chain input {\n    type filter hook input priority 0; policy accept;\n")
	if chains > 1 {
		for c := 0; c < chains; c++ {
			fmt.Fprintf(&b, "    ip daddr 192.168.%d.%d jump c%d\n", c>>8&255, c&255, c)
		}
	} else {
		for i := 0; i < n; i++ {
			if l7 && i == n/2 {
				b.WriteString("    tcp dport 443 tls sni \"example.com\" drop\n")
			}
			fmt.Fprintf(&b, "    ip saddr 10.%d.%d.%d tcp dport %d counter drop\n", i>>16&255, i>>8&255, i&255, 1+i%60000)
		}
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

func benchScale(b *testing.B, n, chains int, l7 bool, phase string) {
	src := []byte(scaleRules(n, chains, l7))
	rs, err := parser.Parse("bench.nft", src)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		switch phase {
		case "parse":
			if _, err := parser.Parse("bench.nft", src); err != nil {
				b.Fatal(err)
			}
		case "compile":
			if _, err := rules.Compile(rs, rules.Options{KernelOnly: planner.KernelOnlyTest()}); err != nil {
				b.Fatal(err)
			}
		case "plan":
			if _, _, err := planner.PlanRuleset(rs, planner.OffloadAuto); err != nil {
				b.Fatal(err)
			}
		case "print":
			_ = parser.Print(rs)
		case "lint":
			_ = parser.Lint(rs)
		case "batch":
			plans, _, err := planner.PlanRuleset(rs, planner.OffloadAuto)
			if err != nil {
				b.Fatal(err)
			}
			bt := newBatchFor(plans)
			if _, _, err := bt.Messages(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/rule")
}

// BenchmarkScale runs each pass from file to batch at 10^3, 10^4 and 10^5
// rules: ns/rule should stay flat (linear growth).
func BenchmarkScale(b *testing.B) {
	for _, phase := range []string{"parse", "lint", "compile", "plan", "print", "batch"} {
		for _, shape := range []struct {
			name   string
			chains int
			l7     bool
		}{{"onechain", 1, false}, {"hoist", 1, true}, {"chains", 1000, false}} {
			for _, n := range []int{1000, 10000, 100000} {
				b.Run(fmt.Sprintf("%s/%s/%d", phase, shape.name, n), func(b *testing.B) { benchScale(b, n, shape.chains, shape.l7, phase) })
			}
		}
	}
}
