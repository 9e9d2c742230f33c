package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// TestRulesCounterLive: `nfd rules` prints a rule's own `counter`
// statement with the rule's live count (the same number as the line's
// note), in userspace and in the kernel, not the value the file set.
func TestRulesCounterLive(t *testing.T) {
	rules := strings.Replace(forwardRules, `tcp dport 80 accept comment "web"`, `tcp dport 80 counter packets 0 bytes 0 accept comment "web"`, 1)
	for _, offload := range []string{"none", "auto"} {
		t.Run(offload, func(t *testing.T) {
			netns.SkipUnlessRoot(t, "nft")
			tp := netns.NewTopology(t)
			servers(t, tp.Server, []int{80}, nil)
			d := startDaemon(t, tp.FW, rules, "--offload", offload)
			for i := 0; i < 3; i++ {
				if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
					t.Fatalf("port 80: %s", got)
				}
			}
			out, errOut, code := runIn(t, tp.FW, "rules", "--socket", d.socket)
			m := regexp.MustCompile(`tcp dport 80 counter packets (\d+) bytes (\d+) accept comment "web" # handle \d+, [^\n]*packets (\d+) bytes (\d+)`).FindStringSubmatch(out)
			if code != 0 || m == nil {
				t.Fatalf("nfd rules: exit %d %s\n%s", code, errOut, out)
			}
			// Three SYNs match the rule (the rest is established).
			if m[1] != m[3] || m[2] != m[4] || m[1] != "3" {
				t.Fatalf("counter statement says %s packets %s bytes, the rule %s packets %s bytes (want 3 packets):\n%s", m[1], m[2], m[3], m[4], out)
			}
		})
	}
}
