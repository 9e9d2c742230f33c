package planner

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/parser"
)

// memoBenchFile is MEMO.md's generated file: n rules `ip saddr A tcp
// dport P counter drop` in one base chain; changed moves rule n/2's port.
func memoBenchFile(n int, changed bool) string {
	var b strings.Builder
	b.WriteString("table ip t {\n  chain input {\n    type filter hook input priority 0; policy accept;\n")
	for i := 0; i < n; i++ {
		p := 1 + i%60000
		if changed && i == n/2 {
			p = 65000
		}
		fmt.Fprintf(&b, "    ip saddr 10.%d.%d.%d tcp dport %d counter drop\n", i/65536%256, i/256%256, i%256, p)
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

func memoBenchRulesets(b *testing.B, n int) (old, new *parser.Ruleset) {
	b.Helper()
	for _, ch := range []bool{false, true} {
		rs, err := parser.Parse("bench.nft", []byte(memoBenchFile(n, ch)))
		if err != nil {
			b.Fatal(err)
		}
		parser.ReferenceKeys(rs)
		if ch {
			new = rs
		} else {
			old = rs
		}
	}
	return old, new
}

// BenchmarkPlanReuse: the plan of a ruleset with one rule changed, from
// scratch and with the previous plan (keys from parser.ReferenceKeys,
// outside the timed region). kernel.BenchmarkDiffKeys is the diff's
// share.
func BenchmarkPlanReuse(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		old, new := memoBenchRulesets(b, n)
		prev, _, err := PlanRuleset(old, OffloadAuto)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rules=%d/scratch", n), func(b *testing.B) {
			defer cpuMetric(b)()
			for i := 0; i < b.N; i++ {
				if _, _, err := PlanRuleset(new, OffloadAuto); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("rules=%d/reuse", n), func(b *testing.B) {
			defer cpuMetric(b)()
			for i := 0; i < b.N; i++ {
				plans, _, err := PlanRulesetWith(new, OffloadAuto, PlanOptions{Prev: prev})
				if err != nil {
					b.Fatal(err)
				}
				if r, tr := ReuseStats(plans); r != n-1 || tr != 1 {
					b.Fatalf("reused %d, translated %d", r, tr)
				}
			}
		})
	}
}

// cpuMetric reports the process's CPU time per op (cpu-ns/op), GC
// included: on a shared machine a steadier figure than the wall clock.
func cpuMetric(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}
