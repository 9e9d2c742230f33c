package planner

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// TestKernelOnlyPkttype: `meta pkttype` runs natively or the plan is
// refused with the rule's position (issue 19 item 4).
func TestKernelOnlyPkttype(t *testing.T) {
	const native = `table inet f {
	chain in {
		type filter hook input priority 0; policy accept;
		meta pkttype broadcast drop
		tls sni "x.example" accept
	}
}
`
	const after = `table inet f {
	chain in {
		type filter hook input priority 0; policy accept;
		tls sni "x.example" accept
		meta pkttype { broadcast, multicast } drop
	}
}
`
	for _, tc := range []struct {
		src, offload, want string
	}{
		{native, OffloadAuto, ""},
		// --offload=none keeps kernel-only rules at the head of a chain
		// native: nfd cannot evaluate them, and nothing precedes them.
		{native, "none", ""},
		{after, OffloadAuto, "t.nft:5:3: `meta pkttype` is known only to the kernel"},
		{after, "none", "t.nft:5:3: `meta pkttype` is known only to the kernel"},
	} {
		rs, err := parser.Parse("t.nft", []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		_, pl, err := PlanRuleset(rs, tc.offload)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.offload, err)
		case tc.want == "" && !pl[RuleRef{parser.FamilyInet, "f", "in", 0}].Kernel:
			t.Errorf("pkttype rule not native: %+v", pl)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.offload, err, tc.want)
		}
	}
}
