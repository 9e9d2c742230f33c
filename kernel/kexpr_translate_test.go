package kernel

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/planner"
)

// kexprLines are kernel-only expressions google/nftables v0.3.0 cannot
// encode (osf, ipsec, tproxy without a port), which internal/nlbatch
// writes as nft does; "FAMILY HOOK|rule". From nftables' tests/py
// (osf.t, ipsec.t, tproxy.t).
var kexprLines = []string{
	`ip input|osf name "Linux"`,
	`ip input|osf ttl loose name "Linux"`,
	`ip input|osf ttl skip name "Linux"`,
	`ip input|osf ttl skip version "Linux:3.0"`,
	`ip input|osf name { "Windows", "MacOs" }`,
	`ip input|osf version { "Windows:XP", "MacOs:Sierra" }`,
	`ip input|ct mark set osf version map { "Windows:XP" : 0x00000003, "MacOs:Sierra" : 0x00000004 }`,
	`inet input|osf name "Linux"`,
	`ip input|ct mark set meta mark map { 1 : 0x00000003 }`,
	`ip input|ct mark set ct helper map { "ftp" : 0x00000003 }`,
	`ip forward|ipsec in reqid 1`,
	`ip forward|ipsec in spnum 0 reqid 1`,
	`ip forward|ipsec out reqid 0xffffffff`,
	`ip forward|ipsec out spi 1-561`,
	`ip forward|ipsec in spnum 2 ip saddr { 1.2.3.4, 10.6.0.0/16 }`,
	`ip6 forward|ipsec in ip6 daddr dead::beef`,
	`ip6 forward|ipsec out ip6 saddr dead::feed`,
	`inet forward|ipsec out spnum 5 ip daddr 10.0.0.1`,
	`ip output|ipsec out spi 7`,
	`ip prerouting|meta l4proto 17 tproxy to 192.0.2.1`,
	`ip6 prerouting|meta l4proto 6 tproxy to [2001:db8::1]`,
	`inet prerouting|meta l4proto 17 tproxy ip to 192.0.2.1`,
	`inet prerouting|meta l4proto 6 tproxy ip6 to [2001:db8::1]`,
}

// TestKernelExprTranslationMatchesNft loads each line with `nft -f` as
// table t and with nfd as nfd_t in one throw-away namespace and compares
// both what nft lists and what `nft --debug=netlink list` prints for the
// rule's expressions (registers, keys, directions, sets) and its sets'
// elements, without the counter nfd adds.
func TestKernelExprTranslationMatchesNft(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "kex")
	newConn := connIn(t, ns)
	for _, line := range kexprLines {
		where, rule, _ := strings.Cut(line, "|")
		fam, hook, _ := strings.Cut(where, " ")
		src := fmt.Sprintf("table %s t {\n\tchain c {\n\t\ttype filter hook %s priority 0; policy accept;\n\t\t%s\n\t}\n}\n", fam, hook, rule)
		loadNativeBoth(t, ns, newConn, rule, src)
		want := firstRule(t, ns, fam, "t")
		got := strings.TrimSpace(counterRE.ReplaceAllString(firstRule(t, ns, fam, planner.KernelTableName("t")), ""))
		if got != want {
			t.Errorf("%s:\n nft loads  %q\n nfd loads  %q", line, want, got)
		}
		if w, g := netlinkExprs(t, ns, fam, "t"), netlinkExprs(t, ns, fam, planner.KernelTableName("t")); g != w {
			t.Errorf("%s: expressions differ:\n nft loads\n%s\n nfd loads\n%s", line, w, g)
		}
	}
}

// setNameRE matches an anonymous set's name in a netlink listing.
var setNameRE = regexp.MustCompile(`set __(set|map)[0-9]+`)

var zeroEndRE = regexp.MustCompile(`^element (00000000 ?)+ *: 1 \[end\]$`)

// netlinkExprs is table's expressions and set elements as `nft
// --debug=netlink list table` prints them, without counters and with
// anonymous sets' names made equal.
func netlinkExprs(t *testing.T, ns *netns.NS, fam, table string) string {
	t.Helper()
	out, err := ns.Run("nft", "--debug=netlink", "list", "table", fam, table)
	if err != nil {
		t.Fatalf("nft --debug=netlink list %s: %v\n%s", table, err, out)
	}
	var keep, elems []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[ counter") || !(strings.HasPrefix(l, "[") || strings.HasPrefix(l, "element")) {
			continue
		}
		if zeroEndRE.MatchString(l) {
			// nft opens an interval set below its first range with an
			// interval end at zero; nfd leaves it out (every interval
			// set, not these expressions; the lookups agree).
			continue
		}
		if strings.HasPrefix(l, "element") {
			elems = append(elems, l) // a set's order is the kernel's
			continue
		}
		keep = append(keep, setNameRE.ReplaceAllString(l, "set S"))
	}
	sort.Strings(elems)
	keep = append(keep, elems...)
	if len(keep) == 0 {
		t.Fatalf("no expressions in %s:\n%s", table, out)
	}
	return strings.Join(keep, "\n")
}
