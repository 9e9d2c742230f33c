package main

import (
	"encoding/json"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// TestPrometheusScrapesNfd: a real Prometheus server (Debian's package),
// started on the firewall namespace's loopback with a temporary config,
// scrapes nfd while traffic flows; the test reads nfd_packets_total back
// through Prometheus's HTTP API.
func TestPrometheusScrapesNfd(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "prometheus")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, nil)
	startDaemon(t, tp.FW, forwardRules, "--metrics-addr", "127.0.0.1:9641")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	must(t, os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nfd\n    static_configs:\n      - targets: ['127.0.0.1:9641']\n"), 0o644))
	prom := tp.FW.Cmd("prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:9090", "--log.level=warn")
	logs := &lockedBuffer{}
	prom.Stdout, prom.Stderr = logs, logs
	must(t, prom.Start())
	t.Cleanup(func() { _ = prom.Process.Kill(); _ = prom.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	q := "/api/v1/query?query=" + url.QueryEscape(`sum(nfd_packets_total{hook="forward",verdict="accept"})`)
	for {
		if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
			t.Fatalf("traffic: %s", got)
		}
		body, err := tp.FW.HTTPGet("127.0.0.1:9090", q)
		if err == nil {
			var r struct {
				Data struct {
					Result []struct {
						Value []any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			if json.Unmarshal([]byte(body), &r) == nil && len(r.Data.Result) == 1 {
				if v, _ := r.Data.Result[0].Value[1].(string); v != "" && v != "0" {
					t.Logf("Prometheus reads nfd_packets_total{hook=forward,verdict=accept} = %s", v)
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never saw nfd's packets; last answer %q err %v\nprometheus log:\n%s", body, err, logs.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestReloadUnderTraffic: 50 reloads in a row while a TCP stream flows
// through ct state established: no reset, no stall over a second; a
// broken file is refused with file:line:col and changes nothing.
func TestReloadUnderTraffic(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81}, nil)
	rulesA := strings.Replace(forwardRules, `comment "web"`, `comment "web-a"`, 1)
	rulesB := strings.Replace(forwardRules, `tcp dport 80 accept comment "web"`, `tcp dport { 80, 81 } accept comment "web-b"`, 1)
	d := startDaemon(t, tp.FW, rulesA)
	dir := t.TempDir()
	fa, fb, bad := filepath.Join(dir, "a.nft"), filepath.Join(dir, "b.nft"), filepath.Join(dir, "bad.nft")
	must(t, os.WriteFile(fa, []byte(rulesA), 0o644))
	must(t, os.WriteFile(fb, []byte(rulesB), 0o644))
	must(t, os.WriteFile(bad, []byte("table inet fw {\n\tchain forward {\n\t\ttcp dport 80 acept\n\t}\n}\n"), 0o644))

	c := dialServer(t, tp, 80)
	stop := echoStream(c)
	for i := 0; i < 50; i++ {
		f := fa
		if i%2 == 1 {
			f = fb
		}
		out, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, f)
		if code != 0 {
			t.Fatalf("reload %d: exit %d %s %s", i, code, out, errOut)
		}
	}
	// A broken file: exit 1, errors with position, old ruleset intact.
	_, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, bad)
	if code != 1 || !strings.Contains(errOut, bad+":3:16: error: unknown keyword `acept`") {
		t.Fatalf("bad reload: exit %d\n%s", code, errOut)
	}
	// The last good file (b, with port 81) still runs.
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 81)); got != ok {
		t.Fatalf("after the failed reload, port 81: %s", got)
	}
	// A file with a lint warning loads; reload and status show the warning.
	warned := strings.Replace(rulesB, `comment "est"`, `comment "est"`+"\n\t\ttcp dport 443 tls sni \"x.example\" drop", 1)
	must(t, os.WriteFile(fb, []byte(warned), 0o644))
	if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, fb); code != 0 || !strings.Contains(errOut, fb+":5:3: warning: this rule never sees a ClientHello") {
		t.Fatalf("reload with a warning: exit %d\n%s", code, errOut)
	}
	if out, _, _ := runIn(t, tp.FW, "status", "--socket", d.socket); !strings.Contains(out, "warning:     "+fb+":5:3") {
		t.Fatalf("status does not show the warning:\n%s", out)
	}
	// SIGHUP reloads the current file too.
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	// The current file deleted: a reload fails and changes nothing.
	must(t, os.Remove(fb))
	if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("reload of a deleted file: exit %d %s", code, errOut)
	}
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 81)); got != ok {
		t.Fatalf("after the failed reload of a deleted file, port 81: %s", got)
	}
	rounds, err := stop()
	if err != nil {
		t.Fatalf("stream across reloads: %v", err)
	}
	s, err := d.status()
	must(t, err)
	if s.Reloads < 51 || s.ReloadErrors != 2 || s.Conntrack.Entries == 0 {
		t.Fatalf("status after reloads: reloads %d errors %d entries %d", s.Reloads, s.ReloadErrors, s.Conntrack.Entries)
	}
	t.Logf("%d round trips across 51 reloads and 2 failed ones", rounds)
}

func runIn(t *testing.T, ns *netns.NS, args ...string) (string, string, int) {
	t.Helper()
	cmd := ns.Cmd(nfdBin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, isExit := err.(interface{ ExitCode() int }); isExit {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestSNIBypass: with --offload=auto and a ruleset whose userspace part is
// two `tls sni` rules, a TLS connection to an allowed name completes and
// its later packets are not queued (the daemon's counters prove it); one to
// a blocked name is reset when its ClientHello is seen.
func TestSNIBypass(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{443}, nil)
	d := startDaemon(t, tp.FW, `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state established,related ct direction reply accept comment "replies"
		tcp dport 443 tls sni "blocked.example" reject with tcp reset comment "sni-block"
		tcp dport 443 tls sni "*.example" accept comment "sni-ok"
	}
}
`, "--offload", "auto")
	s, err := d.status()
	must(t, err)
	if len(s.Chains) != 1 || s.Chains[0].BypassMark == "" || s.Chains[0].Native != 1 {
		t.Fatalf("chains: %+v", s.Chains)
	}
	hello := func(name string, rounds int) (int, error) {
		f, err := dialTLSFlow(tp, name)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		return f.rounds(rounds)
	}
	before, _ := d.status()
	n, err := hello("www.example", 50)
	if err != nil || n != 50 {
		t.Fatalf("allowed name: %d rounds, %v", n, err)
	}
	after, _ := d.status()
	queued := after.Hooks["forward"].Packets - before.Hooks["forward"].Packets
	if queued > 4 {
		t.Errorf("an allowed flow of ~55 client packets sent %d packets to userspace, want at most 4", queued)
	}
	t.Logf("allowed TLS flow: %d packets queued to nfd (SYN, ACK, ClientHello), the rest bypassed", queued)
	if _, err := hello("blocked.example", 1); err == nil || classify(err) != refused {
		t.Errorf("blocked name: %v, want a reset", err)
	}
	out, errOut, code := runIn(t, tp.FW, "rules", "--socket", d.socket)
	if code != 0 || !strings.Contains(out, `ct state established,related ct direction reply accept comment "replies" # handle 1, kernel; packets `) ||
		!strings.Contains(out, `tls sni "*.example" accept comment "sni-ok" # handle 3, userspace: `+"`tls sni`"+` is evaluated by nfd in userspace; packets 1`) {
		t.Errorf("nfd rules: %d %s\n%s", code, errOut, out)
	}
}

// tlsFlow is a TCP connection from the client to the server's port 443
// that opened with a ClientHello naming a server; the server echoes.
type tlsFlow struct{ net.Conn }

func dialTLSFlow(tp *netns.Topology, name string) (*tlsFlow, error) {
	var c net.Conn
	if err := tp.Client.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", hostPort(netns.ServerIP4, 443), 2*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	ch := pktgen.ClientHello(name)
	if _, err := c.Write(ch); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, make([]byte, len(ch))); err != nil {
		c.Close()
		return nil, err
	}
	return &tlsFlow{c}, nil
}

// rounds exchanges n 200-byte messages and returns how many came back.
func (f *tlsFlow) rounds(n int) (int, error) {
	msg := make([]byte, 200)
	for i := 0; i < n; i++ {
		_ = f.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := f.Write(msg); err != nil {
			return i, err
		}
		if _, err := io.ReadFull(f, msg); err != nil {
			return i, err
		}
	}
	return n, nil
}

// TestBypassRevokedOnReload: a flow that nfd bypassed stays in the kernel
// across a reload that means the same, and is stopped by the first commit
// of a ruleset that drops it (as `nft -f` of the new rules would stop it);
// the old mark bit is then cleared from the kernel's connections.
func TestBypassRevokedOnReload(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{443}, nil)
	rules := `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state established,related ct direction reply accept
		tcp dport 443 tls sni "blocked.example" reject with tcp reset
		# MARKER
		tcp dport 443 tls sni "*.example" accept
	}
}
`
	d := startDaemon(t, tp.FW, rules, "--offload", "auto")
	dir := t.TempDir()
	same := filepath.Join(dir, "same.nft")
	must(t, os.WriteFile(same, []byte(strings.Replace(rules, "# MARKER", "# the same rules, another comment", 1)), 0o644))
	cut := filepath.Join(dir, "cut.nft")
	must(t, os.WriteFile(cut, []byte(strings.Replace(rules, "# MARKER", `tcp dport 443 tls sni "www.example" drop`, 1)), 0o644))
	queued := func() uint64 {
		s, err := d.status()
		must(t, err)
		return s.Hooks["forward"].Packets
	}
	mark := func() string {
		s, err := d.status()
		must(t, err)
		return s.Chains[0].BypassMark
	}
	reload := func(f string) {
		t.Helper()
		if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, f); code != 0 {
			t.Fatalf("reload %s: %d %s", f, code, errOut)
		}
	}

	www, err := dialTLSFlow(tp, "www.example")
	must(t, err)
	defer www.Close()
	if n, err := www.rounds(10); n != 10 {
		t.Fatalf("www.example before any reload: %d rounds, %v", n, err)
	}
	mark0 := mark()

	reload(same)
	q0 := queued()
	if n, err := www.rounds(20); n != 20 {
		t.Fatalf("www.example after a reload of the same rules: %d rounds, %v", n, err)
	}
	if q := queued() - q0; q != 0 || mark() != mark0 {
		t.Errorf("reload of the same rules: %d packets of a bypassed flow queued (want 0), mark %s -> %s (want kept)", q, mark0, mark())
	}

	reload(cut)
	if mark() == mark0 {
		t.Errorf("a changed ruleset kept bypass mark %s", mark0)
	}
	if n, err := www.rounds(1); n != 0 || classify(err) != timeout {
		t.Errorf("bypassed www.example flow after a reload that drops it: %d rounds, %v; want it stopped", n, err)
	}
	other, err := dialTLSFlow(tp, "ok.example")
	must(t, err)
	defer other.Close()
	q1 := queued()
	if n, err := other.rounds(20); n != 20 {
		t.Fatalf("ok.example after the reload: %d rounds, %v", n, err)
	}
	if q := queued() - q1; q > 1 {
		t.Errorf("a new flow under the new rules queued %d of 20 packets; want it bypassed", q)
	}
	if _, err := dialTLSFlow(tp, "www.example"); err == nil || classify(err) != timeout {
		t.Errorf("a new www.example flow after the reload: %v, want dropped", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		s, err := d.status()
		must(t, err)
		if s.BypassRevoking == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old bypass mark %s still being revoked after 3 s", s.BypassRevoking)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := tp.FW.Run("conntrack", "-L", "--mark", mark0+"/"+mark0)
	if strings.Contains(out, "dport=443") {
		t.Errorf("connections still carry the old bypass mark %s:\n%s (%v)", mark0, out, err)
	}
}

// TestApplyRollback: an applied ruleset that cuts the traffic reverts by
// itself when not confirmed, also across a daemon restart; a confirmed one
// stays.
func TestApplyRollback(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, nil)
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, tp.FW, forwardRules, "--state-dir", state)
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.nft")
	must(t, os.WriteFile(cut, []byte(strings.Replace(forwardRules, `tcp dport 80 accept comment "web"`, `tcp dport 80 drop comment "cut"`, 1)), 0o644))
	web := func() string { return tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)) }
	if got := web(); got != ok {
		t.Fatalf("before apply: %s", got)
	}
	apply := func(d *daemon, confirm string) {
		t.Helper()
		if out, errOut, code := runIn(t, tp.FW, "apply", "--socket", d.socket, "--confirm", confirm, cut); code != 0 {
			t.Fatalf("apply: %d %s %s", code, out, errOut)
		}
	}
	// Not confirmed: back after the deadline.
	apply(d, "2s")
	if got := web(); got != timeout {
		t.Fatalf("after apply: %s, want cut", got)
	}
	s, _ := d.status()
	if s.PendingApply == nil {
		t.Fatal("status shows no pending apply")
	}
	time.Sleep(2500 * time.Millisecond)
	if got := web(); got != ok {
		t.Fatalf("after the deadline: %s, want the old ruleset back", got)
	}
	// Not confirmed, and the daemon restarts inside the window.
	apply(d, "3s")
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, tp.FW, strings.Replace(forwardRules, `tcp dport 80 accept comment "web"`, `tcp dport 80 drop comment "cut"`, 1), "--state-dir", state)
	if got := web(); got != timeout {
		t.Fatalf("restarted on the cut file: %s", got)
	}
	deadline := time.Now().Add(6 * time.Second)
	for web() != ok {
		if time.Now().After(deadline) {
			t.Fatal("the pending rollback did not survive the restart")
		}
	}
	// Confirmed: stays.
	apply(d, "2s")
	if _, _, code := runIn(t, tp.FW, "confirm", "--socket", d.socket); code != 0 {
		t.Fatal("confirm failed")
	}
	time.Sleep(2500 * time.Millisecond)
	if got := web(); got != timeout {
		t.Fatalf("confirmed apply reverted: %s", got)
	}
	if _, errOut, code := runIn(t, tp.FW, "confirm", "--socket", d.socket); code != 1 || !strings.Contains(errOut, "no apply is waiting") {
		t.Fatalf("second confirm: %d %s", code, errOut)
	}
}

// TestTrace: `nfd trace FILTER` streams the packets the filter selects,
// with the deciding rule and verdict; a bad filter is an error with its
// position.
func TestTrace(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81}, nil)
	d := startDaemon(t, tp.FW, forwardRules)
	cmd := tp.FW.Cmd(nfdBin, "trace", "--socket", d.socket, "--json", "--count", "3", "tcp dport 80")
	var out strings.Builder
	cmd.Stdout = &out
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)
	deadline := time.After(10 * time.Second)
	for {
		tcpTry(tp.Client, hostPort(netns.ServerIP4, 81))
		tcpTry(tp.Client, hostPort(netns.ServerIP4, 80))
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("trace: %v\n%s", err, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines:\n%s", len(lines), out.String())
			}
			for _, l := range lines {
				var ev map[string]any
				must(t, json.Unmarshal([]byte(l), &ev))
				if !strings.Contains(ev["packet"].(string), ":80 ") || ev["hook"] != "forward" || ev["verdict"] != "accept" {
					t.Errorf("event %s", l)
				}
			}
			if !strings.Contains(out.String(), `"rule":"web"`) {
				t.Errorf("no event names the deciding rule:\n%s", out.String())
			}
			_, errOut, code := runIn(t, tp.FW, "trace", "--socket", d.socket, "tcp dprot 80")
			if code != 1 || !strings.Contains(errOut, "<filter>:4:7: error: unknown keyword `dprot`") {
				t.Errorf("bad filter: %d %s", code, errOut)
			}
			return
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("trace produced:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestRestoreAfterFlush: another tool running `nft flush ruleset` (or
// deleting nfd's table) gets nfd's tables back within a second.
func TestRestoreAfterFlush(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81}, nil)
	d := startDaemon(t, tp.FW, forwardRules, "--offload", "auto")
	if s, err := d.status(); err != nil || !strings.HasPrefix(s.TableWatch, "nftables monitor") {
		t.Fatalf("table watch: %q %v", s.TableWatch, err)
	}
	for i, cmd := range []string{"flush ruleset", "delete table inet nfd_fw"} {
		if _, err := tp.FW.Run("nft", cmd); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for nfdTables(t, tp.FW) != "table inet nfd_fw" {
			if time.Since(start) > time.Second {
				t.Fatalf("after `nft %s`: tables not restored within 1s", cmd)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("after `nft %s`: restored in %v", cmd, time.Since(start).Round(time.Millisecond))
		// The monitor event, not the periodic backstop, noticed it.
		if n := strings.Count(d.logs.String(), "noticed_by=monitor"); n != i+1 {
			t.Errorf("restores noticed by the nftables monitor: %d, want %d\n%s", n, i+1, d.logs.String())
		}
		if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 81)); got != timeout {
			t.Fatalf("restored ruleset does not drop: %s", got)
		}
		if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
			t.Fatalf("restored ruleset does not accept: %s", got)
		}
	}
	// One rule deleted inside nfd's chain: the monitor's rule count
	// notices it too.
	rulesIn := func() int {
		out, _ := tp.FW.Run("nft", "-a", "list", "chain", "inet", "nfd_fw", "forward")
		return strings.Count(out, "# handle")
	}
	n := rulesIn()
	out, err := tp.FW.Run("nft", "-a", "list", "chain", "inet", "nfd_fw", "forward")
	must(t, err)
	m := regexp.MustCompile(`tcp dport 80 .*# handle (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no port-80 rule in nfd's chain:\n%s", out)
	}
	if _, err := tp.FW.Run("nft", "delete", "rule", "inet", "nfd_fw", "forward", "handle", m[1]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for rulesIn() != n {
		if time.Since(start) > time.Second {
			t.Fatalf("a deleted rule was not restored within 1s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("after deleting one of nfd's rules: restored in %v", time.Since(start).Round(time.Millisecond))
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
		t.Fatalf("after the rule's restore, port 80: %s", got)
	}
}

// tlsServer runs openssl s_server on port 8443 of tp's server, with a
// self-signed certificate for name, serving a 2 MiB big.bin (-WWW); its
// output is logged when the test fails.
func tlsServer(t *testing.T, tp *netns.Topology, name string) {
	dir := t.TempDir()
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-subj", "/CN="+name, "-days", "1", "-keyout", filepath.Join(dir, "key.pem"),
		"-out", filepath.Join(dir, "cert.pem")).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(dir, "big.bin"), make([]byte, 2<<20), 0o644))
	srv := tp.Server.Cmd("openssl", "s_server", "-quiet", "-accept", "8443", "-cert", filepath.Join(dir, "cert.pem"),
		"-key", filepath.Join(dir, "key.pem"), "-WWW")
	srv.Dir = dir
	srvLog := &lockedBuffer{}
	srv.Stdout, srv.Stderr = srvLog, srvLog
	must(t, srv.Start())
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("s_server:\n%s", srvLog.String())
		}
	})
}

// TestSNIRealTLS: a real TLS server (openssl s_server) and client (curl)
// through nfd with --offload=auto and one `tls sni` rule: a download from
// an allowed name completes with only its first packets in userspace, and
// a blocked name is stopped.
func TestSNIRealTLS(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "openssl", "curl")
	tp := netns.NewTopology(t)
	tlsServer(t, tp, "allowed.example")
	d := startDaemon(t, tp.FW, `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related ct direction reply accept
		ct state new tcp dport 8443 tcp flags syn accept comment "handshake"
		tcp dport 8443 tls sni "allowed.example" accept comment "sni-ok"
		tcp dport 8443 ct state established meta length < 80 accept comment "pure acks before the name"
	}
}
`, "--offload", "auto")
	curl := func(name string) (string, error) {
		out, err := tp.Client.Cmd("curl", "-sk", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
			"--resolve", name+":8443:"+netns.ServerIP4, "https://"+name+":8443/big.bin").CombinedOutput()
		return string(out), err
	}
	// s_server needs a moment to listen.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if out, err := curl("allowed.example"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("first download: %v %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	before, err := d.status()
	must(t, err)
	out, err := curl("allowed.example")
	if err != nil || out != "200 2097152" {
		t.Fatalf("allowed name: %q %v", out, err)
	}
	after, err := d.status()
	must(t, err)
	queued := after.Hooks["forward"].Packets - before.Hooks["forward"].Packets
	// SYN, the handshake's ACK, the ClientHello; the ~100 other client
	// packets (TLS handshake, request, ACKs of 2 MiB) stay in the kernel.
	if queued > 3 {
		t.Errorf("a 2 MiB TLS download sent %d packets to userspace, want at most 3", queued)
	}
	t.Logf("curl through nfd: 2 MiB over TLS 1.3, %d client packets queued, %d flows bypassed so far", queued, after.Bypassed)
	if out, err := curl("blocked.example"); err == nil {
		t.Errorf("blocked name downloaded: %q", out)
	}
	// The rule after the SNI rule runs in both places, one count.
	out, errOut, code := runIn(t, tp.FW, "rules", "--socket", d.socket)
	m := regexp.MustCompile(`comment "pure acks before the name" # handle \d+, kernel for packets no userspace rule before it can match, nfd for the rest; packets (\d+)`).FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] == "0" {
		t.Errorf("nfd rules: %d %s\n%s", code, errOut, out)
	}
}

// TestPolicyCounted: packets a base chain's policy decides in the kernel
// (an offloaded chain) appear in nfd_packets_total{family="kernel"}.
func TestPolicyCounted(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81}, nil)
	startDaemon(t, tp.FW, forwardRules, "--offload", "auto", "--metrics-addr", "127.0.0.1:9642")
	for i := 0; i < 3; i++ {
		if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 81)); got != timeout {
			t.Fatalf("port 81 under policy drop: %s", got)
		}
	}
	body, err := tp.FW.HTTPGet("127.0.0.1:9642", "/metrics")
	must(t, err)
	m := regexp.MustCompile(`(?m)^nfd_packets_total\{family="kernel",hook="forward",verdict="drop"\} (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no kernel policy drops in the scrape:\n%s", body)
	}
	if n, _ := strconv.Atoi(m[1]); n < 3 {
		t.Errorf("kernel policy drops %d, want at least 3 (one SYN per attempt)", n)
	}
}

// TestSNIBlocklistFirst: the usual way to block TLS names — the name rule
// before `ct state established,related accept`, since a ClientHello travels
// on an established connection — with --offload=auto. The rule's guard
// (`tcp dport 8443`) queues only the client's packets; the server's
// replies, the SYN-ACK among them, are accepted natively and never reach
// nfd, so nfd's own table would call the handshake's ACK invalid and the
// `ct state` rules after it would drop the connection. nfd must take the
// kernel's view of such connections (conntrack resync) and decide as
// nft -f would: an allowed name completes, a blocked one is reset.
// With a flow-constant accept right after the name rule (the form the
// README recommends), an allowed flow is handed back to the kernel once its
// name is known: a 2 MiB download queues at most 3 packets.
func TestSNIBlocklistFirst(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "openssl", "curl")
	for _, c := range []struct {
		name, accept string
		maxQueued    uint64 // 0: not checked
	}{
		{"ct-state-accept", "ct state new tcp dport 8443 accept", 0},
		{"flow-accept", "ip daddr " + netns.ServerIP4 + " tcp dport 8443 accept", 3},
	} {
		t.Run(c.name, func(t *testing.T) { testSNIBlocklist(t, c.accept, c.maxQueued) })
	}
}

func testSNIBlocklist(t *testing.T, accept string, maxQueued uint64) {
	tp := netns.NewTopology(t)
	tlsServer(t, tp, "www.example")
	rules := `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		tcp dport 8443 tls sni "ads.example" reject with tcp reset comment "sni-block"
		ACCEPT
		ct state established,related accept
	}
}
`
	d := startDaemon(t, tp.FW, strings.Replace(rules, "ACCEPT", accept, 1), "--offload", "auto")
	curl := func(name string) (string, error) {
		out, err := tp.Client.Cmd("curl", "-sk", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
			"--resolve", name+":8443:"+netns.ServerIP4, "https://"+name+":8443/big.bin").CombinedOutput()
		return string(out), err
	}
	var out string
	var err error
	for deadline := time.Now().Add(8 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if out, err = curl("www.example"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || out != "200 2097152" {
		t.Fatalf("allowed name through a blocklist rule: %q %v", out, err)
	}
	before, err := d.status()
	must(t, err)
	if out, err := curl("www.example"); err != nil || out != "200 2097152" {
		t.Fatalf("second download: %q %v", out, err)
	}
	after, err := d.status()
	must(t, err)
	queued := after.Hooks["forward"].Packets - before.Hooks["forward"].Packets
	t.Logf("2 MiB over TLS: %d client packets queued; %d resyncs with the kernel's table", queued, after.Conntrack.Resynced)
	if maxQueued > 0 && queued > maxQueued {
		t.Errorf("a 2 MiB download sent %d packets to userspace, want at most %d", queued, maxQueued)
	}
	if after.Conntrack.Resynced == 0 {
		t.Errorf("no connection took the kernel's view")
	}
	if out, err := curl("ads.example"); err == nil {
		t.Errorf("blocked name completed: %q", out)
	}
	if s, _ := d.status(); s.Hooks["forward"].Reject == 0 {
		t.Errorf("blocked name not rejected by nfd: %+v", s.Hooks["forward"])
	}
}

// TestSNISplitHello: a ClientHello in two segments, its server name in
// the second (as a post-quantum key share and a browser's shuffled
// extensions put it), is judged by that name: nfd reassembles the record,
// a blocked name is reset when its second segment arrives and the server
// never gets the whole ClientHello; an allowed one completes and the flow
// is then handed to the kernel.
func TestSNISplitHello(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{443}, nil)
	d := startDaemon(t, tp.FW, `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		tcp dport 443 tls sni "blocked.example" reject with tcp reset comment "sni-block"
		ip daddr `+netns.ServerIP4+` tcp dport 443 accept comment "https"
		ct state established,related accept
	}
}
`, "--offload", "auto")
	split := func(name string) error {
		ch := pktgen.ClientHelloPadded(name, 1500)
		if packet.TLSServerName(ch[:1000]) != nil {
			t.Fatal("the first segment names the server")
		}
		return splitEcho(tp, 443, ch, 1000)
	}
	if err := split("www.example"); err != nil {
		t.Fatalf("allowed name: %v", err)
	}
	if err := split("blocked.example"); err == nil {
		t.Fatal("blocked name in the second segment got through")
	}
	s, err := d.status()
	must(t, err)
	if s.Hooks["forward"].Reject != 1 || s.Bypassed == 0 || s.Conntrack.NamesAbandoned != 0 {
		t.Errorf("forward %+v, bypassed %d, abandoned %d; want 1 reject, the allowed flow bypassed, none abandoned",
			s.Hooks["forward"], s.Bypassed, s.Conntrack.NamesAbandoned)
	}
}

// TestHTTPSplitHost: a request whose long request line pushes its Host
// header into the second segment (how a client would slip past `http
// host`) is judged by that Host: a blocked one is reset when the header
// arrives, the server never sees the whole request head; an allowed one
// completes.
func TestHTTPSplitHost(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, nil)
	d := startDaemon(t, tp.FW, `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		tcp dport 80 http host "blocked.example" reject with tcp reset comment "host-block"
		ip daddr `+netns.ServerIP4+` tcp dport 80 accept comment "web"
		ct state established,related accept
	}
}
`, "--offload", "auto")
	split := func(host string) error {
		req := []byte("GET /" + strings.Repeat("a", 1500) + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		if packet.HTTPHost(req[:1000]) != nil {
			t.Fatal("the first segment names the host")
		}
		return splitEcho(tp, 80, req, 1000)
	}
	if err := split("www.example"); err != nil {
		t.Fatalf("allowed host: %v", err)
	}
	if err := split("blocked.example"); err == nil {
		t.Fatal("blocked host in the second segment got through")
	}
	s, err := d.status()
	must(t, err)
	if s.Hooks["forward"].Reject != 1 || s.Conntrack.NamesAbandoned != 0 {
		t.Errorf("forward %+v, abandoned %d; want 1 reject, none abandoned", s.Hooks["forward"], s.Conntrack.NamesAbandoned)
	}
}

// splitEcho sends msg to the server's echo port from the client in two
// segments, split at at (a pause between the writes keeps them apart),
// and reads the echo back.
func splitEcho(tp *netns.Topology, port int, msg []byte, at int) error {
	var c net.Conn
	if err := tp.Client.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", hostPort(netns.ServerIP4, port), 2*time.Second)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(msg[:at]); err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond) // a segment of its own
	if _, err := c.Write(msg[at:]); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, len(msg)))
	return err
}
