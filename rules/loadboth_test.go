package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
)

// loadBoth parses src, loads its canonical form with `nft -f` into the
// namespace k and compiles it into an engine: the two sides a kernel
// oracle test compares.
func loadBoth(t *testing.T, k *netns.NS, name, src string) (*parser.Ruleset, *Engine) {
	t.Helper()
	rs, err := parser.Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	canon := parser.Print(rs)
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(canon), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := k.Run("nft", "-f", f); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, canon)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rs, e
}
