package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/hooks"
	"github.com/nfdproject/nfd/internal/control"
	"github.com/nfdproject/nfd/internal/netns"
)

// manyRules writes a ruleset of n rules in one input chain (as
// bench/scale.sh does) and returns its path.
func manyRules(t *testing.T, n, changed int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("table ip t {\n  chain input {\n    type filter hook input priority 0; policy accept;\n")
	for i := 0; i < n; i++ {
		p := 1 + i%60000
		if i == changed {
			p = 65000
		}
		fmt.Fprintf(&b, "    ip saddr 10.%d.%d.%d tcp dport %d counter drop\n", i>>16&255, i>>8&255, i&255, p)
	}
	b.WriteString("  }\n}\n")
	f := filepath.Join(t.TempDir(), fmt.Sprintf("rules-%d-%d.nft", n, changed))
	must(t, os.WriteFile(f, []byte(b.String()), 0o644))
	return f
}

// askStatus asks for status over the socket. An answer computed while a
// load runs (Loading set) must come within d; one computed after it may
// take longer (it reads every rule's kernel counters: a dump the kernel
// walks from the chain's head for each 32 KB it sends,
// nf_tables_dump_rules), but not more than a minute.
func askStatus(t *testing.T, socket string, d time.Duration) hooks.Status {
	t.Helper()
	var s hooks.Status
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- control.Call(socket, control.Request{Cmd: "status"}, &s) }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(time.Minute):
		t.Fatalf("status gave no answer within a minute")
	}
	if took := time.Since(start); took > d && s.Loading != nil {
		t.Fatalf("status during a load took %v (phase %s)", took, s.Loading.Phase)
	}
	return s
}

// TestStatusDuringLargeLoad: while a 10^5-rule ruleset starts and while
// it reloads, `nfd status` answers within 2 s and shows the load's
// progress (kind, phase, rule count once parsed); afterwards it shows
// none.
func TestStatusDuringLargeLoad(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	if testing.Short() {
		t.Skip("loads 10^5 rules")
	}
	ns := netns.New(t, "nfd-ldst")
	const n = 100000
	f, f1 := manyRules(t, n, -1), manyRules(t, n, n/2)
	dir := t.TempDir()
	socket := filepath.Join(dir, "nfd.sock")
	logs := &lockedBuffer{}
	cmd := ns.Cmd(nfdBin, "run", "--rules", f, "--socket", socket, "--metrics-addr", "", "--state-dir", filepath.Join(dir, "state"))
	cmd.Stdout, cmd.Stderr = logs, logs
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("nfd log:\n%s", logs.String())
		}
	})
	// The start: status answers before the ruleset runs.
	phases := map[string]bool{}
	answered := false
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatal("nfd did not start within 5 minutes")
		}
		select {
		case err := <-done:
			t.Fatalf("nfd exited: %v", err)
		default:
		}
		if !answered {
			// The socket file appears at bind, before listen.
			var s hooks.Status
			if control.Call(socket, control.Request{Cmd: "status"}, &s) != nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			answered = true
		}
		s := askStatus(t, socket, 2*time.Second)
		if s.State == "running" && s.Loading == nil {
			break
		}
		if s.Loading == nil || s.Loading.Kind != "start" {
			t.Fatalf("status while starting: state %s, loading %+v", s.State, s.Loading)
		}
		if s.Loading.Step > 2 && s.Loading.Rules != n {
			t.Fatalf("status in phase %s counts %d rules, want %d", s.Loading.Phase, s.Loading.Rules, n)
		}
		phases[s.Loading.Phase] = true
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("phases seen while starting: %v", phases)
	if len(phases) == 0 {
		t.Fatal("status never showed the start in progress")
	}
	// The reload: status answers within 2 s while it runs.
	rel := make(chan error, 1)
	go func() {
		rel <- control.Call(socket, control.Request{Cmd: "reload", Args: map[string]string{"file": f1}}, nil)
	}()
	// A status asked before the reload begins reads every rule's kernel
	// counters, which takes seconds at this size and could outlast the
	// reload: ask once the reload is under way (reading and parsing a
	// 10^5-rule file take longer than this).
	time.Sleep(100 * time.Millisecond)
	seen, asked := map[string]bool{}, 0
	for waiting := true; waiting; {
		select {
		case err := <-rel:
			must(t, err)
			waiting = false
		default:
			s := askStatus(t, socket, 2*time.Second)
			asked++
			if s.Loading != nil {
				if s.Loading.Kind != "reload" || s.Loading.File != f1 {
					t.Fatalf("status during the reload: %+v", s.Loading)
				}
				seen[s.Loading.Phase] = true
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("status answered %d times during the reload, phases %v", asked, seen)
	if len(seen) == 0 {
		t.Fatal("status never showed the reload in progress")
	}
	if s := askStatus(t, socket, 5*time.Second); s.Loading != nil || s.State != "running" {
		t.Fatalf("after the reload: state %s, loading %+v", s.State, s.Loading)
	}
}

// TestNotifyExtendsTimeout plays systemd (a NOTIFY_SOCKET): while a large
// ruleset starts, nfd sends EXTEND_TIMEOUT_USEC before READY=1, and a
// SIGHUP reload sends RELOADING=1 (with MONOTONIC_USEC), EXTEND_TIMEOUT_USEC
// and READY=1, in that order.
func TestNotifyExtendsTimeout(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "nfd-sdn")
	f := manyRules(t, 20000, -1)
	dir := t.TempDir()
	path := filepath.Join(dir, "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	must(t, err)
	defer l.Close()
	socket := filepath.Join(dir, "nfd.sock")
	logs := &lockedBuffer{}
	cmd := ns.Cmd(nfdBin, "run", "--rules", f, "--socket", socket, "--metrics-addr", "", "--state-dir", filepath.Join(dir, "state"))
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+path)
	cmd.Stdout, cmd.Stderr = logs, logs
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("nfd log:\n%s", logs.String())
		}
	})
	next := func() string {
		t.Helper()
		buf := make([]byte, 512)
		_ = l.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := l.Read(buf)
		must(t, err)
		return string(buf[:n])
	}
	// until reads messages until one starts with prefix, returning those
	// before it.
	until := func(prefix string) []string {
		t.Helper()
		var before []string
		for {
			m := next()
			if strings.HasPrefix(m, prefix) {
				return before
			}
			before = append(before, m)
		}
	}
	extended := func(ms []string) bool {
		for _, m := range ms {
			if strings.HasPrefix(m, "EXTEND_TIMEOUT_USEC=") {
				return true
			}
		}
		return false
	}
	if before := until("READY=1"); !extended(before) {
		t.Fatalf("no EXTEND_TIMEOUT_USEC before READY=1 while starting: %q", before)
	}
	must(t, cmd.Process.Signal(syscall.SIGHUP))
	m := next()
	if !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("after SIGHUP: %q", m)
	}
	if before := until("READY=1"); !extended(before) {
		t.Fatalf("no EXTEND_TIMEOUT_USEC before READY=1 while reloading: %q", before)
	}
}
