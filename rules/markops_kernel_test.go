package rules

import (
	"fmt"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
)

// TestMarkOpsKernelOracle: `meta mark set meta mark | v`, `& m | v` and
// `xor v` computed by nfd equal the kernel's, seen through the counters
// of matches on the resulting marks.
func TestMarkOpsKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "mko", "k0", []string{"10.88.0.2/24"})
	const src = `table ip t {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		udp dport 7 meta mark set 0x1234
		meta mark set meta mark | 0x10
		meta mark 0x1234 counter
		meta mark 0x10 counter
		meta mark set meta mark and 0xff00 or 0x2
		meta mark 0x1202 counter
		meta mark 0x2 counter
		meta mark set meta mark xor 0x3
		meta mark 0x1201 counter
		meta mark 0x1 counter
		meta mark set meta mark & 0xf0 xor 0x33
		meta mark 0x33 counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`
	rs, e := loadBoth(t, k, "m.nft", src)
	sendBoth(t, inj, e, 10, from1, portsFrom7(2), size(8))
	kern, ours := k.NftCounters(t)["ip/t/pre"], ourCounters(rs, e)["ip/t/pre"]
	if fmt.Sprint(kern) != fmt.Sprint(ours) {
		t.Errorf("kernel %v, nfd %v\n%s", kern, ours, parser.Print(rs))
	}
	t.Logf("%v", ours)
}

// TestMarkShiftsKernelOracle: `meta mark set meta mark << n`, `>> n`,
// shifts followed by a mask, computed by nfd equal the kernel's.
func TestMarkShiftsKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "msh", "k0", []string{"10.88.0.2/24"})
	const src = `table ip t {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		udp dport 7 meta mark set 0x81234567
		udp dport 8 meta mark set 0x000000ff
		meta mark set meta mark << 4
		meta mark 0x12345670 counter
		meta mark 0x00000ff0 counter
		meta mark set meta mark >> 8 & 0xffff
		meta mark 0x3456 counter
		meta mark 0x000f counter
		meta mark set meta mark lshift 31
		meta mark 0x0 counter
		meta mark 0x80000000 counter
		meta mark set meta mark rshift 30 | 0x10
		meta mark 0x12 counter
		meta mark 0x10 counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`
	rs, e := loadBoth(t, k, "s.nft", src)
	sendBoth(t, inj, e, 10, from1, portsFrom7(2), size(8))
	kern, ours := k.NftCounters(t)["ip/t/pre"], ourCounters(rs, e)["ip/t/pre"]
	if fmt.Sprint(kern) != fmt.Sprint(ours) {
		t.Errorf("kernel %v, nfd %v\n%s", kern, ours, parser.Print(rs))
	}
	t.Logf("%v", ours)
}
