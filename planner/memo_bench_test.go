package planner

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/parser"
)

// memoBenchFile is the scale benchmarks' ruleset (rulegen.ScaleChain).
func memoBenchFile(n int, changed bool) string { return rulegen.ScaleChain(n, changed) }

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
