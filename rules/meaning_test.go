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

// ipv6Walk is a small corpus of IPv6 packets with extension headers, AH,
// ESP, fragments, MH, no next header and cut-short headers.
func ipv6Walk() [][]byte {
	tcp := func(ext []uint8, cut int, fragOff uint16, more bool) []byte {
		return pktgen.Build(pktgen.Opts{Src: m6src, Dst: m6dst, Proto: 6, Sport: 1000, Dport: 80, TCPFlags: 2,
			Ext6: ext, Cut: cut, FragOff: fragOff, MoreFrags: more, Payload: make([]byte, 12)})
	}
	raw := func(proto uint8, ext []uint8, n int) []byte {
		return pktgen.Build(pktgen.Opts{Src: m6src, Dst: m6dst, Proto: proto, Ext6: ext, Payload: make([]byte, n)})
	}
	var out [][]byte
	out = append(out,
		tcp(nil, 0, 0, false),
		tcp([]uint8{0}, 0, 0, false),
		tcp([]uint8{60}, 0, 0, false),
		tcp([]uint8{43}, 0, 0, false),
		tcp([]uint8{0, 43, 60}, 0, 0, false),
		tcp([]uint8{44}, 0, 0, true),     // first fragment
		tcp([]uint8{44}, 0, 3, false),    // last fragment
		tcp([]uint8{44, 60}, 0, 3, true), // later fragment whose next header is an extension
		tcp([]uint8{51}, 0, 0, false),    // AH
		tcp([]uint8{60, 51}, 0, 0, false),
		tcp([]uint8{51}, 22, 0, false), // AH, TCP cut to 10 bytes
		tcp(nil, 25, 0, false),         // TCP cut to 7 bytes
		tcp([]uint8{60}, 40, 0, false), // cut inside the destination options header
		tcp([]uint8{60}, 34, 0, false), // destination options header only
		raw(59, nil, 0),                // no next header
		raw(59, []uint8{60}, 8),        // no next header after options, with trailing bytes
		raw(50, nil, 24),               // ESP
		raw(50, []uint8{0}, 24),
		raw(135, nil, 16), // mobility header
		raw(33, nil, 16),  // DCCP-like
		raw(17, []uint8{60, 60, 60}, 8),
	)
	// IPv4: options, a later fragment (loads read its data), a cut TCP header.
	for _, o := range []pktgen.Opts{
		{IPOptions: 8}, {FragOff: 3}, {FragOff: 3, MoreFrags: true}, {MoreFrags: true}, {Cut: 25}, {Cut: 18, IPOptions: 4},
	} {
		o.Src, o.Dst, o.Proto, o.Sport, o.Dport, o.TCPFlags, o.Payload = m4src, m4dst, 6, 1000, 80, 2, make([]byte, 12)
		out = append(out, pktgen.Build(o))
	}
	// A destination options header whose length runs past the packet.
	long := tcp([]uint8{60}, 0, 0, false)
	long[41] = 9
	out = append(out, long)
	return out
}

// TestMeaningIPv6Walk: issue 19 item 3. `ip6 nexthdr` is the fixed
// header's field; `meta l4proto` and the transport header are what
// nft_set_pktinfo_ipv6 gets from ipv6_find_hdr.
func TestMeaningIPv6Walk(t *testing.T) {
	rules := []string{
		"ip6 nexthdr 33-44",
		"ip6 nexthdr { 0, 60 }",
		"meta l4proto tcp",
		"meta l4proto udp",
		"meta l4proto 51",
		"meta l4proto esp",
		"meta l4proto 59",
		"meta l4proto 135",
		"meta l4proto 60",
		"meta l4proto 44",
		"meta l4proto != 200",
		"meta length > 80",
		"meta length < 70",
		"tcp sport 1000",
		"tcp dport 80",
		"tcp flags syn",
		"th sport 0",
		"th dport != 1",
		"udp dport 0",
	}
	kernelVsEngine(t, "m6", rules, ipv6Walk())
}
