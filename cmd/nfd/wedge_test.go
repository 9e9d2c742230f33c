package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/control"
	"github.com/nfdproject/nfd/internal/netns"
)

// vmRSS reads a process's resident memory in bytes from /proc.
func vmRSS(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			must(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// wedgeCheck is what must hold after each hostile input: status answers
// within 2 s, memory stays within a bound, the kernel's tables and the
// running ruleset are the old ones, and packets get the old verdicts.
type wedgeCheck struct {
	t       *testing.T
	d       *daemon
	tp      *netns.Topology
	kernel  string // nft -s list ruleset before
	sum     string // status checksum before
	rssBase uint64
}

func newWedgeCheck(t *testing.T) *wedgeCheck {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, nil)
	d := startDaemon(t, tp.FW, forwardRules)
	w := &wedgeCheck{t: t, d: d, tp: tp}
	s, err := d.status()
	must(t, err)
	w.sum = s.Checksum
	w.kernel = w.listing()
	w.rssBase = vmRSS(t, d.cmd.Process.Pid)
	return w
}

func (w *wedgeCheck) listing() string {
	out, err := w.tp.FW.Run("nft", "-s", "list", "ruleset")
	must(w.t, err)
	return out
}

// statusWithin asks for status directly over the socket and fails the
// test unless the answer comes within d.
func (w *wedgeCheck) statusWithin(d time.Duration) {
	w.t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	var s struct{ Checksum string }
	go func() { done <- control.Call(w.d.socket, control.Request{Cmd: "status"}, &s) }()
	select {
	case err := <-done:
		if err != nil {
			w.t.Fatalf("status: %v", err)
		}
	case <-time.After(d):
		w.t.Fatalf("status gave no answer within %v", d)
	}
	if took := time.Since(start); took > d {
		w.t.Fatalf("status took %v", took)
	}
}

func (w *wedgeCheck) intact(what string) {
	w.t.Helper()
	w.statusWithin(2 * time.Second)
	if rss := vmRSS(w.t, w.d.cmd.Process.Pid); rss > w.rssBase+96<<20 {
		w.t.Fatalf("after %s: RSS %d MiB, was %d MiB", what, rss>>20, w.rssBase>>20)
	}
	s, err := w.d.status()
	must(w.t, err)
	if s.Checksum != w.sum {
		w.t.Fatalf("after %s: the running ruleset changed (%s, was %s)", what, s.Checksum, w.sum)
	}
	if got := w.listing(); got != w.kernel {
		w.t.Fatalf("after %s: the kernel's ruleset changed:\n%s\nwas:\n%s", what, got, w.kernel)
	}
	if got := tcpTry(w.tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
		w.t.Fatalf("after %s: port 80 %s", what, got)
	}
	if got := tcpTry(w.tp.Client, hostPort(netns.ServerIP4, 82)); got != refused {
		w.t.Fatalf("after %s: port 82 (reject) %s", what, got)
	}
}

// TestReloadNotARegularFile: a reload of /dev/zero, of a FIFO nobody
// writes, of a directory and of a 300 MB file is refused at once with a
// clear error; the daemon keeps answering with its old ruleset.
func TestReloadNotARegularFile(t *testing.T) {
	w := newWedgeCheck(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.nft")
	must(t, syscall.Mkfifo(fifo, 0o644))
	huge := filepath.Join(dir, "huge.nft")
	f, err := os.Create(huge)
	must(t, err)
	// 300 MB of real bytes: a rule followed by comment lines.
	line := append([]byte("#"), bytes.Repeat([]byte("x"), 1022)...)
	line = append(line, '\n')
	chunk := bytes.Repeat(line, 1024)
	_, _ = f.WriteString(forwardRules)
	for n := 0; n < 300; n++ {
		_, err := f.Write(chunk)
		must(t, err)
	}
	must(t, f.Close())
	// An include may name them too.
	inc := filepath.Join(dir, "inc.nft")
	must(t, os.WriteFile(inc, []byte(forwardRules+"include \"/dev/zero\"\n"), 0o644))
	for _, c := range []struct{ file, want string }{
		{"/dev/zero", "not a regular file (a character device)"},
		{fifo, "not a regular file (a FIFO (named pipe))"},
		{dir, "not a regular file (a directory)"},
		{huge, "larger than the limit of 67108864 bytes"},
		{inc, "cannot include \"/dev/zero\": not a regular file"},
	} {
		start := time.Now()
		_, errOut, code := runIn(t, w.tp.FW, "reload", "--socket", w.d.socket, c.file)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Fatalf("reload %s: exit %d\n%s", c.file, code, errOut)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("reload %s answered after %v", c.file, took)
		}
		w.intact("reload of " + c.file)
		// nfd check applies the same rules.
		if _, errOut, code := run(t, "check", c.file); code != 1 || !strings.Contains(errOut, c.want) {
			t.Fatalf("check %s: exit %d\n%s", c.file, code, errOut)
		}
	}
}

// bigRules is a valid rule file of about 64 MiB (the limit): forwardRules
// followed by comment lines. nfd takes a moment to read and parse it.
func bigRules(t *testing.T, path string) {
	t.Helper()
	line := append([]byte("#"), bytes.Repeat([]byte("y"), 126)...)
	line = append(line, '\n')
	body := append([]byte(forwardRules), bytes.Repeat(line, (64<<20-len(forwardRules)-64)/len(line))...)
	must(t, os.WriteFile(path, body, 0o644))
}

// TestReloadInProgress: while a reload of a file at the size limit runs,
// status answers within 2 s and a second reload is told at once that a
// reload is in progress; memory stays proportionate to the file.
func TestReloadInProgress(t *testing.T) {
	w := newWedgeCheck(t)
	big := filepath.Join(t.TempDir(), "big.nft")
	bigRules(t, big)
	var sawBusy bool
	for attempt := 0; attempt < 5 && !sawBusy; attempt++ {
		first := make(chan error, 1)
		go func() {
			first <- control.Call(w.d.socket, control.Request{Cmd: "reload", Args: map[string]string{"file": big}}, nil)
		}()
		time.Sleep(30 * time.Millisecond)
		start := time.Now()
		err := control.Call(w.d.socket, control.Request{Cmd: "reload", Args: map[string]string{"file": big}}, nil)
		if err != nil && strings.Contains(err.Error(), "a reload is in progress") {
			if took := time.Since(start); took > time.Second {
				t.Fatalf("the second reload was refused only after %v", took)
			}
			sawBusy = true
			w.statusWithin(2 * time.Second)
		}
		if err := <-first; err != nil && !strings.Contains(err.Error(), "a reload is in progress") {
			t.Fatalf("reload of the big file: %v", err)
		}
	}
	if !sawBusy {
		t.Fatal("a second reload was never refused while the first ran")
	}
	rss := vmRSS(t, w.d.cmd.Process.Pid)
	t.Logf("RSS after reloads of a 64 MiB file: %d MiB (before: %d MiB)", rss>>20, w.rssBase>>20)
	if rss > w.rssBase+5*(64<<20) {
		t.Fatalf("RSS %d MiB after reading a 64 MiB file", rss>>20)
	}
	if got := tcpTry(w.tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
		t.Fatalf("port 80 after the big reload: %s", got)
	}
}

// TestStopDuringReload: SIGTERM while a reload parses a file at the limit
// stops the daemon within 3 s (the unit's TimeoutStopSec is 5 s), with
// its tables removed as on any clean stop.
func TestStopDuringReload(t *testing.T) {
	w := newWedgeCheck(t)
	big := filepath.Join(t.TempDir(), "big.nft")
	bigRules(t, big)
	go func() {
		_ = control.Call(w.d.socket, control.Request{Cmd: "reload", Args: map[string]string{"file": big}}, nil)
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := w.d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, w.d.logs.String())
	}
	if got := nfdTables(t, w.tp.FW); got != "" {
		t.Fatalf("tables left after SIGTERM during a reload: %s", got)
	}
	t.Logf("stopped %v after SIGTERM during a reload", time.Since(start).Round(time.Millisecond))
}

// TestControlHostileRequests: 300 random, malformed and oversized
// requests, sent 30 at a time, each get an error (or the connection is
// closed on them) and change nothing; a request slower than the deadline
// is refused.
func TestControlHostileRequests(t *testing.T) {
	w := newWedgeCheck(t)
	r := rand.New(rand.NewSource(16))
	var reqs [][]byte
	for i := 0; i < 300; i++ {
		var b []byte
		switch i % 6 {
		case 0: // random bytes
			b = make([]byte, r.Intn(4096))
			r.Read(b)
		case 1: // oversized: a valid shape, far over the limit
			b = []byte(`{"cmd":"status","args":{"x":"` + strings.Repeat("a", control.MaxRequest+r.Intn(1<<20)) + `"}}`)
		case 2: // an unknown command
			b = []byte(fmt.Sprintf(`{"cmd":"x%d"}`, r.Int63()))
		case 3: // wrong types and unknown fields
			b = []byte([]string{`{"cmd":5}`, `{"cmd":"reload","args":["a"]}`, `{"cmd":"reload","file":"/dev/zero"}`, `[1,2,3]`, `null`, `{"cmd":"status","args":{"":""}}`}[r.Intn(6)])
		case 4: // truncated JSON
			full := []byte(`{"cmd":"reload","args":{"file":"/etc/nfd/rules.nft"}}`)
			b = full[:r.Intn(len(full)-1)]
		case 5: // bad arguments to real commands: errors, nothing done
			b = []byte([]string{`{"cmd":"apply","args":{"file":"/dev/zero","confirm":"xx"}}`, `{"cmd":"reload","args":{"file":"/dev/zero"}}`,
				`{"cmd":"trace","args":{"filter":"tcp dport {"}}`, `{"cmd":"confirm"}`}[r.Intn(4)])
		}
		reqs = append(reqs, b)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 30)
	errs := make(chan string, len(reqs))
	for i, b := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("unix", w.d.socket)
			if err != nil {
				errs <- fmt.Sprintf("request %d: dial: %v", i, err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Write(b) // an oversized one may be cut off
			if uc, ok := c.(*net.UnixConn); ok {
				_ = uc.CloseWrite()
			}
			var resp control.Response
			if err := json.NewDecoder(c).Decode(&resp); err != nil {
				return // closed on it: fine, as long as nothing changed
			}
			if resp.OK {
				errs <- fmt.Sprintf("request %d (%.80q) succeeded", i, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	w.intact("300 hostile requests")
	// A request slower than the deadline is refused.
	c, err := net.Dial("unix", w.d.socket)
	must(t, err)
	defer c.Close()
	_, _ = c.Write([]byte(`{"cmd":"sta`))
	_ = c.SetDeadline(time.Now().Add(control.RequestTimeout + 3*time.Second))
	var resp control.Response
	start := time.Now()
	if err := json.NewDecoder(c).Decode(&resp); err != nil || resp.OK || !strings.Contains(resp.Error, "timeout") {
		t.Fatalf("slow request: %+v %v", resp, err)
	}
	t.Logf("a slow request was refused after %v: %s", time.Since(start).Round(100*time.Millisecond), resp.Error)
	w.intact("a slow request")
	s, err := w.d.status()
	must(t, err)
	if s.Reloads != 0 {
		t.Fatalf("hostile requests reloaded %d times", s.Reloads)
	}
}
