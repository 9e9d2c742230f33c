package kernel

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// keyBenchPlans plans MEMO.md's generated file of n rules (one base
// chain) and the same with rule n/2's port moved, the second with the
// first's translations (keys from parser.ReferenceKeys).
func keyBenchPlans(b *testing.B, n int) (old *wantTable, plan func() *wantTable) {
	b.Helper()
	src := func(changed bool) *parser.Ruleset {
		rs, err := parser.Parse("bench.nft", []byte(rulegen.ScaleChain(n, changed)))
		if err != nil {
			b.Fatal(err)
		}
		parser.ReferenceKeys(rs)
		return rs
	}
	oldRS, newRS := src(false), src(true)
	oldPlans, _, err := planner.PlanRulesetWith(oldRS, planner.OffloadAuto, planner.PlanOptions{})
	if err != nil {
		b.Fatal(err)
	}
	old = desired(QueueCompat, oldPlans[0])
	return old, func() *wantTable {
		plans, _, err := planner.PlanRulesetWith(newRS, planner.OffloadAuto, planner.PlanOptions{Prev: oldPlans})
		if err != nil {
			b.Fatal(err)
		}
		return desired(QueueCompat, plans[0])
	}
}

// BenchmarkDiffKeys: the keys a diff computes for both sides of a chain
// with one rule changed, every rule hashed (as before the planner
// carried keys) and with the keys cached on reused translations (the
// old side keyed by the previous diff).
func BenchmarkDiffKeys(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		old, plan := keyBenchPlans(b, n)
		b.Run(fmt.Sprintf("rules=%d/hash-all", n), func(b *testing.B) {
			nw := plan()
			runtime.GC()
			start := cpuNow(b)
			defer func() { b.ReportMetric(float64(cpuNow(b)-start)/float64(b.N), "cpu-ns/op") }()
			for i := 0; i < b.N; i++ {
				for _, wt := range []*wantTable{old, nw} {
					k := newKeyer(wt)
					for _, wc := range wt.chains {
						for j := range wc.rules {
							if _, err := k.key(wc.rules[j].exprs); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
			}
		})
		for _, wc := range old.chains {
			if _, err := chainKeys(newKeyer(old), wc, 'o'); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("rules=%d/reuse", n), func(b *testing.B) {
			var cpu time.Duration
			defer func() { b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op") }()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				nw := plan() // the changed rule's key not cached yet
				runtime.GC() // not the planner's garbage's
				b.StartTimer()
				start := cpuNow(b)
				for _, wt := range []*wantTable{old, nw} {
					k := newKeyer(wt)
					for _, wc := range wt.chains {
						if _, err := chainKeys(k, wc, 'n'); err != nil {
							b.Fatal(err)
						}
					}
				}
				cpu += cpuNow(b) - start
			}
		})
	}
}

// cpuNow is the process's CPU time so far.
func cpuNow(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
