package kernel

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/planner"
)

// TestRuleKeyReuse: for each edit, the keys the diff takes from the
// previous plans' rules (cached on the translations the planner reused)
// equal the keys computed afresh from the new plans' expressions, and
// only the rules translated again are hashed.
func TestRuleKeyReuse(t *testing.T) {
	for _, e := range diffEdits {
		t.Run(strings.ReplaceAll(e.name, " ", "_"), func(t *testing.T) {
			old := diffPlansFrom(t, diffBase, true, nil)
			for _, tp := range old {
				wt := desired(QueueCompat, tp)
				k := newKeyer(wt)
				for _, wc := range wt.chains {
					if _, err := chainKeys(k, wc, 'o'); err != nil {
						t.Fatal(err)
					}
				}
			}
			newPlans := diffPlansFrom(t, applyEdit(t, e.name, e.old, e.new), true, old)
			cached, computed := 0, 0
			for _, tp := range newPlans {
				wt := desired(QueueCompat, tp)
				k, fresh := newKeyer(wt), newKeyer(wt)
				for _, wc := range wt.chains {
					for i := range wc.rules {
						r := &wc.rules[i]
						if r.hash == nil {
							continue
						}
						_, had := r.hash.Get()
						got, err := k.ruleKey(r)
						if err != nil {
							t.Fatal(err)
						}
						want, err := fresh.key(r.exprs)
						if err != nil {
							t.Fatal(err)
						}
						if got != want {
							t.Fatalf("chain %s rule %d: cached key %x, computed %x", wc.spec.Name, i, got, want)
						}
						if had {
							cached++
						} else {
							computed++
						}
					}
				}
			}
			reused, translated := planner.ReuseStats(newPlans)
			t.Logf("%s: %d keys cached, %d computed; %d translations reused, %d made", e.name, cached, computed, reused, translated)
			if reused > 0 && cached == 0 {
				t.Errorf("translations reused, but no key cached")
			}
		})
	}
}
