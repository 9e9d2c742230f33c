package rules

import (
	"fmt"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
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
	sendBoth(t, inj, e, 24, func(i int) string { return srcs[i%len(srcs)] }, portsFrom7(3), size(20))
	kern, ours := k.NftCounters(t), ourCounters(rs, e)
	for _, ch := range []string{"ip/t/pre", "ip/t/c2"} {
		if fmt.Sprint(kern[ch]) != fmt.Sprint(ours[ch]) {
			t.Errorf("%s: kernel %v, nfd %v", ch, kern[ch], ours[ch])
		}
	}
	t.Logf("counters %v", ours)
}
