package kernel

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// stmtLines are statements nfd translates for the kernel; each must load
// as exactly what nft loads for the same rule.
var stmtLines = []string{
	`log`,
	`log prefix "x: " level info`,
	`log level audit`,
	`log flags tcp sequence,options`,
	`log flags tcp sequence`,
	`log flags tcp options flags ip options`,
	`log flags ip options`,
	`log flags skuid`,
	`log flags ether`,
	`log flags all`,
	`log prefix "f" level debug flags all`,
	`log group 2`,
	`log group 2 prefix "ulog: "`,
	`log group 2 snaplen 128`,
	`log group 2 queue-threshold 10`,
	`log group 0 snaplen 64 queue-threshold 2 prefix "x"`,
	`log group 70000`,
	`log snaplen 128`,
	`quota 25 mbytes`,
	`quota over 25 mbytes drop`,
	`quota 10 bytes`,
	`quota until 100 kbytes accept`,
	`quota 500 kbytes used 100 kbytes`,
	`ip saddr 10.0.0.1 quota over 100 mbytes drop`,
	`ip prerouting|meta priority set 1:1`,
	`ip prerouting|meta priority set none`,
	`ip prerouting|meta priority set root`,
	`ip prerouting|meta priority set abcd:12`,
	`ip prerouting|meta pkttype set host`,
	`inet prerouting|meta pkttype set other`,
	`ip prerouting|meta nftrace set 1`,
	`ip prerouting|tcp dport 22 meta nftrace set 1`,
	`ip prerouting|ct zone set 1`,
	`inet prerouting|ct zone set 65535`,
	`ip prerouting|ct label set 1`,
	`ip prerouting|ct label set 127`,
	`ip prerouting|ct event set new`,
	`ip prerouting|ct event set new,related,destroy`,
	`ip prerouting|ct event set label`,
	`ip prerouting|ct event set 0`,
	`ip prerouting|meta l4proto tcp tproxy to :50080`,
	`ip prerouting|meta l4proto tcp tproxy to 127.0.0.1:50080`,
	`ip prerouting|tcp dport 80 tproxy to :50080 meta mark set 0x00000001 accept`,
	`ip prerouting|meta l4proto udp tproxy to :50053`,
	`inet prerouting|meta l4proto tcp tproxy to :50080`,
	`inet prerouting|meta l4proto tcp tproxy ip to 127.0.0.1:50080`,
	`inet prerouting|meta l4proto tcp tproxy ip6 to [::1]:50080`,
	`ip6 prerouting|meta l4proto tcp tproxy to [::1]:50080`,
	`ip prerouting|dup to 10.2.3.4`,
	`ip prerouting|dup to 10.2.3.4 device "lo"`,
	`ip prerouting|ip saddr 10.0.0.1 dup to 172.16.0.1 device "lo"`,
	`ip6 prerouting|dup to fd00::1 device "lo"`,
	`ip prerouting|ct mark set ct mark | 0x1`,
	`ip prerouting|meta mark set meta mark | 0x10`,
	`ip prerouting|ct mark set ct mark and 0xffff0000 or 0x10`,
	`ip prerouting|meta mark set meta mark and 0xffffff00 or 0x02`,
	`ip prerouting|meta mark set ct mark and 0xff`,
	`ip prerouting|meta mark set meta mark xor 0x3`,
	`ip prerouting|meta mark set meta mark and 0xf0 xor 0x33`,
	`ct secmark set meta secmark`,
	`meta secmark set ct secmark`,
	`inet output|ct secmark set meta secmark`,
	`ip prerouting|meta mark set meta mark << 8`,
	`ip prerouting|meta mark set meta mark >> 8`,
	`ip prerouting|ct mark set meta mark >> 16 & 0x000000ff`,
	`ip prerouting|meta mark set ct mark << 8 | 0x00000001`,
	`ip prerouting|ct mark set ct mark >> 31`,
	`inet prerouting|meta mark set ct mark << 4 xor 0x00000003`,
	`synproxy mss 1460 wscale 7 timestamp sack-perm`,
	`synproxy mss 1460`,
	`synproxy wscale 7 sack-perm`,
	`synproxy timestamp`,
	`synproxy wscale 0`,
	`tcp dport 8888 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm`,
}

// counterRE matches the counters nfd adds to every native rule.
var counterRE = regexp.MustCompile(` ?counter packets \d+ bytes \d+`)

// TestStmtTranslationMatchesNft loads each statement with `nft -f` as table
// t and with nfd's planner and programmer as nfd_t, in one throw-away
// namespace, and compares the rule nft lists for both (without the
// counter nfd adds to each native rule).
func TestStmtTranslationMatchesNft(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "stx")
	newConn := connIn(t, ns)
	for _, line := range stmtLines {
		fam, hook := "ip", "input" // or "FAMILY HOOK|rule"
		if where, rule, ok := strings.Cut(line, "|"); ok {
			fam, hook, _ = strings.Cut(where, " ")
			line = rule
		}
		src := fmt.Sprintf("table %s t {\n\tchain c {\n\t\ttype filter hook %s priority 0; policy accept;\n\t\t%s\n\t}\n}\n", fam, hook, line)
		rs := loadNativeBoth(t, ns, newConn, line, src)
		want := firstRule(t, ns, fam, "t")
		got := strings.TrimSpace(counterRE.ReplaceAllString(firstRule(t, ns, fam, planner.KernelTableName("t")), ""))
		if got != want {
			t.Errorf("%s:\n nft loads  %q\n nfd loads  %q", line, want, got)
		}
		// What nfd prints for the rule is what nft lists, or reads back as it.
		if printed := parser.FormatRule(rs.Tables[0].Chains[0].Rules[0]); printed != want {
			t.Logf("%s: nfd prints %q, nft lists %q", line, printed, want)
		}
	}
}

// firstRule is the first rule line of chain c of table fam name, as nft
// lists it.
func firstRule(t *testing.T, ns *netns.NS, fam, name string) string {
	t.Helper()
	out, err := ns.Run("nft", "list", "chain", fam, name, "c")
	if err != nil {
		t.Fatalf("nft list %s: %v\n%s", name, err, out)
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, "type filter hook") && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	t.Fatalf("no rule in %s:\n%s", name, out)
	return ""
}

// setDecls are named sets whose element state nfd programs natively.
var setDecls = []string{
	`set s { type ipv4_addr; flags timeout; elements = { 10.0.0.1 timeout 1h, 10.0.0.2 timeout 4h comment "crowdsec" }; }`,
	`set s { type ipv4_addr; flags timeout; timeout 1d; elements = { 10.0.0.1, 10.0.0.3 timeout 30m }; }`,
	`set s { type ipv4_addr; timeout 1h; elements = { 10.0.0.1 }; }`,
	`set s { type ipv4_addr; counter; elements = { 10.0.0.1 counter comment "web", 10.0.0.2 }; }`,
	`set s { type ipv4_addr; flags interval, timeout; elements = { 10.0.0.0/8 timeout 1m comment "n", 192.168.0.0/16 }; }`,
	`set s { type ipv4_addr; comment "a set"; elements = { 10.0.0.1 comment "one" }; }`,
}

// expiresRE matches what ticks between two listings.
var expiresRE = regexp.MustCompile(` expires [0-9dhms]+`)

// TestSetStateMatchesNft loads each set, used by one rule, with `nft -f` as
// table t and with nfd as nfd_t, and compares what nft lists for the two
// sets (without the time left, which ticks).
func TestSetStateMatchesNft(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "sst")
	newConn := connIn(t, ns)
	for _, decl := range setDecls {
		src := fmt.Sprintf("table ip t {\n\t%s\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr @s accept\n\t}\n}\n", decl)
		loadNativeBoth(t, ns, newConn, decl, src)
		list := func(table string) string {
			out, err := ns.Run("nft", "list", "set", "ip", table, "s")
			if err != nil {
				t.Fatalf("nft list set %s: %v\n%s", table, err, out)
			}
			out = expiresRE.ReplaceAllString(out, "")
			return strings.Replace(out, "table ip "+table+" {", "table ip T {", 1)
		}
		if want, got := list("t"), list(planner.KernelTableName("t")); got != want {
			t.Errorf("%s:\nnft loads:\n%s\nnfd loads:\n%s", decl, want, got)
		}
	}
}

// TestDynsetMatchesNft: rules that add to, update and delete from sets,
// with per-element statements, and the sets they update, load as nft
// loads them: `nft list table` of nfd's table equals nft's own, without
// the counters nfd adds and its policy counter rule.
func TestDynsetMatchesNft(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "dyn")
	newConn := connIn(t, ns)
	const src = `table ip t {
	set blackhole { type ipv4_addr; flags dynamic, timeout; size 65536; timeout 10m; }
	set ssh_meter { type ipv4_addr; flags dynamic; }
	set flowset { type ipv4_addr . inet_service; flags dynamic, timeout; }
	set plain { type ipv4_addr; }
	map dynaddr { type ipv4_addr : ipv4_addr; flags dynamic; }
	set conns { type ipv4_addr; flags dynamic; }
	chain in {
		type filter hook input priority 0; policy accept;
		add @blackhole { ip saddr }
		add @blackhole { ip saddr timeout 1m }
		update @blackhole { ip saddr timeout 10s }
		delete @blackhole { ip saddr }
		ip saddr @blackhole drop
		ip saddr != @plain accept
		tcp dport 22 ct state new add @ssh_meter { ip saddr limit rate over 10/minute } drop
		tcp dport 22 ct state new update @blackhole { ip saddr timeout 1h limit rate over 3/minute } drop
		update @ssh_meter { ip saddr counter }
		add @ssh_meter { ip saddr counter quota over 10 mbytes } drop
		add @flowset { ip saddr . tcp dport timeout 30s }
		add @plain { ip saddr }
		add @dynaddr { ip saddr : 10.0.0.1 }
		add @conns { ip saddr ct count over 20 } drop
	}
}
`
	loadNativeBoth(t, ns, newConn, "dynamic sets", src)
	// Chain and sets one by one: nfd adds sets in the order rules use
	// them, nft in the file's.
	list := func(table string) string {
		var out string
		for _, obj := range [][]string{{"chain", "in"}, {"set", "blackhole"}, {"set", "ssh_meter"}, {"set", "flowset"}, {"set", "plain"}} {
			o, err := ns.Run("nft", "list", obj[0], "ip", table, obj[1])
			if err != nil {
				t.Fatalf("nft list %s %s: %v\n%s", table, obj, err, o)
			}
			out += o
		}
		var keep []string
		for _, l := range strings.Split(counterRE.ReplaceAllString(out, ""), "\n") {
			if strings.TrimSpace(l) != "" {
				keep = append(keep, l)
			}
		}
		return strings.ReplaceAll(strings.Join(keep, "\n"), "table ip "+table+" {", "table ip T {")
	}
	if want, got := list("t"), list(planner.KernelTableName("t")); got != want {
		t.Errorf("nft loads:\n%s\nnfd loads:\n%s", want, got)
	}
}
