package rules

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/internal/rulegen"
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

// sendBoth gives both sides of a kernel oracle test the same n UDP
// packets to 10.88.0.2 from src(i) to port dport(i) with size(i) bytes of
// payload: the engine evaluates each at prerouting, the injector sends it
// into the kernel's namespace; then it waits for the kernel to count them.
func sendBoth(t *testing.T, inj *netns.Injector, e *Engine, n int, src func(i int) string, dport func(i int) uint16, size func(i int) int) {
	t.Helper()
	for i := 0; i < n; i++ {
		b := pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr(src(i)), Dst: netip.MustParseAddr("10.88.0.2"),
			Proto: 17, Sport: 4000, Dport: dport(i), Payload: make([]byte, size(i))})
		e.Eval(ctxOf(rulegen.Packet{Bytes: b}, parser.HookPrerouting))
		if err := inj.Send(b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
}

// from1 is the single source most oracle tests send from; ports and
// sizes cycle or stay fixed.
func from1(int) string                  { return "10.88.0.1" }
func portsFrom7(k int) func(int) uint16 { return func(i int) uint16 { return uint16(7 + i%k) } }
func size(n int) func(int) int          { return func(int) int { return n } }
