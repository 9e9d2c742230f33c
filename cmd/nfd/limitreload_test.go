package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

const limitReloadRules = `table inet fw {
	limit newconns {
		rate 1/hour burst 2 packets
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		tcp dport 80 limit name "newconns" accept
	}
}
`

// TestLimitObjectKeptAcrossReload: a named limit's bucket is not refilled
// by a reload of a file that keeps it unchanged. The kernel's precedent:
// `nft -f` declaring an existing limit object leaves it as it is
// (nf_tables_newobj: no update for a limit), so the connection after the
// reload is refused there too.
func TestLimitObjectKeptAcrossReload(t *testing.T) {
	try := func(tp *netns.Topology, n int) string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)))
		}
		return strings.Join(out, " ")
	}
	for _, offload := range []string{"none", "auto"} {
		t.Run(offload, func(t *testing.T) {
			netns.SkipUnlessRoot(t, "nft")
			tp := netns.NewTopology(t)
			servers(t, tp.Server, []int{80}, nil)
			dir := t.TempDir()
			f := filepath.Join(dir, "rules.nft")
			must(t, os.WriteFile(f, []byte(limitReloadRules), 0o644))

			// The kernel.
			resetFW(t, tp)
			if out, err := tp.FW.Run("nft", "-f", f); err != nil {
				t.Fatalf("nft -f: %v\n%s", err, out)
			}
			kernel := try(tp, 3)
			again := filepath.Join(dir, "again.nft")
			must(t, os.WriteFile(again, []byte("table inet fw {\n\tlimit newconns {\n\t\trate 1/hour burst 2 packets\n\t}\n}\n"), 0o644))
			if out, err := tp.FW.Run("nft", "-f", again); err != nil {
				t.Fatalf("nft -f again: %v\n%s", err, out)
			}
			kernel += " | " + try(tp, 1)
			resetFW(t, tp)
			if want := "ok ok timeout | timeout"; kernel != want {
				t.Fatalf("the kernel gives %s, the test expects %s", kernel, want)
			}

			// nfd: a reload of the same file.
			d := startDaemon(t, tp.FW, limitReloadRules, "--offload", offload)
			got := try(tp, 3)
			if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket); code != 0 {
				t.Fatalf("reload: exit %d %s", code, errOut)
			}
			got += " | " + try(tp, 1)
			if got != kernel {
				t.Fatalf("nfd gives %s, the kernel %s", got, kernel)
			}
		})
	}
}
