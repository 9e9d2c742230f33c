package kernel

import (
	"os"
	"strings"
	"testing"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
)

func connIn(t *testing.T, ns *netns.NS) func() (*nftables.Conn, error) {
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func() (*nftables.Conn, error) { return NewConn(int(f.Fd())) }
}

func TestProbeProgramRemove(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "hk")
	newConn := connIn(t, ns)
	mode, err := ProbeQueue(newConn)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("queue mode: %s", mode)
	// The probe leaves nothing behind.
	if out, _ := ns.Run("nft", "list", "ruleset"); strings.TrimSpace(out) != "" {
		t.Fatalf("probe left: %s", out)
	}
	// Another tool's table, which nfd must never touch.
	if _, err := ns.Run("nft", "add table inet other; add chain inet other c { type filter hook input priority 5; }"); err != nil {
		t.Fatal(err)
	}
	chains := []KernelChain{
		{Family: parser.FamilyInet, Table: "filter", Chain: "input", Hook: parser.HookInput, Priority: 0, Policy: parser.VerdictDrop, QueueNum: 100, QueueTotal: 2},
		{Family: parser.FamilyIP, Table: "legacy", Chain: "out", Hook: parser.HookOutput, Priority: -10, Policy: parser.VerdictAccept, QueueNum: 102, QueueTotal: 1},
	}
	c, _ := newConn()
	if err := Program(c, mode, chains); err != nil {
		t.Fatal(err)
	}
	out, _ := ns.Run("nft", "list", "ruleset")
	for _, want := range []string{"table inet nfd_filter", "type filter hook input priority filter; policy drop;", "table ip nfd_legacy",
		"hook output priority filter - 10; policy accept;", "table inet other"} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, out)
		}
	}
	if mode == QueueNative && !strings.Contains(out, "queue flags fanout to 100-101") {
		t.Errorf("native queue rule wrong:\n%s", out)
	}
	if mode == QueueCompat && !strings.Contains(out, "xt target \"NFQUEUE\"") && !strings.Contains(out, "NFQUEUE") {
		t.Errorf("compat queue rule missing:\n%s", out)
	}
	// Programming again replaces, never duplicates.
	c, _ = newConn()
	if err := Program(c, mode, chains[:1]); err != nil {
		t.Fatal(err)
	}
	c, _ = newConn()
	names, _ := OwnedTables(c)
	if len(names) != 1 || names[0] != "inet nfd_filter" {
		t.Fatalf("owned tables after reprogram: %v", names)
	}
	c, _ = newConn()
	if err := Remove(c); err != nil {
		t.Fatal(err)
	}
	out, _ = ns.Run("nft", "list", "ruleset")
	if strings.Contains(out, "nfd_") || !strings.Contains(out, "table inet other") {
		t.Fatalf("after remove:\n%s", out)
	}
}
