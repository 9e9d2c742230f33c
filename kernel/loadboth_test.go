package kernel

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// loadNativeBoth loads src with `nft -f` into ns (after `flush ruleset`),
// plans it inside ns (interface and device names resolve there), requires
// every rule to run natively and programs nfd's plan beside nft's tables:
// the two sides a translation test lists. tag prefixes the failures.
func loadNativeBoth(t *testing.T, ns *netns.NS, newConn func() (*nftables.Conn, error), tag, src string) *parser.Ruleset {
	t.Helper()
	f := filepath.Join(t.TempDir(), "r.nft")
	if err := os.WriteFile(f, []byte("flush ruleset\n"+src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := ns.Run("nft", "-f", f); err != nil {
		t.Fatalf("%s: nft -f: %v\n%s", tag, err, out)
	}
	rs, err := parser.Parse("r.nft", []byte(src))
	if err != nil {
		t.Fatalf("%s: %v", tag, err)
	}
	var plans []*planner.TablePlan
	var pl map[planner.RuleRef]planner.Placement
	if err := ns.Do(func() (err error) {
		plans, pl, err = planner.PlanRuleset(rs, planner.OffloadAuto)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", tag, err)
	}
	for ref, p := range pl {
		if !p.Kernel {
			t.Fatalf("%s: %+v not native: %s", tag, ref, p.Reason)
		}
	}
	c, _ := newConn()
	if err := ProgramPlans(c, QueueCompat, plans); err != nil {
		t.Fatalf("%s: programming: %v", tag, err)
	}
	return rs
}
