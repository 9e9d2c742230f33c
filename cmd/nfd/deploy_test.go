package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit checks deploy/systemd/nfd.service with systemd-analyze
// (the binary path pointed at the test build) and the settings the
// operations issue requires.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../deploy/systemd/nfd.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"Type=notify", "ExecReload=/usr/local/sbin/nfd reload", "Before=network-pre.target",
		"Wants=network-pre.target", "DefaultDependencies=no", "Restart=on-failure", "CapabilityBoundingSet=CAP_NET_ADMIN",
		"AmbientCapabilities=CAP_NET_ADMIN", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"RestrictAddressFamilies=AF_NETLINK AF_UNIX AF_INET AF_INET6", "RuntimeDirectory=nfd"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("skipping verification: systemd-analyze is not installed")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "nfd.service")
	if err := os.WriteFile(f, []byte(strings.ReplaceAll(unit, "/usr/local/sbin/nfd", nfdBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", f).CombinedOutput()
	if err != nil || strings.Contains(string(out), "nfd.service:") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestExamplesPass: every example rule file passes `nfd check`.
func TestExamplesPass(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/examples/*.nft")
	if len(files) < 4 {
		t.Fatalf("only %d examples", len(files))
	}
	for _, f := range files {
		if _, errOut, code := run(t, "check", f); code != 0 {
			t.Errorf("%s: %s", f, errOut)
		}
	}
}
