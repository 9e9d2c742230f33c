package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/hooks"
	"github.com/nfdproject/nfd/internal/netns"
)

// daemon is a real `nfd run` in a namespace.
type daemon struct {
	t      *testing.T
	ns     *netns.NS
	cmd    *exec.Cmd
	socket string
	logs   *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startDaemon(t *testing.T, ns *netns.NS, rules string, extra ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "rules.nft")
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, ns: ns, socket: filepath.Join(dir, "nfd.sock"), logs: &lockedBuffer{}, done: make(chan error, 1)}
	args := []string{"run", "--rules", f, "--socket", d.socket, "--metrics-addr", "", "--queues", "1", "--state-dir", filepath.Join(dir, "state")}
	if !strings.Contains(strings.Join(extra, " "), "--offload") {
		// Most tests exercise the queue path: every rule in nfd.
		args = append(args, "--offload", "none")
	}
	args = append(args, extra...)
	d.cmd = ns.Cmd(nfdBin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
		if t.Failed() {
			t.Logf("nfd log:\n%s", d.logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// Status answers while the first ruleset loads; the daemon runs
		// once it says so.
		if s, err := d.status(); err == nil && s.State == "running" {
			return d
		}
		select {
		case err := <-d.done:
			d.done <- err // for the cleanup
			t.Fatalf("nfd exited: %v\n%s", err, d.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("nfd did not answer on its socket\n%s", d.logs.String())
	return nil
}

func (d *daemon) status() (hooks.Status, error) {
	var s hooks.Status
	out, err := d.ns.Cmd(nfdBin, "status", "--json", "--socket", d.socket).Output()
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(out, &s)
}

func (d *daemon) stop(sig syscall.Signal) error {
	_ = d.cmd.Process.Signal(sig)
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(3 * time.Second):
		d.t.Fatalf("nfd did not exit within 3s of %v", sig)
	}
	return nil
}

// dialServer opens a TCP connection from the client namespace to the
// server's port; the test's end closes it.
func dialServer(t *testing.T, tp *netns.Topology, port int) net.Conn {
	t.Helper()
	var c net.Conn
	must(t, tp.Client.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", hostPort(netns.ServerIP4, port), 2*time.Second)
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// servers starts TCP listeners (echoing one line) and UDP echo sockets in
// the server namespace.
func servers(t *testing.T, ns *netns.NS, tcpPorts, udpPorts []int) {
	t.Helper()
	var closers []io.Closer
	must(t, ns.Do(func() error {
		for _, p := range tcpPorts {
			for _, network := range []string{"tcp4", "tcp6"} {
				l, err := net.Listen(network, fmt.Sprintf(":%d", p))
				if err != nil {
					return err
				}
				closers = append(closers, l)
				go func() {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
					}
				}()
			}
		}
		for _, p := range udpPorts {
			for _, network := range []string{"udp4", "udp6"} {
				pc, err := net.ListenPacket(network, fmt.Sprintf(":%d", p))
				if err != nil {
					return err
				}
				closers = append(closers, pc)
				go func() {
					buf := make([]byte, 2048)
					for {
						n, a, err := pc.ReadFrom(buf)
						if err != nil {
							return
						}
						_, _ = pc.WriteTo(buf[:n], a)
					}
				}()
			}
		}
		return nil
	}))
	t.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// outcome of a connection attempt.
const (
	ok      = "ok"
	refused = "refused"
	timeout = "timeout"
)

func tcpTry(ns *netns.NS, addr string) string {
	var out string
	_ = ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 700*time.Millisecond)
		out = classify(err)
		if err == nil {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Second))
			if _, err := c.Write([]byte("ping\n")); err != nil {
				out = classify(err)
				return nil
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping\n" {
				out = "no echo: " + classify(err)
			}
		}
		return nil
	})
	return out
}

func udpTry(ns *netns.NS, addr string) string {
	var out string
	_ = ns.Do(func() error {
		c, err := net.Dial("udp", addr)
		if err != nil {
			out = classify(err)
			return nil
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(700 * time.Millisecond))
		_, _ = c.Write([]byte("q"))
		buf := make([]byte, 16)
		_, err = c.Read(buf)
		out = classify(err)
		return nil
	})
	return out
}

func classify(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ok
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return refused
	case errors.As(err, &ne) && ne.Timeout():
		return timeout
	}
	return err.Error()
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }

const forwardRules = `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept comment "est"
		tcp dport 80 accept comment "web"
		tcp dport 82 reject with tcp reset comment "rst"
		udp dport 53 accept comment "dns"
		udp dport 54 reject comment "unreach"
		icmp type echo-request accept
		icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept
	}
}
`

func TestDaemonVerdicts(t *testing.T) {
	for _, impl := range []string{"nfd", "go-nfqueue"} {
		t.Run(impl, func(t *testing.T) { testVerdicts(t, "--queue-reader", impl) })
	}
	t.Run("offload-auto", func(t *testing.T) { testVerdicts(t, "--offload", "auto") })
	// A reader that polls between packets decides the same; status says so.
	t.Run("busy-poll", func(t *testing.T) { testVerdicts(t, "--busy-poll", "20ms") })
}

func testVerdicts(t *testing.T, flags ...string) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81, 82}, []int{53, 54, 55})
	// Without nfd everything passes.
	for _, ip := range []string{netns.ServerIP4, netns.ServerIP6} {
		if got := tcpTry(tp.Client, hostPort(ip, 81)); got != ok {
			t.Fatalf("before nfd: tcp %s 81 %s", ip, got)
		}
	}
	d := startDaemon(t, tp.FW, forwardRules, flags...)
	auto := strings.Contains(strings.Join(flags, " "), "auto")
	cases := []struct {
		name, want string
		try        func() string
	}{
		{"tcp4 80 accept", ok, func() string { return tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)) }},
		{"tcp6 80 accept", ok, func() string { return tcpTry(tp.Client, hostPort(netns.ServerIP6, 80)) }},
		{"tcp4 81 drop", timeout, func() string { return tcpTry(tp.Client, hostPort(netns.ServerIP4, 81)) }},
		{"tcp6 81 drop", timeout, func() string { return tcpTry(tp.Client, hostPort(netns.ServerIP6, 81)) }},
		{"tcp4 82 reset", refused, func() string { return tcpTry(tp.Client, hostPort(netns.ServerIP4, 82)) }},
		{"tcp6 82 reset", refused, func() string { return tcpTry(tp.Client, hostPort(netns.ServerIP6, 82)) }},
		{"udp4 53 accept", ok, func() string { return udpTry(tp.Client, hostPort(netns.ServerIP4, 53)) }},
		{"udp6 53 accept", ok, func() string { return udpTry(tp.Client, hostPort(netns.ServerIP6, 53)) }},
		{"udp4 54 icmp unreachable", refused, func() string { return udpTry(tp.Client, hostPort(netns.ServerIP4, 54)) }},
		{"udp6 54 icmp unreachable", refused, func() string { return udpTry(tp.Client, hostPort(netns.ServerIP6, 54)) }},
		{"udp4 55 drop", timeout, func() string { return udpTry(tp.Client, hostPort(netns.ServerIP4, 55)) }},
	}
	for _, c := range cases {
		if got := c.try(); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	s, err := d.status()
	must(t, err)
	fw := s.Hooks["forward"]
	if auto {
		// Every rule is kernel-expressible: nothing reaches userspace.
		if fw.Packets != 0 || len(s.Chains) != 1 || s.Chains[0].Queues != "none (native)" || s.Offload != "auto" {
			t.Errorf("offload auto: forward %+v chains %+v", fw, s.Chains)
		}
	} else if fw.Accept == 0 || fw.Drop == 0 || fw.Reject == 0 {
		t.Errorf("forward counters: %+v", fw)
	}
	if s.QueueMode == "" || len(s.KernelTables) != 1 || s.KernelTables[0] != "inet nfd_fw" {
		t.Errorf("status: mode %q tables %v", s.QueueMode, s.KernelTables)
	}
	if want := map[bool]string{true: "20ms"}[slices.Contains(flags, "--busy-poll")]; s.BusyPoll != want {
		t.Errorf("status: busy poll %q, want %q", s.BusyPoll, want)
	}
}

func TestDaemonAllFiveHooks(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, nil)
	servers(t, tp.FW, []int{8080}, nil)
	var rules strings.Builder
	rules.WriteString("table inet every {\n")
	for _, h := range []string{"prerouting", "input", "forward", "output", "postrouting"} {
		fmt.Fprintf(&rules, "\tchain %s {\n\t\ttype filter hook %s priority 0; policy accept;\n\t\tcounter\n\t}\n", h, h)
	}
	rules.WriteString("}\n")
	d := startDaemon(t, tp.FW, rules.String())
	// Forwarded: prerouting, forward, postrouting. To the firewall:
	// prerouting, input; its replies: output, postrouting.
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
		t.Fatalf("forwarded tcp: %s", got)
	}
	if got := tcpTry(tp.Client, hostPort(netns.FWClient4, 8080)); got != ok {
		t.Fatalf("local tcp: %s", got)
	}
	s, err := d.status()
	must(t, err)
	for _, h := range []string{"prerouting", "input", "forward", "output", "postrouting"} {
		if s.Hooks[h].Accept == 0 {
			t.Errorf("hook %s saw no packets: %+v", h, s.Hooks)
		}
	}
}

func TestDaemonLongConnection(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, nil)
	startDaemon(t, tp.FW, `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		ct state new tcp dport 80 accept
	}
}
`)
	c := dialServer(t, tp, 80)
	msg := bytes.Repeat([]byte("x"), 1000)
	buf := make([]byte, len(msg))
	end := time.Now().Add(3 * time.Second)
	n := 0
	for time.Now().Before(end) {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("read %d: %v", n, err)
		}
		n++
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d round trips over 3 s through ct state established", n)
}

func nfdTables(t *testing.T, ns *netns.NS) string {
	out, err := ns.Run("nft", "list", "tables")
	must(t, err)
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "nfd_") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(keep, ";")
}

func TestDaemonStopCrashRestart(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81}, nil)
	servers(t, tp.FW, []int{8080}, nil)
	rules := `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		tcp dport 80 accept
	}
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 8081 drop
	}
}
`
	// A clean stop removes nfd's tables and exits 0.
	d := startDaemon(t, tp.FW, rules)
	start := time.Now()
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("stop took %v", el)
	}
	if left := nfdTables(t, tp.FW); left != "" {
		t.Fatalf("tables left after stop: %s", left)
	}
	// kill -9 under traffic: the tables stay, and with nobody reading the
	// queues the drop-policy chain fails closed (a live stream through it
	// stalls) while the accept-policy one fails open.
	d = startDaemon(t, tp.FW, rules)
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
		t.Fatalf("with nfd: %s", got)
	}
	stream := dialServer(t, tp, 80)
	echo := func() error {
		_ = stream.SetDeadline(time.Now().Add(700 * time.Millisecond))
		if _, err := stream.Write([]byte("x")); err != nil {
			return err
		}
		_, err := io.ReadFull(stream, make([]byte, 1))
		return err
	}
	must(t, echo())
	_ = d.cmd.Process.Kill()
	<-d.done
	d.done <- nil
	if err := echo(); err == nil {
		t.Errorf("a stream through the drop-policy chain kept flowing after kill -9")
	}
	if left := nfdTables(t, tp.FW); left == "" {
		t.Fatal("tables vanished with the crash")
	}
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != timeout {
		t.Errorf("forward (policy drop) after kill -9: %s, want closed (timeout)", got)
	}
	if got := tcpTry(tp.Client, hostPort(netns.FWClient4, 8080)); got != ok {
		t.Errorf("input (policy accept) after kill -9: %s, want open", got)
	}
	// With offload, the native rules keep enforcing after kill -9.
	d = startDaemon(t, tp.FW, rules, "--offload", "auto")
	_ = d.cmd.Process.Kill()
	<-d.done
	d.done <- nil
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
		t.Errorf("offloaded accept rule after kill -9: %s, want open", got)
	}
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 81)); got != timeout {
		t.Errorf("offloaded chain policy drop after kill -9: %s, want closed", got)
	}
	// A new start replaces the leftovers and works within 2 s.
	restart := time.Now()
	d = startDaemon(t, tp.FW, rules)
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
		t.Fatalf("after restart: %s", got)
	}
	if el := time.Since(restart); el > 2*time.Second {
		t.Errorf("restart took %v to pass traffic again", el)
	}
	t.Logf("restart after kill -9 passed traffic again after %v", time.Since(restart).Round(time.Millisecond))
	if left := nfdTables(t, tp.FW); left != "table inet nfd_fw" {
		t.Fatalf("tables after restart: %q", left)
	}
	s, err := d.status()
	must(t, err)
	if s.Hooks["forward"].Accept == 0 {
		t.Fatalf("restarted daemon saw nothing: %+v", s.Hooks)
	}
}

func TestDaemonRefusesBadFile(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "bad")
	f := filepath.Join(t.TempDir(), "bad.nft")
	must(t, os.WriteFile(f, []byte("table inet t {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t\ttcp dprot 22 accept\n\t}\n}\n"), 0o644))
	out, err := ns.Cmd(nfdBin, "run", "--rules", f, "--socket", filepath.Join(t.TempDir(), "s"), "--metrics-addr", "").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), f+":4:7: error: unknown keyword `dprot`") {
		t.Fatalf("exit %v, output:\n%s", err, out)
	}
	if left := nfdTables(t, ns); left != "" {
		t.Fatalf("a bad file programmed tables: %s", left)
	}
}
