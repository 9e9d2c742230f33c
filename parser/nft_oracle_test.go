package parser

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// usesL7 reports whether a ruleset uses nfd's own matches, which nft lacks.
func usesL7(rs *Ruleset) bool {
	for _, t := range rs.Tables {
		for _, s := range t.Sets {
			for _, k := range s.Key {
				if k == TypeHostname {
					return true
				}
			}
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, s := range r.Stmts {
					if m, ok := s.(*Match); ok && m.Keys[0].Userspace() {
						return true
					}
				}
			}
		}
	}
	return false
}

// nftCheck feeds text to `nft -c -f` in a throw-away namespace: the kernel
// and nft are the oracle of what is valid nft. Nothing is committed.
func nftCheck(t *testing.T, ns *netns.NS, name, text string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := ns.Run("nft", "-c", "-f", f); err != nil {
		t.Errorf("nft rejects nfd's canonical output of %s: %v\n%s", name, err, out)
	}
}

func TestNftAcceptsCanonicalCorpus(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "parse")
	n := 0
	for _, f := range corpus(t, "valid") {
		rs, err := ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if usesL7(rs) {
			continue
		}
		n++
		nftCheck(t, ns, filepath.Base(f), Print(rs))
	}
	if n < 20 {
		t.Fatalf("only %d kernel-expressible corpus files", n)
	}
}

func TestNftAcceptsRandomRulesets(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "parse")
	g := &gen{r: rand.New(rand.NewSource(2)), kernelOnly: true}
	var all strings.Builder
	for i := 0; i < 300; i++ {
		src := g.table(fmt.Sprintf("r%d", i))
		rs, err := Parse("gen.nft", []byte(src))
		if err != nil {
			t.Fatalf("generated ruleset rejected: %v\n%s", err, src)
		}
		all.WriteString(Print(rs))
	}
	nftCheck(t, ns, "random.nft", all.String())
}
