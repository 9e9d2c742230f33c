package kernel

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// TestDynsetKernelOracle: meters and set updates loaded by nft -f (table t)
// and by nfd (nfd_t, where a meter is a named set) in one namespace see the
// same packets at prerouting; every rule's own counters must agree.
func TestDynsetKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "dyo", "k0", []string{"10.88.0.2/24"})
	newConn := connIn(t, k)
	const src = `table ip t {
	set ban { type ipv4_addr; flags dynamic; }
	set seen { type ipv4_addr . inet_service; flags dynamic, timeout; timeout 1h; }
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		meter m1 { ip saddr limit rate over 2/minute burst 2 packets } counter
		tcp dport 22 meter m2 size 100 { ip saddr . tcp dport timeout 60s limit rate 3/minute } counter
		ip saddr @ban counter
		tcp dport 80 add @ban { ip saddr limit rate over 4/minute } counter
		ip saddr . tcp dport @seen counter
		update @seen { ip saddr . tcp dport timeout 1m }
		tcp dport 443 delete @seen { ip saddr . tcp dport }
		add @ban { ip saddr counter quota over 200 bytes } counter
	}
}
`
	rs, err := parser.Parse("d.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "d.nft")
	sink := "table inet zz_sink {\n\tchain in {\n\t\ttype filter hook input priority 100; policy drop;\n\t}\n}\n"
	if err := os.WriteFile(f, []byte(src+sink), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := k.Run("nft", "-f", f); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	plans, _, err := planner.PlanRuleset(rs, planner.OffloadAuto)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newConn()
	if err := ProgramPlans(c, QueueCompat, plans); err != nil {
		t.Fatalf("programming: %v", err)
	}
	srcs := []string{"10.88.0.1", "10.88.0.3", "10.88.0.4"}
	ports := []uint16{22, 80, 443, 22, 80}
	for i := 0; i < 45; i++ {
		b := pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr(srcs[i%3]), Dst: netip.MustParseAddr("10.88.0.2"),
			Proto: 6, Sport: 4000, Dport: ports[i%5], TCPFlags: 0x02, Payload: make([]byte, i)})
		if err := inj.Send(b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	kern := k.NftCounters(t)
	want := kern["ip/t/pre"]
	got := kern["ip/"+planner.KernelTableName("t")+"/pre"]
	cp := plans[0].Chains[0]
	var stripped [][]uint64
	for ri := range want {
		cs := got[ri]
		if ri < len(cp.Ctr) && cp.Ctr[ri] < len(cs) && len(cs) > len(want[ri]) {
			o := cp.Ctr[ri]
			cs = append(append([]uint64(nil), cs[:o]...), cs[o+1:]...)
		}
		stripped = append(stripped, cs)
	}
	if fmt.Sprint(stripped) != fmt.Sprint(want) {
		out, _ := k.Run("nft", "list", "ruleset")
		t.Fatalf("nft's rules counted %v, nfd's %v\n%s", want, stripped, out)
	}
	t.Logf("counters %v", want)
}
