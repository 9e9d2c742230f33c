package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// probeCounter reads the packet count of the only counter in chain
// inet probe <chain>.
func probeCounter(t *testing.T, ns *netns.NS, chain string) uint64 {
	t.Helper()
	for k, rules := range ns.NftCounters(t) {
		if k == "inet/probe/"+chain && len(rules) == 1 && len(rules[0]) == 1 {
			return rules[0][0]
		}
	}
	t.Fatalf("no probe counter in %s", chain)
	return 0
}

func hostilePackets(r *rand.Rand) [][]byte {
	src4, dst4 := netip.MustParseAddr("10.88.0.1"), netip.MustParseAddr("10.88.0.2")
	src6, dst6 := netip.MustParseAddr("fd88::1"), netip.MustParseAddr("fd88::2")
	var out [][]byte
	// TCP with every flag combination: the ones tcp_error() calls invalid
	// and the rest, on one connection.
	for f := 0; f < 256; f++ {
		out = append(out, pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 6, Sport: 1000, Dport: 443, TCPFlags: uint8(f), Seq: r.Uint32()}))
	}
	// Truncated TCP: the IP length covers 10 bytes of a 20-byte header.
	tr := pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 6, Sport: 1, Dport: 2, TCPFlags: packet.TCPSyn})[:30]
	binary.BigEndian.PutUint16(tr[2:], 30)
	pktgen.FixIPv4Checksum(tr)
	out = append(out, tr)
	// Bogus IHL and total length (ip_rcv() drops most before any hook).
	for _, bad := range []func(b []byte){
		func(b []byte) { b[0] = 0x44 },                                          // IHL 4: shorter than the header
		func(b []byte) { b[0] = 0x4f },                                          // IHL 15: past the packet
		func(b []byte) { binary.BigEndian.PutUint16(b[2:], uint16(len(b)+40)) }, // total length past the end
		func(b []byte) { binary.BigEndian.PutUint16(b[2:], 12) },                // total length inside the header
		func(b []byte) { binary.BigEndian.PutUint16(b[2:], 24) },                // total length cutting the TCP header
	} {
		b := pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 6, Sport: 1001, Dport: 443, TCPFlags: packet.TCPSyn})
		bad(b)
		pktgen.FixIPv4Checksum(b)
		out = append(out, b)
	}
	// IPv6 with long extension-header chains.
	for _, n := range []int{15, 17, 40} {
		ext := make([]uint8, n)
		for i := range ext {
			ext[i] = 60
		}
		out = append(out, pktgen.Build(pktgen.Opts{Src: src6, Dst: dst6, Proto: 6, Sport: 1, Dport: 443, TCPFlags: packet.TCPSyn, Ext6: ext}))
	}
	// ICMP errors quoting flows nobody tracks.
	out = append(out, pktgen.ICMPError(src4, 3, 3, pktgen.Build(pktgen.Opts{Src: dst4, Dst: src4, Proto: 17, Sport: 9, Dport: 99})))
	out = append(out, pktgen.ICMPError(src6, 1, 4, pktgen.Build(pktgen.Opts{Src: dst6, Dst: src6, Proto: 17, Sport: 9, Dport: 99})))
	// A ClientHello whose SNI lies about its length.
	ch := pktgen.ClientHello("liar.example")
	ch[len(ch)-len("liar.example")-1] = 0xff
	out = append(out, pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 6, Sport: 2000, Dport: 443, TCPFlags: packet.TCPAck | packet.TCPPsh, Payload: ch}))
	// DNS queries with compression loops.
	q := pktgen.DNSQuery(7, "x.example")[:12]
	q = append(q, 0xc0, 12, 0, 1, 0, 1)
	out = append(out, pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 17, Sport: 3000, Dport: 53, Payload: q}))
	// Tiny and overlapping fragments.
	frag := pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 17, Sport: 4000, Dport: 53, Payload: make([]byte, 64), MoreFrags: true})
	out = append(out, frag[:28])
	over := pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 17, Sport: 4000, Dport: 53, Payload: make([]byte, 16), FragOff: 0})
	out = append(out, over)
	// Overlapping fragments: 0-47 with more to come, then 24-63 (last).
	first := pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 17, Sport: 4001, Dport: 53, Payload: make([]byte, 40), MoreFrags: true})
	binary.BigEndian.PutUint16(first[4:], 0x4242)
	second := pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 17, Sport: 4001, Dport: 53, Payload: make([]byte, 32), FragOff: 3})
	binary.BigEndian.PutUint16(second[4:], 0x4242)
	out = append(out, first, second)
	// The same in IPv6 (RFC 5722: the kernel drops overlapping fragments).
	f6a := pktgen.Build(pktgen.Opts{Src: src6, Dst: dst6, Proto: 17, Sport: 4002, Dport: 53, Payload: make([]byte, 40), Ext6: []uint8{44}, MoreFrags: true})
	f6b := pktgen.Build(pktgen.Opts{Src: src6, Dst: dst6, Proto: 17, Sport: 4002, Dport: 53, Payload: make([]byte, 32), Ext6: []uint8{44}, FragOff: 3})
	out = append(out, f6a, f6b)
	// Garbage transports under valid IP headers.
	for i := 0; i < 200; i++ {
		payload := make([]byte, r.Intn(120))
		r.Read(payload)
		proto := []uint8{6, 17, 1, 58, 47, 132, uint8(r.Intn(256))}[r.Intn(7)]
		if r.Intn(2) == 0 {
			out = append(out, pktgen.Build(pktgen.Opts{Src: src4, Dst: dst4, Proto: 255, Payload: payload}))
			out[len(out)-1][9] = proto
		} else {
			out = append(out, pktgen.Build(pktgen.Opts{Src: src6, Dst: dst6, Proto: 59, Payload: payload}))
			out[len(out)-1][6] = proto
		}
	}
	return out
}

// TestHostilePackets sends crafted traffic through a daemon that queues
// every packet: nfd never crashes or stalls, and every packet that reached
// the hook got a verdict (a native counter before nfd's chain and nfd's own
// per-hook count agree).
func TestHostilePackets(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, rcv := netns.NewInjector(t, "hp", "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	if _, err := rcv.Run("nft", "add table inet probe; add chain inet probe pre { type filter hook prerouting priority -160; }; add rule inet probe pre counter"); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, rcv, `table inet fw {
	chain pre {
		type filter hook prerouting priority -150; policy accept;
		ct state invalid counter comment "invalid"
		tcp dport 443 tls sni "*.example" counter comment "sni"
		udp dport 53 dns qname "x.example" counter comment "dns"
		tcp flags & (syn | fin) == syn | fin drop comment "synfin"
		meta l4proto 255 drop
	}
}
`)
	pkts := hostilePackets(rand.New(rand.NewSource(1)))
	before := probeCounter(t, rcv, "pre")
	for _, p := range pkts {
		if err := inj.Send(p); err != nil {
			t.Fatalf("inject: %v", err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	s, err := d.status()
	if err != nil {
		t.Fatalf("daemon gone after hostile input: %v", err)
	}
	reached := probeCounter(t, rcv, "pre") - before
	decided := s.Hooks["prerouting"].Packets
	if reached == 0 || decided != reached {
		t.Fatalf("%d crafted packets sent, %d reached prerouting, nfd decided %d", len(pkts), reached, decided)
	}
	t.Logf("%d crafted packets sent, %d reached the hook, all %d decided; queue errors %d", len(pkts), reached, decided, s.QueueErrors)
	// Still deciding afterwards.
	for i := 0; i < 10; i++ {
		_ = inj.Send(pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("10.88.0.1"), Dst: netip.MustParseAddr("10.88.0.2"), Proto: 17, Sport: 5, Dport: 6}))
	}
	time.Sleep(200 * time.Millisecond)
	s2, err := d.status()
	if err != nil || s2.Hooks["prerouting"].Packets < decided+10 {
		t.Fatalf("not deciding after the hostile burst: %v %+v", err, s2.Hooks["prerouting"])
	}
}

// TestQueueOverload floods a fail-open (policy accept) chain whose queue
// holds 16 packets: the kernel counts the overflow, nothing is lost (every
// packet reaches the next hook), and nfd keeps deciding afterwards.
func TestQueueOverload(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, rcv := netns.NewInjector(t, "qo", "k0", []string{"10.88.0.2/24"})
	if _, err := rcv.Run("nft", "add table inet probe; add chain inet probe in { type filter hook input priority 100; }; add rule inet probe in counter"); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, rcv, `table inet fw {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport 9 dns qname "never.example" drop
	}
}
`, "--queue-len", "16")
	const n = 20000
	p := pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("10.88.0.1"), Dst: netip.MustParseAddr("10.88.0.2"), Proto: 17, Sport: 5, Dport: 9})
	for i := 0; i < n; i++ {
		if err := inj.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	s, err := d.status()
	must(t, err)
	passed := probeCounter(t, rcv, "in")
	t.Logf("%d sent: nfd decided %d, %d overflowed and failed open, %d kernel queue drops, %d reached the next hook",
		n, s.Hooks["input"].Packets, s.QueueFailOpen, s.QueueDrops, passed)
	if passed != n {
		t.Errorf("fail-open chain lost packets: %d of %d passed", passed, n)
	}
	if s.Hooks["input"].Packets+s.QueueFailOpen != n {
		t.Errorf("decided %d + failed open %d != %d sent", s.Hooks["input"].Packets, s.QueueFailOpen, n)
	}
	before := s.Hooks["input"].Packets
	for i := 0; i < 5; i++ {
		_ = inj.Send(p)
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	s, _ = d.status()
	if s.Hooks["input"].Packets < before+5 {
		t.Fatalf("nfd did not recover after the flood: %d then %d", before, s.Hooks["input"].Packets)
	}
}

// TestConntrackFull: with a 20-entry table, a burst of new UDP flows
// evicts unassured entries (counted) while an established TCP stream
// keeps working.
func TestConntrackFull(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80}, []int{53})
	d := startDaemon(t, tp.FW, `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		tcp dport 80 accept
		udp dport 53 accept
	}
}
`, "--conntrack-max", "20")
	c := dialServer(t, tp, 80)
	echo := func() error {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	for i := 0; i < 3; i++ {
		must(t, echo())
	}
	for i := 0; i < 60; i++ {
		udpTry(tp.Client, hostPort(netns.ServerIP4, 53))
		if i%10 == 0 {
			if err := echo(); err != nil {
				t.Fatalf("established stream broke with a full table: %v", err)
			}
		}
	}
	s, err := d.status()
	must(t, err)
	if s.Conntrack.Evictions == 0 || s.Conntrack.Entries > 20 {
		t.Fatalf("conntrack: %+v", s.Conntrack)
	}
	t.Logf("conntrack with max 20: %d evictions, %d drops, %d entries; the TCP stream kept working", s.Conntrack.Evictions, s.Conntrack.Drops, s.Conntrack.Entries)
}

// TestControlSocketRootOnly: another user cannot talk to the daemon.
func TestControlSocketRootOnly(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "cs")
	d := startDaemon(t, ns, "table inet t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t}\n}\n")
	st, err := os.Stat(d.socket)
	must(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v", st.Mode().Perm())
	}
	// Let the unprivileged user reach the directory, so only the socket's
	// own permission and the credential check stand in the way.
	must(t, os.Chmod(filepath.Dir(d.socket), 0o755))
	cmd := exec.Command(nfdBin, "status", "--socket", d.socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("status as nobody: %v\n%s", err, out)
	}
}

// TestSoak runs mixed TCP and UDP traffic with a reload every 2 seconds
// (NFD_SOAK_SECONDS, default 20; bench/soak.sh runs 300): no lost
// verdicts (every exchange completes), no queue drops below capacity, and
// no goroutine or heap growth past a bound.
func TestSoak(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	secs := 20
	if v, err := strconv.Atoi(os.Getenv("NFD_SOAK_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	tp := netns.NewTopology(t)
	// Hundreds of thousands of short connections: let the client reuse
	// ports in TIME_WAIT, or it runs out of them (EADDRNOTAVAIL).
	if _, err := tp.Client.Run("sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1"); err != nil {
		t.Fatal(err)
	}
	servers(t, tp.Server, []int{80}, []int{53})
	var extra []string
	if lv := os.Getenv("NFD_SOAK_LOG"); lv != "" {
		extra = []string{"--log-level", lv}
	}
	d := startDaemon(t, tp.FW, forwardRules, extra...)
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "a.nft"), filepath.Join(dir, "b.nft")}
	must(t, os.WriteFile(files[0], []byte(forwardRules), 0o644))
	must(t, os.WriteFile(files[1], []byte(strings.Replace(forwardRules, `comment "web"`, `comment "web-b"`, 1)), 0o644))
	time.Sleep(time.Second)
	warm, err := d.status()
	must(t, err)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := map[string]int{}
	exchanges := 0
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var got, kind string
				if w%2 == 0 {
					got, kind = tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)), "tcp"
				} else {
					got, kind = udpTry(tp.Client, hostPort(netns.ServerIP6, 53)), "udp"
				}
				mu.Lock()
				exchanges++
				if got != ok {
					failures[kind+" "+got]++
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}(w)
	}
	end := time.Now().Add(time.Duration(secs) * time.Second)
	reloads := 0
	for time.Now().Before(end) {
		time.Sleep(2 * time.Second)
		if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, files[reloads%2]); code != 0 {
			t.Fatalf("reload: %s", errOut)
		}
		reloads++
	}
	close(stop)
	wg.Wait()
	s, err := d.status()
	must(t, err)
	t.Logf("soak %ds: %d exchanges, failures %v, %d reloads; goroutines %d→%d, heap %d→%d KiB, queue drops %d",
		secs, exchanges, failures, reloads, warm.Goroutines, s.Goroutines, warm.HeapBytes>>10, s.HeapBytes>>10, s.QueueDrops)
	if len(failures) > 0 {
		t.Errorf("lost exchanges: %v of %d", failures, exchanges)
	}
	if s.QueueDrops != 0 {
		t.Errorf("queue drops below capacity: %d", s.QueueDrops)
	}
	if s.Goroutines > warm.Goroutines+10 {
		t.Errorf("goroutines grew from %d to %d", warm.Goroutines, s.Goroutines)
	}
	if s.HeapBytes > 2*warm.HeapBytes+32<<20 {
		t.Errorf("heap grew from %d to %d bytes", warm.HeapBytes, s.HeapBytes)
	}
	_ = fmt.Sprint
}

// echoStream exchanges 512-byte messages over c until stopped; stop
// returns how many round trips completed and the first failure (an error,
// or a round trip over a second).
func echoStream(c net.Conn) (stop func() (int, error)) {
	done := make(chan struct{})
	res := make(chan error, 1)
	rounds := 0
	go func() {
		msg := make([]byte, 512)
		for {
			select {
			case <-done:
				res <- nil
				return
			default:
			}
			start := time.Now()
			_ = c.SetDeadline(start.Add(time.Second))
			if _, err := c.Write(msg); err != nil {
				res <- fmt.Errorf("write after %d rounds: %w", rounds, err)
				return
			}
			if _, err := io.ReadFull(c, msg); err != nil {
				res <- fmt.Errorf("read after %d rounds: %w", rounds, err)
				return
			}
			if el := time.Since(start); el > time.Second {
				res <- fmt.Errorf("round trip stalled %v", el)
				return
			}
			rounds++
		}
	}()
	return func() (int, error) {
		close(done)
		err := <-res
		return rounds, err
	}
}

// TestKernelRefusesCommit: a file the kernel would refuse (a limit whose
// burst at its rate overflows nft_limit's token bucket: EOVERFLOW, as
// `nft -f` reports for it). nfd used to find this only when it committed;
// it now predicts it at check time, so the refusal names the rule before
// any batch is sent (the commit-time path, naming a rule the kernel alone
// refuses, is kernel/TestLargeRulesetRefusedRule's). At start: exit 1
// naming the rule, no table left behind. At reload, under traffic: exit
// 1 naming the rule, the old ruleset keeps running, no packet that should
// pass is lost, and no probe table is left.
func TestKernelRefusesCommit(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{80, 81}, nil)
	dir := t.TempDir()
	refused := filepath.Join(dir, "refused.nft")
	must(t, os.WriteFile(refused, []byte(strings.Replace(forwardRules, `tcp dport 80 accept comment "web"`,
		"tcp dport 80 accept comment \"web\"\n\t\ttcp dport 81 limit rate 1/day burst 4294967295 packets accept", 1)), 0o644))
	want := refused + ":6:16: error: the kernel refuses this limit: its packet bucket overflows 64 bits (value too large for defined data type)"

	out, err := tp.FW.Cmd(nfdBin, "run", "--rules", refused, "--offload", "auto", "--socket", filepath.Join(dir, "s.sock"),
		"--metrics-addr", "", "--state-dir", filepath.Join(dir, "st")).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), want) {
		t.Fatalf("start on a file the kernel refuses: exit %d, want 1 and %q:\n%s", code, want, out)
	}
	if tables, _ := tp.FW.Run("nft", "list", "tables"); strings.TrimSpace(tables) != "" {
		t.Fatalf("tables left after a refused start: %s", tables)
	}

	d := startDaemon(t, tp.FW, forwardRules, "--offload", "auto")
	before, err := d.status()
	must(t, err)
	c := dialServer(t, tp, 80)
	stop := echoStream(c)
	for i := 0; i < 5; i++ {
		_, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, refused)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("reload %d of a file the kernel refuses: exit %d, want 1 and %q:\n%s", i, code, want, errOut)
		}
	}
	rounds, err := stop()
	if err != nil || rounds == 0 {
		t.Fatalf("stream across refused reloads: %d rounds, %v", rounds, err)
	}
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)); got != ok {
		t.Errorf("port 80 after the refused reloads: %s", got)
	}
	if got := tcpTry(tp.Client, hostPort(netns.ServerIP4, 81)); got != timeout {
		t.Errorf("port 81 (opened only by the refused file) after the refused reloads: %s", got)
	}
	after, err := d.status()
	must(t, err)
	if after.Checksum != before.Checksum || after.ReloadErrors != 5 {
		t.Errorf("status: checksum %s -> %s, reload errors %d (want unchanged, 5)", short(before.Checksum), short(after.Checksum), after.ReloadErrors)
	}
	if tables, _ := tp.FW.Run("nft", "list", "tables"); strings.Contains(tables, "nfdprobe") || !strings.Contains(tables, "nfd_fw") {
		t.Errorf("tables after refused reloads: %s", tables)
	}
	t.Logf("%d round trips across 5 refused reloads, none lost", rounds)
}

func exitCode(err error) int {
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// hostileOracleRules are kernel-expressible, with a counter on every rule,
// so the kernel can judge nfd's verdicts on the hostile packets.
const hostileOracleRules = `table inet fw {
	chain pre {
		type filter hook prerouting priority -150; policy accept;
		meta nfproto ipv4 ip saddr != 10.88.0.1 accept comment "noise"
		meta nfproto ipv6 ip6 saddr != fd88::1 accept comment "noise"
		ct state invalid counter drop comment "invalid"
		tcp flags & (syn | fin) == syn | fin counter drop comment "synfin"
		meta l4proto 255 counter drop comment "l4-255"
		ct state new tcp flags & (syn | ack) == syn counter comment "syn-new"
		ct state established counter comment "established"
		ct state related counter comment "related"
		ct state untracked counter comment "untracked"
		tcp dport 443 counter comment "tcp-443"
		udp dport 53 counter comment "udp-53"
		meta l4proto { icmp, ipv6-icmp } counter comment "icmp"
		ip6 nexthdr 60 counter comment "ext-first"
		meta length > 100 counter comment "long"
		counter comment "all"
	}

	# The host's own answers (RSTs, ICMP errors) pass here, so nfd's
	# conntrack sees them as the kernel's does.
	chain out {
		type filter hook output priority 0; policy accept;
	}
}
`

var nfdRuleCount = regexp.MustCompile(`comment "([^"]+)" # handle \d+, [^;]*; packets (\d+)`)

// TestHostilePacketsKernelOracle: the hostile packets through a ruleset
// the kernel can run, loaded once with nft -f and once into nfd with
// every packet queued: each rule counts the same packets, and the same
// number get through (a probe chain after the ruleset counts them).
// Conntrack runs with nf_conntrack_tcp_be_liberal=1 in the namespace:
// nfd follows nf_conntrack_proto_tcp.c's state table but not its
// sequence-window checks, and the random sequence numbers would make the
// kernel call packets invalid for that reason alone.
func TestHostilePacketsKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "conntrack")
	inj, rcv := netns.NewInjector(t, "ho", "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	for _, cmd := range [][]string{
		{"sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_be_liberal=1"},
		{"nft", "add table inet probe; add chain inet probe post { type filter hook prerouting priority -140; }; " +
			"add rule inet probe post ip saddr 10.88.0.1 counter; add rule inet probe post ip6 saddr fd88::1 counter"},
	} {
		if out, err := rcv.Run(cmd[0], cmd[1:]...); err != nil {
			t.Fatalf("%v: %v %s", cmd, err, out)
		}
	}
	// Only the crafted packets count: the namespace's own IPv6 chatter
	// (neighbour discovery, MLD) comes and goes at its own times.
	passedCount := func() uint64 {
		var n uint64
		for _, r := range rcv.NftCounters(t)["inet/probe/post"] {
			n += r[0]
		}
		return n
	}
	pkts := hostilePackets(rand.New(rand.NewSource(1)))
	// Paced: the host's own answers (RSTs, ICMP errors) to one packet go
	// through output, a queue of their own, and must reach conntrack
	// before the next packet arrives, as they do in the kernel. 3 ms was
	// too little on a loaded 2-core machine (2 of 4 runs with three busy
	// loops beside it counted one or two packets differently); 8 ms: 4 of 4.
	// The comparison itself is unchanged.
	send := func() {
		for _, p := range pkts {
			if err := inj.Send(p); err != nil {
				t.Fatalf("inject: %v", err)
			}
			time.Sleep(8 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
	}
	labels := regexp.MustCompile(`comment "([^"]+)"`).FindAllStringSubmatch(hostileOracleRules, -1)

	// The kernel.
	f := filepath.Join(t.TempDir(), "oracle.nft")
	must(t, os.WriteFile(f, []byte(hostileOracleRules), 0o644))
	if out, err := rcv.Run("nft", "-f", f); err != nil {
		t.Fatalf("nft -f: %v %s", err, out)
	}
	passed0 := passedCount()
	send()
	kernel := map[string]uint64{"passed": passedCount() - passed0}
	counts := rcv.NftCounters(t)["inet/fw/pre"]
	if len(counts) != len(labels) {
		t.Fatalf("kernel counters: %v for %d rules", counts, len(labels))
	}
	for i, l := range labels {
		if l[1] != "noise" {
			kernel[l[1]] = counts[i][0]
		}
	}
	if _, err := rcv.Run("nft", "delete", "table", "inet", "fw"); err != nil {
		t.Fatal(err)
	}
	_, _ = rcv.Run("conntrack", "-F")

	// nfd, every packet in userspace.
	d := startDaemon(t, rcv, hostileOracleRules)
	passed0 = passedCount()
	send()
	got := map[string]uint64{"passed": passedCount() - passed0}
	out, errOut, code := runIn(t, rcv, "rules", "--socket", d.socket)
	if code != 0 {
		t.Fatalf("nfd rules: %d %s", code, errOut)
	}
	for _, m := range nfdRuleCount.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseUint(m[2], 10, 64)
		got[m[1]] = n
	}
	if diffs := oracleDiffs(kernel, got, "kernel"); len(diffs) > 0 {
		t.Errorf("nfd and the kernel disagree on the hostile packets:\n%s\nnfd rules:\n%s", strings.Join(diffs, "\n"), out)
	}
	s, err := d.status()
	must(t, err)
	t.Logf("%d crafted packets: the kernel and nfd agree on all %d rule counts and on %d passed; nfd queue errors %d, unreadable %d",
		len(pkts), len(kernel)-1, kernel["passed"], s.QueueErrors, s.Unreadable)
}
