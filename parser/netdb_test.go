package parser

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withNetDB points the databases at files holding services and protocols
// ("" for a missing file) for the test's duration.
func withNetDB(t *testing.T, services, protocols string) {
	dir := t.TempDir()
	sp, pp := filepath.Join(dir, "services"), filepath.Join(dir, "protocols")
	if services != "" {
		if err := os.WriteFile(sp, []byte(services), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if protocols != "" {
		if err := os.WriteFile(pp, []byte(protocols), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	oldS, oldP := servicesPath, protocolsPath
	servicesPath, protocolsPath = sp, pp
	resetNetDB()
	t.Cleanup(func() { servicesPath, protocolsPath = oldS, oldP; resetNetDB() })
}

func parseRule(t *testing.T, rule string) (string, error) {
	t.Helper()
	rs, err := Parse("t.nft", []byte("table inet t {\n\tchain c {\n\t\t"+rule+"\n\t}\n}\n"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(FormatRule(rs.Tables[0].Chains[0].Rules[0])), nil
}

// TestNetDBLookups: names resolve through the files with glibc's rules
// (tcp before udp, first line wins, aliases, ddp entries ignored, exact
// case), protocols print by their first official name, and nft keywords
// are refused unquoted.
func TestNetDBLookups(t *testing.T) {
	withNetDB(t, `# comment
mdns		5353/udp			# Multicast DNS
distcc		3632/tcp			# distcc
dhcpv6-client	546/udp
dupl		100/udp
dupl		101/tcp		dupalias
rtmp		1/ddp
time		37/tcp		timserver
`, `ip	0	IP
ospf	89	OSPFIGP
ipv6-icmp 58	IPv6-ICMP
mptcp	262	MPTCP
hopopt	0	HOPOPT
`)
	for rule, want := range map[string]string{
		"udp dport mdns accept":          "udp dport 5353 accept",
		"tcp dport distcc accept":        "tcp dport 3632 accept",
		"udp dport dhcpv6-client accept": "udp dport 546 accept",
		"udp dport dupl accept":          "udp dport 101 accept", // tcp's entry first, as getaddrinfo
		"tcp dport dupalias accept":      "tcp dport 101 accept",
		"tcp dport timserver accept":     "tcp dport 37 accept",
		`tcp dport "time" accept`:        "tcp dport 37 accept",
		"ip protocol ospf accept":        "ip protocol ospf accept",
		"ip protocol OSPFIGP accept":     "ip protocol ospf accept",
		"ip protocol 89 accept":          "ip protocol ospf accept",
		"ip protocol 0 accept":           "ip protocol ip accept",
		"meta l4proto icmpv6 accept":     "meta l4proto ipv6-icmp accept",
		"ip protocol mptcp accept":       "ip protocol 6 accept", // nft's uint8_t; no "tcp" line here
		"ip protocol tcp accept":         "ip protocol 6 accept", // a keyword, file or not
		"ip protocol 112 accept":         "ip protocol 112 accept",
	} {
		got, err := parseRule(t, rule)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", rule, got, err, want)
		}
	}
	for rule, want := range map[string]string{
		"tcp dport rtmp accept":  "expected inet_service",
		"tcp dport MDNS accept":  "expected inet_service",
		"tcp dport ssh accept":   "expected inet_service", // not in this file: no fallback
		"tcp dport time accept":  "`time` is an nft keyword, which nft does not take as a service name here: write 37 or \"time\"",
		"ip protocol gre accept": "expected inet_proto",
	} {
		if _, err := parseRule(t, rule); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", rule, err, want)
		}
	}
}

// TestNetDBFallback: without the files (no netbase) the embedded names and
// nft's keywords still resolve, and protocols print by keyword or number.
func TestNetDBFallback(t *testing.T) {
	withNetDB(t, "", "")
	for rule, want := range map[string]string{
		"tcp dport ssh accept":          "tcp dport 22 accept",
		"ip protocol gre accept":        "ip protocol 47 accept",
		"ip protocol tcp accept":        "ip protocol tcp accept",
		"meta l4proto ipv6-icmp accept": "meta l4proto icmpv6 accept",
	} {
		got, err := parseRule(t, rule)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", rule, got, err, want)
		}
	}
}
