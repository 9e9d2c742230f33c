package parser

import (
	"strings"
	"testing"
)

// TestKernelStmtRefusals: kernel-only statements are refused at check time
// where nft or the kernel refuse them.
func TestKernelStmtRefusals(t *testing.T) {
	for _, tc := range []struct{ fam, hook, rule, want string }{
		{"ip", "input", "meta pkttype set host", "runs only at prerouting"},
		{"ip", "prerouting", "synproxy mss 1460", "runs only at input or forward"},
		{"ip", "input", "meta l4proto tcp tproxy to :80", "runs only at prerouting"},
		{"ip", "prerouting", "tproxy to :80", "needs a transport protocol match"},
		{"inet", "prerouting", "meta l4proto tcp tproxy to 10.0.0.1:80", "specify `tproxy ip to`"},
		{"ip", "prerouting", "meta l4proto tcp tproxy to [::1]:80", "`tproxy` to an IPv6 address in an ip table"},
		{"ip6", "prerouting", "meta l4proto tcp tproxy ip to 10.0.0.1:80", "`tproxy` to an IPv4 address in an ip6 table"},
		{"inet", "prerouting", "dup to 10.0.0.1", "ip and ip6 tables only"},
		{"ip", "prerouting", "dup to fd00::1", "`dup` to an IPv6 address in an ip table"},
		{"ip", "input", "meta nftrace set 2", "expected 0 or 1"},
		{"ip", "input", "synproxy wscale 15", "above TCP's maximum of 14"},
		{"ip", "input", "ct label set 128", "a label bit (0-127)"},
		{"ip", "input", "ct event set bogus", "conntrack events"},
		{"ip", "input", "meta priority set 1:10000", "class id"},
		{"ip", "input", "log level audit prefix \"x\"", "takes no other option"},
		{"ip", "input", "log group 1 level info", "mutually exclusive"},
		{"ip", "input", "quota 1 kbytes used 2 kbytes", "more used than the quota"},
		{"ip", "input", "quota 1 gbytes", "expected a unit"},
	} {
		src := "table " + tc.fam + " t {\n\tchain c {\n\t\ttype filter hook " + tc.hook + " priority 0;\n\t\t" + tc.rule + "\n\t}\n}\n"
		_, err := Parse("t.nft", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %q: got %v, want %q", tc.fam, tc.hook, tc.rule, err, tc.want)
		}
	}
}
