package rules

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// Regression tests for issue 19: the same rules and packets under `nft -f`
// (injected at prerouting through a veth) and under the engine, every
// rule's counter compared. Each rule carries its own counter and the chain
// never ends evaluation, so every rule sees every packet.

// kernelVsEngine loads rules (one per line, each without a verdict) into a
// prerouting chain of an inet table, sends pkts, and compares counts.
func kernelVsEngine(t *testing.T, tag string, rules []string, pkts [][]byte) {
	t.Helper()
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, tag, "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	var b strings.Builder
	b.WriteString("table inet m {\n\tchain pre {\n\t\ttype filter hook prerouting priority 0; policy accept;\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "\t\t%s counter\n", r)
	}
	b.WriteString("\t}\n\tchain in {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\n")
	src := b.String()
	rs, err := parser.Parse("m.nft", []byte(src))
	if err != nil {
		t.Fatalf("nfd refuses: %v\n%s", err, src)
	}
	f := filepath.Join(t.TempDir(), "m.nft")
	if err := os.WriteFile(f, []byte("flush ruleset\n"+src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := k.Run("nft", "-f", f); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, src)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pk := range pkts {
		var p packet.Parsed
		p.Decode(pk)
		c := &Ctx{}
		c.Reset(&p, parser.HookPrerouting)
		c.SetIif("k0") // prerouting: an input interface, no output interface
		c.CT = conntrack.Result{}
		e.Eval(c)
		if err := inj.Send(pk); err != nil {
			t.Fatalf("inject: %v", err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	kern := k.NftCounters(t)["inet/m/pre"]
	ours := ourCounters(rs, e)["inet/m/pre"]
	if len(kern) != len(rules) {
		t.Fatalf("kernel listed %d rules, want %d", len(kern), len(rules))
	}
	for i, r := range rules {
		if fmt.Sprint(kern[i]) != fmt.Sprint(ours[i]) {
			t.Errorf("%-45s kernel %v, nfd %v", r, kern[i], ours[i])
		}
	}
}

var (
	m4src = netip.MustParseAddr("10.88.0.1")
	m4dst = netip.MustParseAddr("10.88.0.2")
	m6src = netip.MustParseAddr("fd88::1")
	m6dst = netip.MustParseAddr("fd88::2")
)

// TestMeaningTCPFlags: every implicit-operator form of issue 19 item 1,
// over all 256 flag combinations.
func TestMeaningTCPFlags(t *testing.T) {
	rules := []string{
		"tcp flags & (fin|syn|rst|ack) syn",
		"tcp flags & (fin|syn|rst|ack) == syn",
		"tcp flags & (fin|syn|rst|ack) != syn",
		"tcp flags & (syn|ack) syn|ack",
		"tcp flags & syn 0",
		"tcp flags & syn != 0",
		"tcp flags syn / fin,syn,rst,ack",
		"tcp flags != syn / fin,syn,rst,ack",
		"tcp flags syn",
		"tcp flags syn,ack",
		"tcp flags syn|ack",
		"tcp flags != syn,ack",
		"tcp flags == syn,ack",
		"tcp flags { syn, syn|ack }",
		"tcp flags != { syn, syn|ack }",
		"tcp flags & (syn|ack) { syn, ack }",
		"tcp flags & (syn|ack) != { syn, ack }",
		"tcp flags & (syn|ack) < ack",
		"tcp flags > syn",
		"tcp flags 0",
	}
	var pkts [][]byte
	for fl := 0; fl < 256; fl++ {
		src := m4src
		dst := m4dst
		if fl%2 == 1 {
			src, dst = m6src, m6dst
		}
		pkts = append(pkts, pktgen.Build(pktgen.Opts{Src: src, Dst: dst, Proto: 6, Sport: 1000, Dport: 80, TCPFlags: uint8(fl)}))
	}
	kernelVsEngine(t, "mf", rules, pkts)
}

// TestMeaningMissingInterface: at prerouting there is no output interface;
// the kernel's meta oif/oifname then compare 0 / an empty name
// (nft_meta_store_ifindex, nft_meta_store_ifname), so != matches.
func TestMeaningMissingInterface(t *testing.T) {
	rules := []string{
		`oifname != "k0"`,
		`oifname "k0"`,
		`oifname != { "k0", "x" }`,
		`oif != "k0"`,
		`oif "k0"`,
		`iifname "k0"`,
		`iifname != "k0"`,
		`iif "k0"`,
	}
	var pkts [][]byte
	for i := 0; i < 5; i++ {
		pkts = append(pkts, pktgen.Build(pktgen.Opts{Src: m4src, Dst: m4dst, Proto: 17, Sport: 1000, Dport: 53}))
	}
	kernelVsEngine(t, "mi", rules, pkts)
}
