package kernel

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// mapStmtCases are NAT and mark statements whose value comes from a map
// (or a numgen/hash expression): "FAMILY TYPE HOOK|DECL|RULE"; with "L:"
// first, compared as nft lists the rule (nfd puts NAT ports in other
// registers than nft, which changes nothing the kernel does).
var mapStmtCases = []string{
	`ip nat prerouting||dnat to ip saddr map { 10.0.0.1 : 192.168.0.1, 10.0.0.2 : 192.168.0.2 }`,
	`ip nat prerouting||dnat ip to ip saddr map { 10.0.0.1 : 192.168.0.1 }`,
	`ip nat prerouting||dnat to ip daddr . tcp dport map { 1.2.3.4 . 80 : 10.0.0.1 . 8080, 1.2.3.4 . 443 : 10.0.0.2 . 8443 }`,
	`ip nat prerouting|map fwd4 { type inet_service : ipv4_addr . inet_service; elements = { 2222 : 192.168.1.10 . 22, 8080 : 192.168.1.20 . 80 }; }|dnat ip to tcp dport map @fwd4`,
	`ip nat prerouting||dnat to numgen inc mod 2 map { 0 : 192.168.10.100, 1 : 192.168.20.200 }`,
	`ip nat prerouting||dnat to jhash ip saddr mod 2 map { 0 : 192.168.10.100, 1 : 192.168.20.200 }`,
	`ip nat prerouting||dnat to symhash mod 2 map { 0 : 192.168.10.100, 1 : 192.168.20.200 }`,
	`ip nat prerouting||dnat to ip saddr map { 10.0.0.0/24 : 192.168.1.1-192.168.1.10 }`,
	`ip nat prerouting||tcp dport 22 redirect to :tcp dport map { 22 : 2222 }`,
	`L:ip nat prerouting||tcp dport 1 dnat to 10.0.0.1:0`,
	`ip nat prerouting||dnat ip prefix to ip daddr map { 192.168.1.0/24 : 10.141.10.0/24 }`,
	`ip nat prerouting||dnat ip to ip saddr . tcp dport map { 192.168.1.2 . 80 : 10.141.10.0/24 . 8888 - 8999 }`,
	`ip nat prerouting||dnat ip to ip saddr . tcp dport map { 192.168.1.2 . 80 : 10.141.10.0/24 . 80 }`,
	`inet nat prerouting||dnat ip to ip saddr . tcp dport map { 192.168.1.2 . 80 : 10.141.10.2-10.141.10.5 . 8888-8999, 192.168.1.3 . 22 : 10.0.0.1-10.0.0.2 . 22 }`,
	`ip nat postrouting||snat ip prefix to 10.0.0.0/24`,
	`ip nat postrouting||snat to ip saddr map { 192.168.1.0/24 : 1.2.3.4, 192.168.2.0/24 : 1.2.3.5 }`,
	`ip6 nat prerouting||dnat to tcp dport map { 80 : fd00::1, 443 : fd00::2 }`,
	`L:ip6 nat prerouting||meta l4proto tcp dnat to [2001:db8::1]-[2001:db8::2]:80-90`,
	`inet nat prerouting||dnat ip to ip daddr . tcp dport map { 1.2.3.4 . 80 : 10.0.0.1 . 8080 }`,
	`inet nat prerouting|map fwd4 { type inet_service : ipv4_addr . inet_service; elements = { 2222 : 192.168.1.10 . 22 }; }|iifname "lo" dnat ip to tcp dport map @fwd4`,
	`ip filter forward||meta mark set ip saddr map { 10.0.0.1 : 1, 10.0.0.2 : 2 }`,
	`ip filter forward||ct mark set mark map { 1 : 10, 2 : 20 }`,
	`ip filter forward||meta mark set tcp dport map { 22 : 1, 80 : 2 }`,
	`ip filter forward||ct mark set ip saddr map { 10.0.0.0/8 : 1, 192.168.0.0/16 : 2 }`,
	`ip filter forward|map mk { type ipv4_addr : mark; elements = { 10.0.0.1 : 0x1 }; }|meta mark set ip saddr map @mk`,
	`ip filter forward||meta mark set jhash ip saddr mod 2`,
	`ip filter forward||meta mark set jhash ip saddr . ip daddr mod 4 seed 0xdead offset 100`,
	`ip filter forward||ct mark set jhash ip saddr . tcp sport mod 4`,
	`ip filter forward||meta mark set numgen inc mod 2`,
	`ip filter forward||meta mark set numgen random mod 4 offset 100`,
	`ip filter forward||meta mark set symhash mod 2 offset 100`,
	`ip filter forward||meta mark set numgen inc mod 2 map { 0 : 1, 1 : 2 }`,
	`ip filter forward||meta mark set meta mark ^ 0x1`,
	`ip6 nat prerouting||dnat to [2001:838:35f:1::]/64`,
	`ip filter input||limit rate 1/week`,
	`L:ip filter prerouting||dup to ip daddr map { 192.168.7.1 : 10.2.3.4, 192.168.7.2 : 10.2.3.5 }`,
	`L:ip filter prerouting||dup to ip saddr map { 10.0.0.1 : 10.2.3.4 } device "lo"`,
	`L:ip6 filter prerouting||dup to ip6 saddr map { fd00::1 : fd00::2 }`,
	`ip filter input|map dyn { type ipv4_addr : mark; flags dynamic, timeout; }|update @dyn { ip saddr : 0x1 }`,
	`ip filter input|map dyn { type ipv4_addr : mark; flags dynamic, timeout; }|add @dyn { ip saddr timeout 1m : 0x2 }`,
	`ip filter input|map dyn { type ipv4_addr : inet_service; flags dynamic; }|add @dyn { ip saddr : 443 }`,
	`ip filter input||meter m3 { ip saddr ct count over 20 } drop`,
	`ip filter input||meter m1 { ip saddr limit rate 10/second } accept`,
	`ip filter input||meter m1 { ip saddr timeout 1m limit rate 10/second } accept`,
	`ip filter input||meter m2 { ip saddr . tcp dport counter }`,
	`ip filter prerouting||ct zone set mark map { 1 : 1, 2 : 2 }`,
	`ip filter prerouting||ct zone set ip saddr map { 10.0.0.1 : 5, 10.0.0.2 : 65535 }`,
	`ip filter prerouting||meta priority set tcp dport map { 22 : 1:1, 80 : 1:2 }`,
	`ip filter prerouting||meta pkttype set mark map { 1 : host, 2 : other }`,
	`ip filter prerouting||ct original zone set mark map { 1 : 1 }`,
	`L:ip filter prerouting||ct original zone set 1`,
	`L:inet filter prerouting||ct reply zone set 2`,
	`ip nat prerouting||dnat tcp dport map { 1000 : 1.1.1.1, 2000 : 2.2.2.2 } : tcp dport map { 1000 : 1234, 2000 : 2345 }`,
	`ip nat prerouting||meta l4proto tcp dnat ip saddr map { 10.0.0.1 : 1.1.1.1 } : tcp dport map { 80 : 8080 }`,
	`ip nat postrouting||snat ip saddr map { 192.168.1.1 : 1.1.1.1, 192.168.2.2 : 2.2.2.2 }`,
	`ip nat postrouting||snat 1.2.3.4`,
	`ip filter input||log prefix aaaaa-aaaaaa group 2 snaplen 33`,
	// Named object maps of objects the kernel keeps (NFT_SET_OBJECT).
	"ip filter input|synproxy s1 { mss 1460; wscale 7; }\n\tmap sm { type inet_service : synproxy; elements = { 443 : \"s1\" }; }|synproxy name tcp dport map @sm",
	"ip filter input|synproxy s1 { mss 1460; wscale 7; }\n\tmap sn { type ipv4_addr : synproxy; flags interval; elements = { 10.0.0.0/8 : \"s1\" }; }|synproxy name ip saddr map @sn",
}

// TestMapStmtTranslationMatchesNft loads each case with `nft -f` as table t
// and through nfd's planner and programmer as nfd_t, in one namespace, and
// compares what nft lists for the rule (without nfd's counter).
func TestMapStmtTranslationMatchesNft(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "dmx")
	newConn := connIn(t, ns)
	for _, line := range mapStmtCases {
		listed := strings.HasPrefix(line, "L:")
		line = strings.TrimPrefix(line, "L:")
		parts := strings.SplitN(line, "|", 3)
		where, decl, rule := strings.Fields(parts[0]), parts[1], parts[2]
		fam, typ, hook := where[0], where[1], where[2]
		prio := "0"
		if typ == "nat" {
			prio = map[string]string{"prerouting": "dstnat", "postrouting": "srcnat"}[hook]
		}
		src := fmt.Sprintf("table %s t {\n\t%s\n\tchain c {\n\t\ttype %s hook %s priority %s; policy accept;\n\t\t%s\n\t}\n}\n", fam, decl, typ, hook, prio, rule)
		rs := loadNativeBoth(t, ns, newConn, line, src)
		// Compared at the netlink level: google/nftables marks every
		// anonymous set's keys big-endian in the set's user data, so nft
		// lists host-order keys and data (marks) of nfd's anonymous maps
		// byte-swapped although the kernel holds the same bytes.
		want := netlinkRule(t, ns, fam, "t")
		got := netlinkRule(t, ns, fam, planner.KernelTableName("t"))
		if listed {
			want = chainRule(t, ns, fam, "t", typ)
			got = counterRE.ReplaceAllString(chainRule(t, ns, fam, planner.KernelTableName("t"), typ), "")
		}
		if got != want {
			t.Errorf("%s:\n nft loads\n%s\n nfd loads\n%s", line, want, got)
		}
		if lw, lg := chainRule(t, ns, fam, "t", typ), counterRE.ReplaceAllString(chainRule(t, ns, fam, planner.KernelTableName("t"), typ), ""); lw != lg {
			t.Logf("%s: nft lists nft's rule as %q, nfd's as %q", line, lw, lg)
		}
		if printed := parser.FormatRule(rs.Tables[0].Chains[0].Rules[0]); printed != want {
			t.Logf("%s: nfd prints %q, nft lists %q", line, printed, want)
		}
	}
}

// netlinkRule is what `nft --debug=netlink list table` shows of the sets
// and the first rule of chain c: table name, handles and counters taken
// out, runs of set elements sorted.
func netlinkRule(t *testing.T, ns *netns.NS, fam, name string) string {
	t.Helper()
	out, err := ns.Run("nft", "--debug=netlink", "list", "table", fam, name)
	if err != nil {
		t.Fatalf("nft list %s: %v\n%s", name, err, out)
	}
	var lines []string
	rules := 0
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "table ") {
			break
		}
		if l == "" || strings.Contains(l, "[ counter") {
			continue
		}
		// nft opens an interval set with an end marker at 0 when its
		// first interval starts above it; the kernel finds nothing below
		// the first start either way.
		if strings.HasPrefix(l, "element ") && strings.Trim(strings.Fields(l)[1], "0") == "" && strings.HasSuffix(l, ": 1 [end]") {
			continue
		}
		if f := strings.Fields(l); len(f) >= 3 && f[0] == fam && f[1] == name {
			if f[2] == "c" {
				if rules++; rules > 1 {
					break
				}
				f = f[:3]
			}
			f[1] = "T"
			l = strings.Join(f, " ")
		}
		lines = append(lines, l)
	}
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && strings.HasPrefix(lines[j], "element ") {
			j++
		}
		sort.Strings(lines[i:j])
		if j == i {
			j++
		}
		i = j
	}
	return strings.Join(lines, "\n")
}

// chainRule is the first rule line of chain c of a table of chain type typ.
func chainRule(t *testing.T, ns *netns.NS, fam, name, typ string) string {
	t.Helper()
	out, err := ns.Run("nft", "list", "chain", fam, name, "c")
	if err != nil {
		t.Fatalf("nft list %s: %v\n%s", name, err, out)
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, "type "+typ+" hook") && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	t.Fatalf("no rule in %s:\n%s", name, out)
	return ""
}
