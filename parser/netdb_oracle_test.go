package parser

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// dbNames lists every name and alias of a services or protocols file.
func dbNames(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("%s: %v (install netbase)", path, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := dbFields([]byte(l))
		if len(f) < 2 {
			continue
		}
		for _, n := range append([]string{f[0]}, f[2:]...) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// nftLoadList loads text with `nft -f` in ns and returns the listing's
// rule lines (numeric ports, as nft prints by default), or nft's error.
func nftLoadList(t *testing.T, ns *netns.NS, text string) ([]string, error) {
	f := filepath.Join(t.TempDir(), "names.nft")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Run("nft", "-f", f); err != nil {
		return nil, err
	}
	defer ns.Run("nft", "flush", "ruleset") //nolint:errcheck
	out, err := ns.Run("nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	return ruleLines(out), nil
}

// ruleLines keeps the lines of a listing that are rules.
func ruleLines(listing string) []string {
	var out []string
	for _, l := range strings.Split(listing, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, " accept") {
			out = append(out, l)
		}
	}
	return out
}

// testNamesAgainstNft: every name in names, in a rule `<match> NAME
// accept`, is accepted by nfd exactly when `nft -f` accepts it, and both
// print the rule the same way (so with the same number).
func testNamesAgainstNft(t *testing.T, ns *netns.NS, match string, names []string) {
	rule := func(n string) string { return fmt.Sprintf("%s %s accept", match, n) }
	table := func(rules []string) string {
		return "table inet names {\n\tchain c {\n\t\t" + strings.Join(rules, "\n\t\t") + "\n\t}\n}\n"
	}
	var accepted, refused []string
	for _, n := range names {
		if _, err := Parse("one.nft", []byte(table([]string{rule(n)}))); err == nil {
			accepted = append(accepted, n)
		} else {
			refused = append(refused, n)
		}
	}
	var rules []string
	for _, n := range accepted {
		rules = append(rules, rule(n))
	}
	src := table(rules)
	got, err := nftLoadList(t, ns, src)
	if err != nil {
		// Find which ones nft refuses.
		for _, n := range accepted {
			if _, err := nftLoadList(t, ns, table([]string{rule(n)})); err != nil {
				t.Errorf("nfd accepts `%s`, nft refuses it: %v", rule(n), err)
			}
		}
		return
	}
	rs, err := Parse("all.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := ruleLines(Print(rs))
	if len(got) != len(want) {
		t.Fatalf("nft lists %d rules, nfd prints %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("`%s`: nft lists `%s`, nfd prints `%s`", rules[i], got[i], want[i])
		}
	}
	for _, n := range refused {
		if _, err := nftLoadList(t, ns, table([]string{rule(n)})); err == nil {
			t.Errorf("nft accepts `%s`, nfd refuses it", rule(n))
		}
	}
	t.Logf("%s: %d names accepted by both with the same numbers, %d refused by both", match, len(accepted), len(refused))
}

// TestServiceNamesMatchNft: every service name and alias of the host's
// /etc/services (and the names nfd embeds for hosts without it, and a few
// near misses) as `tcp dport` and `udp dport`.
func TestServiceNamesMatchNft(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	names := dbNames(t, servicesPath)
	for _, s := range TypeService.Symbols {
		names = append(names, s.Name)
	}
	names = append(names, "SSH", "Http", "ssh-", "nosuchservice", "65535", "65536", "0x16", `"ssh"`, `"time"`, `"mdns"`)
	names = dedup(names)
	ns := netns.New(t, "names")
	testNamesAgainstNft(t, ns, "tcp dport", names)
	testNamesAgainstNft(t, ns, "udp sport", names)
}

// TestProtocolNamesMatchNft: every protocol name and alias of the host's
// /etc/protocols, nft's keywords, every number 0-255 (printed back by
// name as nft does) and a few near misses.
func TestProtocolNamesMatchNft(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	names := dbNames(t, protocolsPath)
	for _, s := range TypeProto.Symbols {
		names = append(names, s.Name)
	}
	for n := range protoKeywords {
		names = append(names, n)
	}
	for i := 0; i < 256; i++ {
		names = append(names, fmt.Sprint(i))
	}
	names = append(names, "Tcp", "nosuchproto", "256")
	names = dedup(names)
	ns := netns.New(t, "names")
	testNamesAgainstNft(t, ns, "ip protocol", names)
	testNamesAgainstNft(t, ns, "meta l4proto", names)
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}
