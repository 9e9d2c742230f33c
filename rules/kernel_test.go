package rules

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/rulegen"
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
// to both (the kernel's through a veth, at the prerouting hook), and
// compares every rule's counters. An input chain drops every packet after
// prerouting, so the kernel never confirms a connection; the engine's
// conntrack table is told the same by forgetting each new entry.
func TestKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "ro", "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	send := func(ip []byte) {
		if err := inj.Send(ip); err != nil {
			t.Fatalf("inject: %v", err)
		}
	}

	g := &rulegen.Gen{R: rand.New(rand.NewSource(7)), Counted: true, Hook: "prerouting", NoReject: true,
		Dst4: "10.88.0.2", Dst6: "fd88::2", Iif: "k0",
		// NFD_ORACLE_WIDE=1: extension headers, AH, IPv4 options, every TCP
		// flag combination, cut-short headers (see rulegen.Gen.Wide).
		Wide: os.Getenv("NFD_ORACLE_WIDE") != ""}
	const sink = "table inet zz_sink {\n\tchain in {\n\t\ttype filter hook input priority 100; policy drop;\n\t}\n}\n"
	rounds, packets := 40, 60
	for round := 0; round < rounds; round++ {
		src := g.Ruleset()
		rs, err := parser.Parse("gen.nft", []byte(src))
		if err != nil {
			t.Fatalf("generated ruleset rejected: %v", err)
		}
		canon := parser.Print(rs)
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
		for i := 0; i < packets; i++ {
			c := ctxOf(g.Packet(), parser.HookPrerouting)
			c.Mark = 0
			tb.Track(c.P, &c.CT)
			c.CtMark = c.CT.Mark
			e.Eval(c)
			if c.CT.Created {
				tb.Forget(c.CT.Key)
			}
			send(c.P.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
		kern := k.NftCounters(t)
		ours := ourCounters(rs, e)
		for key, rulesK := range kern {
			if strings.Contains(key, "zz_sink") {
				continue
			}
			rulesO := ours[key]
			if fmt.Sprint(rulesK) != fmt.Sprint(rulesO) {
				t.Fatalf("round %d, chain %s: kernel counters %v, nfd %v\nruleset:\n%s", round, key, rulesK, rulesO, canon)
			}
		}
	}
}
