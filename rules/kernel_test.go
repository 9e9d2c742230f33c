package rules

import (
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// ourCounters reads the same from the engine.
func ourCounters(rs *parser.Ruleset, e *Engine) map[string][][]uint64 {
	m := map[string][][]uint64{}
	i := 0
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			k := t.Family.String() + "/" + t.Name + "/" + c.Name
			for _, r := range c.Rules {
				info := e.Rules[i]
				i++
				var cs []uint64
				for si, s := range r.Stmts {
					if _, ok := s.(*parser.Counter); ok {
						cs = append(cs, e.StmtCounter(info, si).Packets.Load())
					}
				}
				m[k] = append(m[k], cs)
			}
		}
	}
	return m
}

// TestKernelOracle loads random rulesets into the kernel with nft in a
// throw-away namespace and into the engine, sends the same random packets
// to both (the kernel's through a veth; chains at prerouting, then at
// input), and compares every rule's counters. An input chain after them
// drops every packet, so the kernel never confirms a connection; the
// engine's conntrack table is told the same by forgetting each new entry.
// NFD_ORACLE_SEED and NFD_ORACLE_ROUNDS pick other seeds and more rounds;
// a difference is replayed packet by packet to name the packet.
func TestKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "ro", "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	waitDelivery(t, inj, k)
	seed := int64(7)
	if s := os.Getenv("NFD_ORACLE_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("NFD_ORACLE_SEED: %v", err)
		}
		seed = v
	}
	rounds := 40
	if s := os.Getenv("NFD_ORACLE_ROUNDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("NFD_ORACLE_ROUNDS: %v", err)
		}
		rounds = v
	}
	for _, hook := range []parser.Hook{parser.HookPrerouting, parser.HookInput} {
		g := &rulegen.Gen{R: rand.New(rand.NewSource(seed)), Counted: true, Hook: hook.String(), NoReject: true,
			Dst4: "10.88.0.2", Dst6: "fd88::2", Iif: "k0",
			// Extension headers, AH, ESP, IPComp and other protocols, IPv4
			// options, every TCP flag combination and ICMP type, cut-short
			// headers (see rulegen.Gen.Wide).
			Wide: true, UserspaceForms: true}
		n := rounds
		if hook == parser.HookInput {
			n = (rounds + 1) / 2
		}
		oracleRounds(t, inj, k, g, hook, seed, n, 60)
	}
}

// oracleRun loads src into the kernel and the engine, sends pkts to both
// and returns the first chain whose counters differ ("" if none). With
// stepwise it compares after every packet and names the first packet that
// made a difference.
func oracleRun(t *testing.T, inj *netns.Injector, k *netns.NS, hook parser.Hook, rs *parser.Ruleset, canon string, pkts []rulegen.Packet, stepwise bool) (string, int, conntrack.Result) {
	const sink = "table inet zz_sink {\n\tchain in {\n\t\ttype filter hook input priority 100; policy drop;\n\t}\n}\n"
	f := filepath.Join(t.TempDir(), "r.nft")
	if err := os.WriteFile(f, []byte("flush ruleset\n"+canon+sink), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := k.Run("nft", "-f", f); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, canon)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb := conntrack.New(conntrack.Config{})
	compare := func() string {
		kern := k.NftCounters(t)
		ours := ourCounters(rs, e)
		var diffs []string
		for key, rulesK := range kern {
			if strings.Contains(key, "zz_sink") {
				continue
			}
			if rulesO := ours[key]; fmt.Sprint(rulesK) != fmt.Sprint(rulesO) {
				diffs = append(diffs, fmt.Sprintf("chain %s: kernel counters %v, nfd %v", key, rulesK, rulesO))
			}
		}
		sort.Strings(diffs)
		return strings.Join(diffs, "\n")
	}
	for i, gp := range pkts {
		c := ctxOf(gp, hook)
		c.Mark = 0
		if !c.P.ChecksumOK() {
			// As the daemon does for a packet no device verified (the
			// injected ones): the kernel's conntrack checks at prerouting
			// (hooks/queue.go).
			c.P.Flags |= packet.BadChecksum
		}
		tb.Track(c.P, &c.CT)
		c.CtMark = c.CT.Mark
		e.Eval(c)
		if c.CT.Created {
			tb.Forget(c.CT.Key)
		}
		if err := inj.Send(c.P.Bytes()); err != nil {
			t.Fatalf("inject: %v", err)
		}
		if stepwise {
			time.Sleep(5 * time.Millisecond)
			if d := compare(); d != "" {
				return d, i, c.CT
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	return compare(), -1, conntrack.Result{}
}

// oracleRounds runs rounds of random rulesets and packets through the
// kernel and the engine; on a difference it replays the round packet by
// packet and reports the first packet that counted differently.
func oracleRounds(t *testing.T, inj *netns.Injector, k *netns.NS, g *rulegen.Gen, hook parser.Hook, seed int64, rounds, packets int) {
	for round := 0; round < rounds; round++ {
		src := g.Ruleset()
		rs, err := parser.Parse("gen.nft", []byte(src))
		if err != nil {
			t.Fatalf("generated ruleset rejected: %v", err)
		}
		canon := parser.Print(rs)
		pkts := make([]rulegen.Packet, packets)
		for i := range pkts {
			pkts[i] = g.Packet()
		}
		d, _, _ := oracleRun(t, inj, k, hook, rs, canon, pkts, false)
		if d == "" {
			continue
		}
		d2, at, ct := oracleRun(t, inj, k, hook, rs, canon, pkts, true)
		var which string
		if at >= 0 {
			var p packet.Parsed
			p.Decode(pkts[at].Bytes)
			which = fmt.Sprintf("\nfirst packet counted differently: #%d %x\n(%s)\nnfd's ct state %d found %v dir %d", at, pkts[at].Bytes, d2, ct.State, ct.Found, ct.Dir)
		}
		t.Fatalf("hook %s seed %d round %d, %s%s\nruleset:\n%s", hook, seed, round, d, which, canon)
	}
}

// waitDelivery sends probes until the receiving namespace's prerouting
// hook sees one: right after the veth comes up, the first packets can be
// lost before any hook (no carrier yet), which would read as a difference.
func waitDelivery(t *testing.T, inj *netns.Injector, k *netns.NS) {
	t.Helper()
	if out, err := k.Run("nft", "add table inet zz_probe; add chain inet zz_probe pre { type filter hook prerouting priority 0; }; add rule inet zz_probe pre counter"); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	probe := pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("10.88.0.1"), Dst: netip.MustParseAddr("10.88.0.2"), Proto: 17, Sport: 9, Dport: 9})
	for i := 0; ; i++ {
		if err := inj.Send(probe); err != nil {
			t.Fatalf("inject: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		if c := k.NftCounters(t)["inet/zz_probe/pre"]; len(c) == 1 && c[0][0] > 0 {
			break
		}
		if i == 150 {
			t.Fatal("no probe reached the receiving namespace in 3 s")
		}
	}
	if out, err := k.Run("nft", "delete table inet zz_probe"); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
}
