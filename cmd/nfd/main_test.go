package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/pcapio"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

var nfdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nfd-bin")
	if err != nil {
		panic(err)
	}
	nfdBin = filepath.Join(dir, "nfd")
	_ = os.Chmod(dir, 0o755) // other users run it too (TestControlSocketRootOnly)
	if out, err := exec.Command("go", "build", "-o", nfdBin, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(nfdBin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckInterfaces: iif/oif names resolve where check runs, as nft -c
// resolves them; a missing one is an error at its position, unless
// --interface says to assume it.
func TestCheckInterfaces(t *testing.T) {
	f := write(t, "iif.nft", "table inet t {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t\tiif lo accept\n\t\tiif nfdnosuch0 oif nfdnosuch1 drop\n\t}\n}\n")
	_, errOut, code := run(t, "check", f)
	if code != 1 || !strings.Contains(errOut, f+":5:7: error: interface `nfdnosuch0` does not exist") {
		t.Fatalf("missing interface: exit %d, stderr:\n%s", code, errOut)
	}
	out, errOut, code := run(t, "check", "--print", "--interface", "nfdnosuch0,nfdnosuch1", f)
	if code != 0 || !strings.Contains(out, `iif "nfdnosuch0" oif "nfdnosuch1" drop`) || !strings.Contains(out, `iif "lo" accept`) {
		t.Fatalf("--interface: exit %d\n%s%s", code, out, errOut)
	}
}

func TestCheckExitCodes(t *testing.T) {
	good := write(t, "good.nft", "table inet t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport 22 accept\n\t}\n}\n")
	bad := write(t, "bad.nft", "table inet t {\n\tchain c {\n\t\ttcp dprot 22 accept\n\t}\n}\n")
	if _, _, code := run(t, "check", good); code != 0 {
		t.Fatalf("valid file: exit %d", code)
	}
	_, errOut, code := run(t, "check", good, bad)
	if code != 1 || !strings.Contains(errOut, bad+":3:7: error: unknown keyword `dprot`, did you mean `dport`?") || !strings.Contains(errOut, "\t\t    ^") {
		t.Fatalf("invalid file: exit %d, stderr:\n%s", code, errOut)
	}
	if _, _, code := run(t, "check"); code != 2 {
		t.Fatalf("no file: exit %d, want 2", code)
	}
	if _, _, code := run(t, "check", "--bogus", good); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
	out, _, code := run(t, "check", "--print", good)
	if code != 0 || !strings.Contains(out, "type filter hook input priority filter; policy drop;") {
		t.Fatalf("--print: %d\n%s", code, out)
	}
	if out, _, _ := run(t, "version"); !strings.HasPrefix(out, "nfd ") {
		t.Fatalf("version: %q", out)
	}
	if out, _, code := run(t, "completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Fatalf("completion: %d", code)
	}
	if out, _, _ := run(t, "check", "--help"); !strings.Contains(out, "exits 0 when every file is valid") {
		t.Fatalf("help: %s", out)
	}
}

func TestReplay(t *testing.T) {
	rules := write(t, "r.nft", `table inet f {
	chain in {
		type filter hook input priority 0; policy drop;
		ct state established,related accept comment "est"
		tcp dport 22 accept comment "ssh"
	}
	chain fw {
		type filter hook forward priority 0; policy accept;
		udp dport 53 fib daddr type local drop comment "fib"
		udp dport 53 drop comment "no-dns"
	}
}`)
	srv := netip.MustParseAddr("10.0.0.2")
	cli := netip.MustParseAddr("10.0.0.1")
	other := netip.MustParseAddr("10.9.9.9")
	pkts := [][]byte{
		pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 6, Sport: 4000, Dport: 22, TCPFlags: packet.TCPSyn}),
		pktgen.Build(pktgen.Opts{Src: srv, Dst: cli, Proto: 6, Sport: 22, Dport: 4000, TCPFlags: packet.TCPSyn | packet.TCPAck}),
		pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 6, Sport: 4000, Dport: 22, TCPFlags: packet.TCPAck}),
		pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 6, Sport: 4001, Dport: 80, TCPFlags: packet.TCPSyn}),
		pktgen.Build(pktgen.Opts{Src: cli, Dst: other, Proto: 17, Sport: 5000, Dport: 53}),
	}
	capf := filepath.Join(t.TempDir(), "c.pcap")
	f, _ := os.Create(capf)
	if err := pcapio.Write(f, pkts); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, errOut, code := run(t, "replay", "--rules", rules, "--local", "10.0.0.2", "--json", capf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := []jsonResult{
		{Packet: 1, Hook: "input", Verdict: "accept", Table: "f", Chain: "in", Rule: "ssh"},
		{Packet: 2, Hook: "postrouting", Verdict: "accept"},
		{Packet: 3, Hook: "input", Verdict: "accept", Table: "f", Chain: "in", Rule: "est"},
		{Packet: 4, Hook: "input", Verdict: "drop", Table: "f", Chain: "in"},
		{Packet: 5, Hook: "forward", Verdict: "drop", Table: "f", Chain: "fw", Rule: "no-dns"},
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	i := 0
	for ; sc.Scan(); i++ {
		var got jsonResult
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		got.Summary = ""
		// Only the kernel can evaluate fib: replay says it assumed the
		// rule did not match, on the packet that reached it only.
		assumed := got.Assumed
		got.Assumed = nil
		if reached := i == 4; reached != (len(assumed) == 1) || reached && !strings.Contains(assumed[0], "rule fib at ") {
			t.Fatalf("line %d: assumed %q", i+1, assumed)
		}
		if i >= len(want) || !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("line %d: got %+v", i+1, got)
		}
	}
	if i != len(want) {
		t.Fatalf("%d lines, want %d", i, len(want))
	}
	text, _, _ := run(t, "replay", "--rules", rules, "--local", "10.0.0.2", capf)
	if !strings.Contains(text, "5 packets: accept 3 drop 2 reject 0") || !strings.Contains(text, "assumed no match (only the kernel can evaluate it, replay cannot): forward f/fw rule fib at") ||
		!strings.Contains(text, "1 packets reached rules only the kernel can evaluate") {
		t.Fatalf("text output:\n%s", text)
	}
	if _, _, code := run(t, "replay", "--rules", rules, "--hook", "nowhere", capf); code != 2 {
		t.Fatalf("bad hook: exit %d", code)
	}
}

// Bad `nfd run` flags are usage errors (exit 2) found before anything is
// probed or programmed, so this needs no root.
func TestRunFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--busy-poll", "2s"}, "--busy-poll must be between 0 and 1s"},
		{[]string{"--busy-poll", "-1ms"}, "--busy-poll must be between 0 and 1s"},
		{[]string{"--busy-poll", "1ms", "--queue-reader", "go-nfqueue"}, "--busy-poll needs --queue-reader nfd"},
		{[]string{"--offload", "some"}, "--offload must be auto or none"},
		{[]string{"--queues", "65"}, "--queues 0-64"},
	} {
		_, errOut, code := run(t, append([]string{"run", "--rules", "/nonexistent.nft", "--socket", filepath.Join(t.TempDir(), "s")}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("run %v: exit %d, stderr %q, want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// TestReplaySplitHello: `nfd replay` judges a ClientHello over two
// segments by the name in the second, as the daemon does.
func TestReplaySplitHello(t *testing.T) {
	rules := write(t, "r.nft", `table inet f {
	chain fw {
		type filter hook forward priority 0; policy accept;
		tcp dport 443 tls sni "blocked.example" drop comment "sni"
	}
}`)
	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	ch := pktgen.ClientHelloPadded("blocked.example", 1500)
	tcp := func(toSrv bool, flags uint8, seq uint32, data []byte) []byte {
		o := pktgen.Opts{Src: cli, Dst: srv, Proto: 6, Sport: 40000, Dport: 443, TCPFlags: flags, Seq: seq, Payload: data}
		if !toSrv {
			o.Src, o.Dst, o.Sport, o.Dport = srv, cli, 443, 40000
		}
		return pktgen.Build(o)
	}
	pkts := [][]byte{
		tcp(true, packet.TCPSyn, 99, nil), tcp(false, packet.TCPSyn|packet.TCPAck, 0, nil), tcp(true, packet.TCPAck, 100, nil),
		tcp(true, packet.TCPAck|packet.TCPPsh, 100, ch[:1000]), tcp(true, packet.TCPAck|packet.TCPPsh, 1100, ch[1000:]),
	}
	capf := filepath.Join(t.TempDir(), "c.pcap")
	f, _ := os.Create(capf)
	if err := pcapio.Write(f, pkts); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, errOut, code := run(t, "replay", "--rules", rules, "--json", capf)
	var verdicts []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var got jsonResult
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		verdicts = append(verdicts, got.Verdict)
	}
	if code != 0 || strings.Join(verdicts, " ") != "accept accept accept accept drop" {
		t.Fatalf("exit %d (%s), verdicts %v, want the second segment dropped", code, errOut, verdicts)
	}
}

// TestCheckWarns: `nfd check` prints lint warnings with their position
// and still exits 0; the shipped examples have none.
func TestCheckWarns(t *testing.T) {
	f := write(t, "w.nft", "table inet t {\n\tchain c {\n\t\ttype filter hook forward priority 0; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport 443 tls sni \"x.example\" drop\n\t}\n}\n")
	_, errOut, code := run(t, "check", f)
	if code != 0 || !strings.Contains(errOut, f+":5:3: warning: this rule never sees a ClientHello") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	examples, _ := filepath.Glob("../../deploy/examples/*.nft")
	if len(examples) == 0 {
		t.Fatal("no examples")
	}
	if _, errOut, code := run(t, append([]string{"check"}, examples...)...); code != 0 || errOut != "" {
		t.Fatalf("examples: exit %d, stderr:\n%s", code, errOut)
	}
}

// TestCheckPlans: `nfd check` runs the planner too, so what only `nfd run`
// used to refuse (a rule a kernel-only chain cannot run, a name too long
// for nfd's kernel tables) is an error at check time, with its position,
// the source line and a caret; --offload=none plans as `nfd run` would.
func TestCheckPlans(t *testing.T) {
	natOnly := write(t, "nat.nft", "table ip t {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tip saddr . tcp dport { 10.0.0.0/8 . 22-25 } accept\n\t}\n}\n")
	_, errOut, code := run(t, "check", natOnly)
	if code != 1 || !strings.Contains(errOut, natOnly+":4:3: error: nat chain `pre` runs only in the kernel, but this rule cannot: a concatenation with ranges") ||
		!strings.Contains(errOut, "\t\tip saddr . tcp dport { 10.0.0.0/8 . 22-25 } accept\n\t\t^") {
		t.Fatalf("nat chain: exit %d, stderr:\n%s", code, errOut)
	}
	long := write(t, "long.nft", "table inet "+strings.Repeat("a", 252)+" {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t}\n}\n")
	if _, errOut, code := run(t, "check", long); code != 1 || !strings.Contains(errOut, long+":1:12: error: table name") {
		t.Fatalf("long table name: exit %d, stderr:\n%s", code, errOut)
	}
	// A NAT chain is planned the same way with --offload=none.
	if _, _, code := run(t, "check", "--offload=none", natOnly); code != 1 {
		t.Fatalf("--offload=none: exit %d", code)
	}
	if _, _, code := run(t, "check", "--offload=bogus", natOnly); code != 2 {
		t.Fatalf("--offload=bogus: exit %d, want 2", code)
	}
}
