package rules

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/parser"
)

// TestCatchAllKernelOracle: sets and verdict maps with a catch-all `*`
// element (named and anonymous) loaded with nft -f and into the engine;
// the same packets give the same counters in every chain.
func TestCatchAllKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "catch", "k0", []string{"10.88.0.2/24"})
	const src = `table ip t {
	set cm {
		type ipv4_addr; flags interval;
		elements = { 10.0.0.0/8, * }
	}
	set cx {
		type ipv4_addr
		elements = { 10.88.0.5, * }
	}
	map catch {
		type ipv4_addr : verdict
		elements = { 10.88.0.1 : continue, * : jump c2 }
	}
	chain c2 {
		counter
	}
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ip saddr @cm counter
		ip saddr != @cx counter
		ip saddr vmap @catch
		counter
		udp dport vmap { 7 : continue, * : return }
		counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`
	rs, e := loadBoth(t, k, "c.nft", src)
	srcs := []string{"10.88.0.1", "10.88.0.3", "192.0.2.1", "10.88.0.5"}
	for i := 0; i < 24; i++ {
		b := pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr(srcs[i%len(srcs)]), Dst: netip.MustParseAddr("10.88.0.2"),
			Proto: 17, Sport: 4000, Dport: uint16(7 + i%3), Payload: make([]byte, 20)})
		e.Eval(ctxOf(rulegen.Packet{Bytes: b}, parser.HookPrerouting))
		if err := inj.Send(b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	kern, ours := k.NftCounters(t), ourCounters(rs, e)
	for _, ch := range []string{"ip/t/pre", "ip/t/c2"} {
		if fmt.Sprint(kern[ch]) != fmt.Sprint(ours[ch]) {
			t.Errorf("%s: kernel %v, nfd %v", ch, kern[ch], ours[ch])
		}
	}
	t.Logf("counters %v", ours)
}
