package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

const dormantRules = `table inet maint {
	flags dormant
	comment "maintenance"
	chain forward_c {
		type filter hook forward priority 0; policy accept;
		tcp dport 80 reject with tcp reset
	}
}
`

// TestDormantTable: a `flags dormant` table drops nothing, under nft -f
// as under nfd (--offload=none and auto); a reload without the flag
// wakes it, and one with it puts it to sleep again.
func TestDormantTable(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	awake := strings.Replace(dormantRules, "\tflags dormant\n", "", 1)
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, nil)
	addr := hostPort(netns.ServerIP4, 80)
	nftLoad(t, tp.FW, dormantRules)
	want := tcpTry(tp.Client, addr)
	nftLoad(t, tp.FW, awake)
	wantAwake := tcpTry(tp.Client, addr)
	if want != ok || wantAwake != refused {
		t.Fatalf("nft -f: dormant %s, awake %s", want, wantAwake)
	}
	resetFW(t, tp)
	for _, mode := range []string{"none", "auto"} {
		d := startDaemon(t, tp.FW, dormantRules, "--offload", mode)
		if got := tcpTry(tp.Client, addr); got != want {
			t.Errorf("--offload=%s dormant: %s, nft -f %s", mode, got, want)
		}
		for i, src := range []string{awake, dormantRules} {
			f := filepath.Join(t.TempDir(), "r.nft")
			if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, f); code != 0 {
				t.Fatalf("reload: %s", errOut)
			}
			w := []string{wantAwake, want}[i]
			if got := tcpTry(tp.Client, addr); got != w {
				t.Errorf("--offload=%s after reload %d: %s, want %s", mode, i, got, w)
			}
		}
		if err := d.stop(syscall.SIGTERM); err != nil {
			t.Logf("nfd exit: %v", err)
		}
		resetFW(t, tp)
	}
}
