package kernel

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
)

// TestOffloadOracle: random kernel-expressible rulesets are translated by
// nfd's offload and programmed natively (no nft involved); the same random
// packets go to the kernel (through a veth, at prerouting) and to the
// engine, and every counter must agree. The translator thus means what the
// engine means, which the rules package proves means what nft means.
func TestOffloadOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "off", "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	newConn := connIn(t, k)
	g := &rulegen.Gen{R: rand.New(rand.NewSource(11)), Counted: true, Hook: "prerouting", NoReject: true,
		Dst4: "10.88.0.2", Dst6: "fd88::2", Iif: "k0"}
	native, total := 0, 0
	for round := 0; round < 30; round++ {
		src := g.Ruleset()
		rs, err := parser.Parse("gen.nft", []byte(src))
		if err != nil {
			t.Fatalf("generated ruleset rejected: %v", err)
		}
		plans, placements, err := planner.PlanRuleset(rs, planner.OffloadAuto)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range placements {
			total++
			if p.Kernel {
				native++
			} else {
				t.Fatalf("round %d: a kernel-expressible rule stays in userspace: %s\n%s", round, p.Reason, parser.Print(rs))
			}
		}
		// Fresh tables each round: equal-priority chains run newest first,
		// and the engine's order assumes the file's registration order.
		c, _ := newConn()
		if err := Remove(c); err != nil {
			t.Fatal(err)
		}
		c, _ = newConn()
		if err := ProgramPlans(c, QueueCompat, plans); err != nil {
			t.Fatalf("round %d: programming: %v\n%s", round, err, parser.Print(rs))
		}
		if _, err := k.Run("nft", "add table inet zz_sink; add chain inet zz_sink in { type filter hook input priority 100; policy drop; }"); err != nil {
			t.Fatal(err)
		}
		e, err := rules.Compile(rs, rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		tb := conntrack.New(conntrack.Config{})
		for i := 0; i < 60; i++ {
			gp := g.Packet()
			var p packet.Parsed
			p.Decode(gp.Bytes)
			var ctx rules.Ctx
			ctx.Reset(&p, parser.HookPrerouting)
			ctx.SetIif("k0")
			tb.Track(&p, &ctx.CT)
			ctx.CtMark = ctx.CT.Mark
			e.Eval(&ctx)
			if ctx.CT.Created {
				tb.Forget(ctx.CT.Key)
			}
			if err := inj.Send(gp.Bytes); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond)
		kern := k.NftCounters(t)
		i := 0
		for _, tbl := range rs.Tables {
			for _, ch := range tbl.Chains {
				key := fmt.Sprintf("%s/%s/%s", tbl.Family, planner.KernelTableName(tbl.Name), ch.Name)
				var ours [][]uint64
				var matched []uint64
				var vmap []bool
				for _, r := range ch.Rules {
					info := e.Rules[i]
					i++
					matched = append(matched, info.Counts.Packets.Load())
					_, isVMap := r.Stmts[len(r.Stmts)-1].(*parser.VMap)
					vmap = append(vmap, isVMap)
					var cs []uint64
					for si, s := range r.Stmts {
						if _, ok := s.(*parser.Counter); ok {
							cs = append(cs, e.StmtCounter(info, si).Packets.Load())
						}
					}
					ours = append(ours, cs)
				}
				if len(ch.Rules) == 0 {
					continue
				}
				got := kern[key]
				// Leave out the counter nfd adds to each native rule, after
				// checking it counts like the engine's rule count.
				var cp *planner.ChainPlan
				for _, tp := range plans {
					for _, x := range tp.Chains {
						if tp.Name == tbl.Name && tp.Family == tbl.Family && x.Name == ch.Name {
							cp = x
						}
					}
				}
				if ch.Base != nil && len(got) == len(ch.Rules)+1 {
					// The policy counter nfd appends to base chains.
					got = got[:len(ch.Rules)]
				}
				stripped := make([][]uint64, len(got))
				for ri := range got {
					stripped[ri] = got[ri]
					if cp != nil && ri < len(cp.Ctr) && cp.Ctr[ri] < len(got[ri]) && len(got[ri]) > len(ours[ri]) {
						o := cp.Ctr[ri]
						if !vmap[ri] && got[ri][o] != matched[ri] {
							t.Fatalf("round %d, %s rule %d: the kernel counted %d matches, the engine %d", round, key, ri, got[ri][o], matched[ri])
						}
						stripped[ri] = append(append([]uint64(nil), got[ri][:o]...), got[ri][o+1:]...)
					}
				}
				got = stripped
				if fmt.Sprint(got) != fmt.Sprint(ours) {
					out, _ := k.Run("nft", "list", "ruleset")
					t.Fatalf("round %d, chain %s: kernel %v, nfd %v\nruleset:\n%s\nprogrammed:\n%s", round, key, kern[key], ours, parser.Print(rs), out)
				}
			}
		}
		if _, err := k.Run("nft", "delete table inet zz_sink"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d of %d rules offloaded; counters agree", native, total)
}
