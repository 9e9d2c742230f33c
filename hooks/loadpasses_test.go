package hooks

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
)

// TestCompileAndPlanConcurrent runs compileAndPlan over every valid
// ruleset of the parser's and the equivalence tests' corpora, both
// offload modes: under -race (make test-race, CI) it proves the compile
// and the planner only read the parsed ruleset, and each result equals
// the one the passes give run one after the other.
func TestCompileAndPlanConcurrent(t *testing.T) {
	var files []string
	for _, g := range []string{"../parser/testdata/valid/*.nft", "../parser/testdata/acceptance/rulesets/*.nft", "../cmd/nfd/testdata/equiv/*.nft"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 50 {
		t.Fatalf("only %d rulesets found", len(files))
	}
	ran := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Parsed as the daemon parses (sets of plain values packed).
		rs, err := parser.ParseContext(parser.WithPackedSets(context.Background()), f, src)
		if err != nil {
			continue // refused by the parser: nothing to compile
		}
		for _, off := range []string{planner.OffloadAuto, planner.OffloadNone} {
			opts := rules.Options{KernelOnly: planner.KernelOnlyTest()}
			_, plans, _, err := compileAndPlan(rs, opts, off, nil, nil)
			_, serr := rules.Compile(rs, rules.Options{KernelOnly: planner.KernelOnlyTest()})
			splans, _, perr := planner.PlanRuleset(rs, off)
			if serr == nil {
				serr = perr
			}
			if (err == nil) != (serr == nil) || (err != nil && err.Error() != serr.Error()) {
				t.Fatalf("%s (%s): side by side %v, one after the other %v", f, off, err, serr)
			}
			if err != nil {
				continue
			}
			ran++
			if len(plans) != len(splans) {
				t.Fatalf("%s: %d table plans, %d one after the other", f, len(plans), len(splans))
			}
			if newCanon(rs).Sum() != [32]byte(sha256Of(parser.Print(rs))) {
				t.Fatalf("%s: canonical hash differs", f)
			}
		}
	}
	t.Logf("%d rulesets compiled and planned", ran)
	if ran < 50 {
		t.Fatalf("only %d rulesets compiled and planned", ran)
	}
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// TestCompileAndPlanReuse: compileAndPlan hands the previous plans to
// the planner, which reuses translations of keyed rules.
func TestCompileAndPlanReuse(t *testing.T) {
	src := "table ip t {\n chain input {\n  type filter hook input priority 0;\n  tcp dport 22 accept\n  tcp dport 23 drop\n }\n}\n"
	rs, err := parser.Parse("r.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	parser.ReferenceKeys(rs)
	opts := rules.Options{KernelOnly: planner.KernelOnlyTest()}
	_, plans, _, err := compileAndPlan(rs, opts, planner.OffloadAuto, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs2, err := parser.Parse("r.nft", []byte(strings.Replace(src, "23", "24", 1)))
	if err != nil {
		t.Fatal(err)
	}
	parser.ReferenceKeys(rs2)
	_, plans2, pl, err := compileAndPlan(rs2, opts, planner.OffloadAuto, plans, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, tr := planner.ReuseStats(plans2); r != 1 || tr != 1 {
		t.Fatalf("reused %d, translated %d; want 1, 1", r, tr)
	}
	if p := pl.Get(planner.RuleRef{Family: parser.FamilyIP, Table: "t", Chain: "input", Index: 1}); !p.Kernel {
		t.Fatalf("rule 2 placed %+v", p)
	}
}
