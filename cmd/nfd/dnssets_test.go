package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/hooks"
	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// dnsRules fill sets from the answers of the test's DNS server (dnsmasq
// in the server namespace) and allow TCP to port 8080 only to their
// addresses; static4 allows one address the static way, for comparison.
const dnsRules = `table inet fw {
	set ok4 {
		type ipv4_addr
		flags timeout
		dns names { "*.ok.test" }
	}
	set flood4 {
		type ipv4_addr
		flags timeout
		size 20
		dns names { "*.flood.test" }
		dns resolvers { 10.10.2.2 }
	}
	set static4 {
		type ipv4_addr
		elements = { 10.10.3.250 }
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		udp dport 53 accept
		tcp dport 53 accept
		ip daddr @ok4 tcp dport 8080 accept
		ip daddr @flood4 tcp dport 8080 accept
		ip daddr @static4 tcp dport 8080 accept
	}
}
`

// dnsServer runs dnsmasq in ns on addr:53 with the given records
// (--host-record and --cname arguments) and TTL; it ends with the test.
func dnsServer(t *testing.T, ns *netns.NS, addr string, ttl int, records []string) {
	t.Helper()
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		t.Skip("skipping: dnsmasq is not installed (scripts/install-deps.sh installs dnsmasq-base)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(records, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := ns.Cmd("dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-daemon", "--conf-file="+conf,
		"--listen-address="+addr, "--bind-interfaces", "--port=53", fmt.Sprintf("--local-ttl=%d", ttl),
		"--pid-file="+filepath.Join(dir, "pid"), "--user=root", "--cache-size=0")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", out.String())
		}
	})
	// ready when it answers
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := dnsLookup(ns, addr, "ready.ok.test"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq does not answer:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dnsLookup asks server for name's A records from ns and returns the
// first address of the answer's chain.
func dnsLookup(ns *netns.NS, server, name string) (netip.Addr, error) {
	return dnsQuery(ns, server, name, 1)
}

// dnsQuery asks server (UDP, a fresh socket and id) for name's records
// of qtype (1 A, 28 AAAA) from ns and returns the first address of that
// kind at the end of the answer's chain.
func dnsQuery(ns *netns.NS, server, name string, qtype uint16) (netip.Addr, error) {
	var out netip.Addr
	err := ns.Do(func() error {
		c, err := net.Dial("udp", net.JoinHostPort(server, "53"))
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		id := uint16(rand.Uint32())
		q := pktgen.DNSQuery(id, name)
		q[len(q)-3] = byte(qtype) // QTYPE's low byte
		if _, err := c.Write(q); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		var a packet.DNSAnswer
		if err := packet.ParseDNSAnswer(buf[:n], &a); err != nil {
			return err
		}
		if a.ID != id {
			return fmt.Errorf("answer id %d, asked %d", a.ID, id)
		}
		want := uint8(4)
		if qtype == 28 {
			want = 16
		}
		a.Resolve(func([]byte) {}, func(d packet.DNSAddr) {
			if !out.IsValid() && d.AddrLen == want {
				out, _ = netip.AddrFromSlice(d.Addr[:d.AddrLen])
			}
		})
		if !out.IsValid() {
			return fmt.Errorf("no address for %s (rcode %d)", name, a.RCode)
		}
		return nil
	})
	return out, err
}

// dnsLookupTCP asks server over TCP for name's A record.
func dnsLookupTCP(ns *netns.NS, server, name string) (netip.Addr, error) {
	var out netip.Addr
	err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(server, "53"), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		q := pktgen.DNSQuery(uint16(rand.Uint32()), name)
		if _, err := c.Write(append([]byte{byte(len(q) >> 8), byte(len(q))}, q...)); err != nil {
			return err
		}
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return err
		}
		buf := make([]byte, int(l[0])<<8|int(l[1]))
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		var a packet.DNSAnswer
		if err := packet.ParseDNSAnswer(buf, &a); err != nil {
			return err
		}
		a.Resolve(func([]byte) {}, func(d packet.DNSAddr) {
			if !out.IsValid() && d.AddrLen == 4 {
				out = netip.AddrFrom4([4]byte(d.Addr[:4]))
			}
		})
		if !out.IsValid() {
			return fmt.Errorf("no address for %s", name)
		}
		return nil
	})
	return out, err
}

// dnsTopology is the three namespaces with the server holding
// 10.10.3.0/24, 10.10.4.0/24 and 10.11.0.0/16 on its loopback, TCP echo on
// 8080, and dnsmasq serving n<i>.ok.test (10.11.i/256.i%256), bad.test (10.10.3.200), the
// CNAME alias.ok.test → final.elsewhere.test (10.10.3.150) and
// f<i>.flood.test (10.10.4.i).
func dnsTopology(t *testing.T, ttl int) *netns.Topology { return dnsTopo(t, ttl, 120, true) }

// dnsTopo is dnsTopology with n names of each kind, and the TCP echo
// server on 8080 or not.
func dnsTopo(t *testing.T, ttl, n int, echo bool) *netns.Topology {
	tp := netns.NewTopology(t)
	for _, c := range [][]string{{"ip", "addr", "add", "10.10.3.0/24", "dev", "lo"}, {"ip", "addr", "add", "10.10.4.0/24", "dev", "lo"},
		{"ip", "addr", "add", "10.11.0.0/16", "dev", "lo"}} {
		if _, err := tp.Server.Run(c[0], c[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"10.10.3.0/24", "10.10.4.0/24", "10.11.0.0/16"} {
		if _, err := tp.FW.Run("ip", "route", "add", n, "via", netns.ServerIP4); err != nil {
			t.Fatal(err)
		}
	}
	if echo {
		servers(t, tp.Server, []int{8080}, nil)
	}
	recs := []string{"host-record=bad.test,10.10.3.200", "host-record=final.elsewhere.test,10.10.3.150",
		"cname=alias.ok.test,final.elsewhere.test", "host-record=ready.ok.test,10.10.3.249"}
	for i := 1; i <= n; i++ {
		recs = append(recs, fmt.Sprintf("host-record=n%d.ok.test,10.11.%d.%d", i, i/256, i%256))
		if i < 256 {
			recs = append(recs, fmt.Sprintf("host-record=f%d.flood.test,10.10.4.%d", i, i))
		}
	}
	dnsServer(t, tp.Server, netns.ServerIP4, ttl, recs)
	return tp
}

func dnsStatus(t *testing.T, d *daemon) *hooks.DNSStatus {
	t.Helper()
	s, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	if s.DNS == nil {
		t.Fatal("status has no dns section")
	}
	return s.DNS
}

func dnsSetStatus(t *testing.T, d *daemon, set string) hooks.DNSSetStatus {
	t.Helper()
	for _, x := range dnsStatus(t, d).Sets {
		if x.Set == set {
			return x
		}
	}
	t.Fatalf("no set %s in status", set)
	return hooks.DNSSetStatus{}
}

func TestDNSSets(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	for _, offload := range []string{"auto", "none"} {
		t.Run("offload="+offload, func(t *testing.T) { testDNSSets(t, offload) })
	}
}

func testDNSSets(t *testing.T, offload string) {
	tp := dnsTopology(t, 3)
	d := startDaemon(t, tp.FW, dnsRules, "--offload", offload, "--dns-ttl-min", "1s")
	srv := netns.ServerIP4

	// An address no answer named is blocked; the static set's is not.
	if got := tcpTry(tp.Client, "10.11.0.1:8080"); got != timeout {
		t.Fatalf("10.11.0.1 before any answer: %s", got)
	}
	if got := tcpTry(tp.Client, "10.10.3.250:8080"); got != ok {
		t.Fatalf("static set: %s", got)
	}

	// 100 of 100 fresh names connect right after their answer.
	failed := 0
	for i := 1; i <= 100; i++ {
		name := fmt.Sprintf("n%d.ok.test", i)
		a, err := dnsLookup(tp.Client, srv, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := tcpTry(tp.Client, a.String()+":8080"); got != ok {
			failed++
			t.Errorf("%s (%s) right after its answer: %s", name, a, got)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of 100 fresh names refused right after their answer", failed)
	}

	// DNS over TCP fills the set too.
	a, err := dnsLookupTCP(tp.Client, srv, "n110.ok.test")
	must(t, err)
	if got := tcpTry(tp.Client, a.String()+":8080"); got != ok {
		t.Errorf("n110.ok.test over TCP (%s): %s", a, got)
	}

	// A name not listed stays blocked even though it resolves.
	a, err = dnsLookup(tp.Client, srv, "bad.test")
	must(t, err)
	if got := tcpTry(tp.Client, a.String()+":8080"); got != timeout {
		t.Errorf("bad.test (%s): %s", a, got)
	}

	// A CNAME chain fills the set with the final address.
	a, err = dnsLookup(tp.Client, srv, "alias.ok.test")
	must(t, err)
	if a.String() != "10.10.3.150" {
		t.Fatalf("alias.ok.test resolved to %s", a)
	}
	if got := tcpTry(tp.Client, "10.10.3.150:8080"); got != ok {
		t.Errorf("CNAME target right after the answer: %s", got)
	}
	listing, err := tp.FW.Run(nfdBin, "rules", "--socket", d.socket)
	must(t, err)
	if !strings.Contains(listing, `10.10.3.150 expires`) || !strings.Contains(listing, `comment "alias.ok.test"`) {
		t.Errorf("nfd rules does not list the learned element:\n%s", listing)
	}
	if offload == "auto" {
		out, err := tp.FW.Run("nft", "list", "set", "inet", "nfd_fw", "ok4")
		must(t, err)
		if !strings.Contains(out, "10.10.3.150 timeout") || !strings.Contains(out, `comment "alias.ok.test"`) {
			t.Errorf("kernel set lacks the learned element:\n%s", out)
		}
	}

	// The connection's packets after the answer stay in the kernel (offload
	// auto: the forward chain is native, nothing but DNS is queued).
	if offload == "auto" {
		before := dnsStatus(t, d).Packets
		var st hooks.Status
		st, err = d.status()
		must(t, err)
		for _, h := range st.Hooks {
			if h.Packets != 0 {
				t.Errorf("packets decided in userspace with offload auto: %+v", st.Hooks)
			}
		}
		for i := 0; i < 5; i++ {
			if got := tcpTry(tp.Client, "10.10.3.150:8080"); got != ok {
				t.Fatalf("connection %d: %s", i, got)
			}
		}
		if after := dnsStatus(t, d).Packets; after != before {
			t.Errorf("TCP connections reached the DNS queue: %d → %d packets", before, after)
		}
		st, err = d.status()
		must(t, err)
		for h, x := range st.Hooks {
			if x.Packets != 0 {
				t.Errorf("hook %s: %d packets reached userspace", h, x.Packets)
			}
		}
	}

	// An element expires with its TTL (3 s, min clamp 1 s): blocked again.
	ds := dnsSetStatus(t, d, "ok4")
	if ds.Elements < 102 || ds.Added < 102 {
		t.Errorf("ok4 status: %+v", ds)
	}
	time.Sleep(4 * time.Second)
	if got := tcpTry(tp.Client, "10.10.3.150:8080"); got != timeout {
		t.Errorf("after its TTL, 10.10.3.150: %s", got)
	}
	if got := tcpTry(tp.Client, "10.11.0.7:8080"); got != timeout {
		t.Errorf("after its TTL, 10.11.0.7: %s", got)
	}
	time.Sleep(1500 * time.Millisecond) // the sweep runs every second
	if ds := dnsSetStatus(t, d, "ok4"); ds.Elements != 0 || ds.Expired < 102 {
		t.Errorf("after the TTL: %+v", ds)
	}

	// Flood: the set holds at most its size; the rest is refused and
	// counted, and the daemon keeps answering.
	for i := 1; i <= 60; i++ {
		if _, err := dnsLookup(tp.Client, srv, fmt.Sprintf("f%d.flood.test", i)); err != nil {
			t.Fatal(err)
		}
	}
	fs := dnsSetStatus(t, d, "flood4")
	if fs.Elements != 20 || fs.Added != 20 || fs.Limited != 40 {
		t.Errorf("flood4 after 60 names: %+v", fs)
	}
	if got := tcpTry(tp.Client, "10.10.4.60:8080"); got != timeout {
		t.Errorf("address refused by the limit: %s", got)
	}
	if got := tcpTry(tp.Client, "10.10.4.1:8080"); got != ok {
		t.Errorf("address within the limit: %s", got)
	}
	if s := dnsStatus(t, d); s.Unsolicited != 0 || s.Malformed != 0 || s.KernelErrors != 0 {
		b, _ := json.Marshal(s)
		t.Errorf("dns status: %s", b)
	}
}

// TestDNSSetsReload: a reload keeps the learned elements of sets whose
// names are unchanged (in nfd and in the kernel), drops those of sets
// whose names changed; with nfd killed, DNS keeps working (the queue
// rules' bypass flag).
func TestDNSSetsReload(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := dnsTopology(t, 60)
	d := startDaemon(t, tp.FW, dnsRules, "--offload", "auto")
	for i := 1; i <= 3; i++ {
		if _, err := dnsLookup(tp.Client, netns.ServerIP4, fmt.Sprintf("n%d.ok.test", i)); err != nil {
			t.Fatal(err)
		}
	}
	f := filepath.Join(t.TempDir(), "same.nft")
	must(t, os.WriteFile(f, []byte("# the same sets, a changed file\n"+dnsRules), 0o644))
	if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, f); code != 0 {
		t.Fatalf("reload: %s", errOut)
	}
	if got := tcpTry(tp.Client, "10.11.0.2:8080"); got != ok {
		t.Errorf("learned element after a reload: %s", got)
	}
	out, err := tp.FW.Run("nft", "list", "set", "inet", "nfd_fw", "ok4")
	must(t, err)
	if !strings.Contains(out, "10.11.0.3 timeout") || !strings.Contains(out, `comment "n3.ok.test"`) {
		t.Errorf("kernel set after a reload:\n%s", out)
	}
	if ds := dnsSetStatus(t, d, "ok4"); ds.Elements != 3 || ds.Added != 3 {
		t.Errorf("status after a reload: %+v", ds)
	}
	text, err := tp.FW.Run(nfdBin, "status", "--socket", d.socket)
	must(t, err)
	if !strings.Contains(text, "dns sets:") || !strings.Contains(text, "3/65536 elements (kernel), 3 answers, 3 added") {
		t.Errorf("nfd status:\n%s", text)
	}
	// Answers nobody asked for fill nothing; hostile ones are counted.
	before := dnsStatus(t, d)
	must(t, tp.Server.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("10.10.3.9"), Port: 53})
		if err != nil {
			return err
		}
		defer c.Close()
		to := &net.UDPAddr{IP: net.ParseIP(netns.ClientIP4), Port: 40000}
		forged := pktgen.DNSResponse(77, "n200.ok.test", 1, []pktgen.DNSRR{{Name: "n200.ok.test", Type: 1, TTL: 300, Addr: []byte{10, 11, 0, 200}}})
		loop := append([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, 0xc0, 12, 0, 1, 0, 1)
		for _, m := range [][]byte{forged, loop} {
			if _, err := c.WriteToUDP(m, to); err != nil {
				return err
			}
		}
		return nil
	}))
	time.Sleep(200 * time.Millisecond)
	after := dnsStatus(t, d)
	if after.Unsolicited != before.Unsolicited+1 || after.Malformed != before.Malformed+1 {
		t.Errorf("forged and hostile answers: unsolicited %d → %d, malformed %d → %d", before.Unsolicited, after.Unsolicited, before.Malformed, after.Malformed)
	}
	if got := tcpTry(tp.Client, "10.11.0.200:8080"); got != timeout {
		t.Errorf("address of an unsolicited answer: %s", got)
	}
	changed := filepath.Join(t.TempDir(), "changed.nft")
	must(t, os.WriteFile(changed, []byte(strings.Replace(dnsRules, `"*.ok.test"`, `"*.other.test"`, 1)), 0o644))
	if _, errOut, code := runIn(t, tp.FW, "reload", "--socket", d.socket, changed); code != 0 {
		t.Fatalf("reload: %s", errOut)
	}
	if got := tcpTry(tp.Client, "10.11.0.2:8080"); got != timeout {
		t.Errorf("element of a set whose names changed, after the reload: %s", got)
	}
	if ds := dnsSetStatus(t, d, "ok4"); ds.Elements != 0 {
		t.Errorf("status after a reload changing the names: %+v", ds)
	}
	// kill -9: the tables stay, the DNS queue has no reader, and the
	// bypass flag lets answers through.
	_ = d.cmd.Process.Kill()
	d.done <- <-d.done // gone (for the cleanup too)
	if _, err := dnsLookup(tp.Client, netns.ServerIP4, "n9.ok.test"); err != nil {
		t.Errorf("DNS with nfd killed: %v", err)
	}
	if !strings.Contains(nfdTables(t, tp.FW), "nfd_fw") {
		t.Error("nfd's table did not survive kill -9 (the test proves nothing)")
	}
}

// TestDNSSetsFamilies: sets filled from DNS in ip and ip6 tables, over
// IPv4 and IPv6 transport, AAAA records for the IPv6 set.
func TestDNSSetsFamilies(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	must2 := func(ns *netns.NS, args ...string) {
		if _, err := ns.Run(args[0], args[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	must2(tp.Server, "ip", "addr", "add", "10.10.3.0/24", "dev", "lo")
	must2(tp.Server, "ip", "-6", "route", "add", "local", "fd10:3::/64", "dev", "lo")
	must2(tp.FW, "ip", "route", "add", "10.10.3.0/24", "via", netns.ServerIP4)
	must2(tp.FW, "ip", "-6", "route", "add", "fd10:3::/64", "via", netns.ServerIP6)
	servers(t, tp.Server, []int{8080}, nil)
	recs := []string{"listen-address=" + netns.ServerIP6, "host-record=ready.ok.test,10.10.3.249",
		"host-record=bad.test,10.10.3.200,fd10:3::200"}
	for i := 1; i <= 10; i++ {
		recs = append(recs, fmt.Sprintf("host-record=n%d.ok.test,10.10.3.%d,fd10:3::%d", i, i, i))
	}
	dnsServer(t, tp.Server, netns.ServerIP4, 60, recs)
	rules := `table ip f4 {
	set ok { type ipv4_addr; flags timeout; dns names { "*.ok.test" }; }
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		udp dport 53 accept
		ip daddr @ok tcp dport 8080 accept
	}
}
table ip6 f6 {
	set ok { type ipv6_addr; flags timeout; dns names { "*.ok.test" }; }
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		udp dport 53 accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		ip6 daddr @ok tcp dport 8080 accept
	}
}
`
	for _, offload := range []string{"auto", "none"} {
		t.Run("offload="+offload, func(t *testing.T) {
			d := startDaemon(t, tp.FW, rules, "--offload", offload)
			defer func() { _ = d.stop(syscall.SIGTERM) }()
			for i := 1; i <= 10; i++ {
				name := fmt.Sprintf("n%d.ok.test", i)
				a4, err := dnsQuery(tp.Client, netns.ServerIP4, name, 1)
				must(t, err)
				if got := tcpTry(tp.Client, net.JoinHostPort(a4.String(), "8080")); got != ok {
					t.Errorf("%s %s: %s", name, a4, got)
				}
				a6, err := dnsQuery(tp.Client, netns.ServerIP6, name, 28)
				must(t, err)
				if got := tcpTry(tp.Client, net.JoinHostPort(a6.String(), "8080")); got != ok {
					t.Errorf("%s %s: %s", name, a6, got)
				}
			}
			for _, q := range []struct {
				server string
				qtype  uint16
			}{{netns.ServerIP4, 1}, {netns.ServerIP6, 28}} {
				a, err := dnsQuery(tp.Client, q.server, "bad.test", q.qtype)
				must(t, err)
				if got := tcpTry(tp.Client, net.JoinHostPort(a.String(), "8080")); got != timeout {
					t.Errorf("bad.test %s: %s", a, got)
				}
			}
			for _, x := range dnsStatus(t, d).Sets {
				// each table sees the answers of its family's transport
				if x.Elements != 10 {
					t.Errorf("%s %s: %+v", x.Table, x.Set, x)
				}
			}
		})
	}
}

// TestDNSSetsLocalResolver: the firewall runs the resolver itself
// (dnsmasq in its namespace, as a router does): the client's queries
// reach it at input, its answers leave at output, and they fill the set.
func TestDNSSetsLocalResolver(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	if _, err := tp.Server.Run("ip", "addr", "add", "10.11.0.0/16", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.FW.Run("ip", "route", "add", "10.11.0.0/16", "via", netns.ServerIP4); err != nil {
		t.Fatal(err)
	}
	servers(t, tp.Server, []int{8080}, nil)
	recs := []string{"host-record=ready.ok.test,10.11.1.1"}
	for i := 1; i <= 10; i++ {
		recs = append(recs, fmt.Sprintf("host-record=n%d.ok.test,10.11.0.%d", i, i))
	}
	dnsServer(t, tp.FW, netns.FWClient4, 60, recs)
	d := startDaemon(t, tp.FW, dnsRules, "--offload", "auto")
	for i := 1; i <= 10; i++ {
		a, err := dnsLookup(tp.Client, netns.FWClient4, fmt.Sprintf("n%d.ok.test", i))
		must(t, err)
		if got := tcpTry(tp.Client, a.String()+":8080"); got != ok {
			t.Errorf("n%d.ok.test (%s) from the firewall's own resolver: %s", i, a, got)
		}
	}
	if ds := dnsSetStatus(t, d, "ok4"); ds.Added != 10 {
		t.Errorf("ok4: %+v", ds)
	}
}
