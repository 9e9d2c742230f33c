package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// rawFieldRules is a forward chain that lets port `port` through by a raw
// payload match and counts on n raw payload fields no other reload names.
func rawFieldRules(gen, n, port int) string {
	var b strings.Builder
	b.WriteString("table inet fw {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy drop;\n")
	b.WriteString("\t\tct state established,related accept\n")
	fmt.Fprintf(&b, "\t\tmeta l4proto tcp @th,16,16 %d accept\n", port)
	for k := 0; k < n; k++ {
		fmt.Fprintf(&b, "\t\t@nh,%d,16 0x%x counter\n", 200+gen*n+k, gen)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// TestReloadManyRawFields: a daemon reloaded 120 times with files naming
// 40 raw payload fields each that no earlier file named (4,800 fields,
// more than the field table's 4,096 entries) takes every reload: the
// replaced rulesets' fields are released (parser/fieldlife.go). The last
// file then decides packets as written.
func TestReloadManyRawFields(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81}, nil)
	d := startDaemon(t, tp.FW, rawFieldRules(0, 40, 80))
	dir := t.TempDir()
	const reloads = 120
	for gen := 1; gen <= reloads; gen++ {
		port := 80
		if gen == reloads {
			port = 81
		}
		f := filepath.Join(dir, fmt.Sprintf("r%d.nft", gen))
		must(t, os.WriteFile(f, []byte(rawFieldRules(gen, 40, port)), 0o644))
		if out, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, f); code != 0 {
			t.Fatalf("reload %d: exit %d %s %s", gen, code, out, errOut)
		}
	}
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 81)); got != ok {
		t.Fatalf("port 81 (accepted by the last file's raw payload match): %s", got)
	}
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got == ok {
		t.Fatalf("port 80 (no longer accepted): %s", got)
	}
}
