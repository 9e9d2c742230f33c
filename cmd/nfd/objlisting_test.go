package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// objectRules name two counters (one through a named object map) and two
// quotas (one under its limit, one over it) from forwarded traffic, and
// declare a limit and a ct helper.
const objectRules = `table inet fw {
	counter web {
		packets 0 bytes 0
	}
	quota dns {
		1000 bytes
	}
	quota small {
		over 50 bytes
	}
	limit slow {
		rate 100/second burst 5 packets
	}
	counter udpc {
	}
	ct helper ftp-standard {
		type "ftp" protocol tcp
		l3proto inet
	}
	map udpports {
		type inet_service : counter
		elements = { 53 : "udpc", 55 : "udpc" }
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		tcp dport 80 counter name "web" accept
		tcp dport 81 limit name "slow" accept
		tcp dport 21 ct helper set "ftp-standard" accept
		counter name udp dport map @udpports
		udp dport 53 quota name "dns" accept
		udp dport 55 quota name "small" drop
		udp dport 55 accept
	}
}
`

// objectTraffic sends what objectRules count: three TCP connections to
// port 80 (three SYNs reach the counter), three UDP queries to port 53
// (three first packets reach the quota) and three to port 55 (the first
// under the quota, the rest over it). It returns the outcomes.
func objectTraffic(tp *netns.Topology) string {
	var out []string
	for i := 0; i < 3; i++ {
		out = append(out, "tcp80 "+tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)))
	}
	for i := 0; i < 3; i++ {
		out = append(out, "udp53 "+udpTry(tp.Client, hostPort(netns.ServerIP4, 53)))
	}
	for i := 0; i < 3; i++ {
		out = append(out, "udp55 "+udpTry(tp.Client, hostPort(netns.ServerIP4, 55)))
	}
	return strings.Join(out, ", ")
}

// objectValueRE finds a counter's or quota's block in a listing: its
// kind, name and first line of body.
var objectValueRE = regexp.MustCompile(`(?m)^\s*(counter|quota) (\S+) \{\s*\n\s*([^\n]*?)\s*\n`)

func objectValues(listing string) map[string]string {
	out := map[string]string{}
	for _, m := range objectValueRE.FindAllStringSubmatch(listing, -1) {
		out[m[1]+" "+m[2]] = m[3]
	}
	return out
}

// TestRulesListsObjects: `nfd rules` lists a table's named objects with
// their live values, the same values `nft list counters` and `nft list
// quotas` give for the same file loaded with nft -f after the same
// traffic, and the listing is a file `nfd check` accepts.
func TestRulesListsObjects(t *testing.T) {
	for _, offload := range []string{"none", "auto"} {
		t.Run(offload, func(t *testing.T) {
			netns.SkipUnlessRoot(t, "nft")
			tp := netns.NewTopology(t)
			servers(t, tp.Server, []int{80}, []int{53, 55})

			// The kernel.
			resetFW(t, tp)
			f := filepath.Join(t.TempDir(), "objects.nft")
			must(t, os.WriteFile(f, []byte(objectRules), 0o644))
			if out, err := tp.FW.Run("nft", "-f", f); err != nil {
				t.Fatalf("nft -f: %v\n%s", err, out)
			}
			kernelOutcomes := objectTraffic(tp)
			var kernelList string
			for _, what := range []string{"counters", "quotas"} {
				out, err := tp.FW.Run("nft", "list", what)
				if err != nil {
					t.Fatalf("nft list %s: %v\n%s", what, err, out)
				}
				kernelList += out
			}
			resetFW(t, tp)
			want := objectValues(kernelList)
			if len(want) != 4 || want["counter udpc"] != "packets 6 bytes 174" || want["counter web"] == "packets 0 bytes 0" || !strings.Contains(want["quota dns"], "used") {
				t.Fatalf("the kernel's objects are not what the test expects (%v):\n%s", want, kernelList)
			}

			// nfd.
			d := startDaemon(t, tp.FW, objectRules, "--offload", offload)
			if got := objectTraffic(tp); got != kernelOutcomes {
				t.Fatalf("outcomes: nft %s; nfd %s", kernelOutcomes, got)
			}
			out, errOut, code := runIn(t, tp.FW, "rules", "--socket", d.socket)
			if code != 0 {
				t.Fatalf("nfd rules: exit %d %s\n%s", code, errOut, out)
			}
			got := objectValues(out)
			if diffs := oracleDiffs(want, got, "nft"); len(diffs) > 0 || len(got) != len(want) {
				t.Fatalf("object values differ from the kernel's:\n%s\nnft lists:\n%s\nnfd rules:\n%s", strings.Join(diffs, "\n"), kernelList, out)
			}
			for _, decl := range []string{"limit slow {\n\t\trate 100/second burst 5 packets\n\t}", "ct helper ftp-standard {\n\t\ttype \"ftp\" protocol tcp\n\t\tl3proto inet\n\t}"} {
				if !strings.Contains(out, decl) {
					t.Errorf("nfd rules lacks %q:\n%s", decl, out)
				}
			}
			listing := filepath.Join(t.TempDir(), "listing.nft")
			must(t, os.WriteFile(listing, []byte(out), 0o644))
			if _, errOut, code := run(t, "check", listing); code != 0 {
				t.Fatalf("nfd check of the listing: exit %d %s\n%s", code, errOut, out)
			}
		})
	}
}
