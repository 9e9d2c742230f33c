package conntrack

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pcapio"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// kernelView is what both tables say about one connection.
type kernelView struct {
	state     string // TCP state, else ""
	unreplied bool
	assured   bool
}

func (v kernelView) String() string {
	return fmt.Sprintf("%s unreplied=%v assured=%v", v.state, v.unreplied, v.assured)
}

// parseConntrackL reads `conntrack -L -o extended` into views keyed by the
// original tuple.
func parseConntrackL(out string) map[string]kernelView {
	m := map[string]kernelView{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		proto := f[2]
		if proto == "unknown" {
			proto += f[3] // generic: the protocol's number follows
		}
		var v kernelView
		kv := map[string]string{}
		for i, x := range f {
			if i == 5 && proto == "tcp" {
				v.state = x
			}
			if k, val, ok := strings.Cut(x, "="); ok {
				if _, dup := kv[k]; !dup {
					kv[k] = val
				}
			}
			v.unreplied = v.unreplied || x == "[UNREPLIED]"
			v.assured = v.assured || x == "[ASSURED]"
		}
		port := kv["sport"] + ">" + kv["dport"]
		if proto == "icmp" || proto == "icmpv6" {
			port = "id" + kv["id"]
		}
		m[proto+" "+kv["src"]+">"+kv["dst"]+" "+port] = v
	}
	return m
}

func ourView(tb *Table) map[string]kernelView {
	m := map[string]kernelView{}
	for _, f := range tb.List() {
		proto := protoNames[f.Orig.Proto]
		if proto == "" {
			proto = fmt.Sprintf("unknown%d", f.Orig.Proto)
		}
		port := fmt.Sprintf("%d>%d", f.Orig.Sport, f.Orig.Dport)
		switch {
		case f.Orig.isICMP():
			port = fmt.Sprintf("id%d", f.Orig.Sport)
		case !hasPorts(f.Orig.Proto):
			port = ">" // conntrack -L shows no ports
		}
		m[proto+" "+f.Orig.SrcAddr().String()+">"+f.Orig.DstAddr().String()+" "+port] = kernelView{
			state: f.TCPState, unreplied: f.Status&StatusSeenReply == 0, assured: f.Status&StatusAssured != 0}
	}
	return m
}

func diffViews(kern, ours map[string]kernelView) string {
	var keys []string
	seen := map[string]bool{}
	for k := range kern {
		keys, seen[k] = append(keys, k), true
	}
	for k := range ours {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		kv, kok := kern[k]
		ov, ook := ours[k]
		switch {
		case !kok:
			fmt.Fprintf(&b, "  %s: only nfd has it (%v)\n", k, ov)
		case !ook:
			fmt.Fprintf(&b, "  %s: only the kernel has it (%v)\n", k, kv)
		case kv != ov:
			fmt.Fprintf(&b, "  %s: kernel %v, nfd %v\n", k, kv, ov)
		}
	}
	return b.String()
}

// TestKernelOracle runs real traffic between two namespaces and, at chosen
// moments, compares nfd's table (fed the server interface's capture, in
// wire order) with the kernel's own `conntrack -L` in the server namespace.
func TestKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "conntrack", "tcpdump")
	c := netns.New(t, "ctc")
	s := netns.New(t, "cts")
	netns.Veth(t, c, "c0", []string{"10.77.0.1/24", "fd77::1/64"}, s, "s0", []string{"10.77.0.2/24", "fd77::2/64"})
	// Conntrack runs in a namespace once a rule needs it.
	nft := s.Cmd("nft", "-f", "-")
	nft.Stdin = strings.NewReader("table inet oracle {\n chain in { type filter hook input priority 0; ct state new counter; }\n chain out { type filter hook output priority 0; ct state new counter; }\n}\n")
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	pcap := filepath.Join(t.TempDir(), "s0.pcap")
	dump := s.Cmd("tcpdump", "--immediate-mode", "-i", "s0", "-U", "-n", "-s", "0", "-w", pcap)
	stderr, _ := dump.StderrPipe()
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dump.Process.Kill(); _ = dump.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start")
	}

	tb := New(Config{})
	fed := 0
	var last Result
	related := 0
	feed := func() {
		time.Sleep(300 * time.Millisecond)
		pkts, err := pcapio.ReadFile(pcap)
		if err != nil && len(pkts) == 0 {
			t.Fatalf("reading capture: %v", err)
		}
		for _, p := range pkts[fed:] {
			var d packet.Parsed
			d.DecodeCaptured(p.Data, p.WireLen)
			tb.Track(&d, &last)
			if last.State == StateRelated {
				related++
			}
		}
		fed = len(pkts)
	}
	compare := func(moment string) {
		t.Helper()
		feed()
		out, err := s.Cmd("conntrack", "-L", "-o", "extended").Output()
		if err != nil {
			t.Fatalf("conntrack -L: %v", err)
		}
		kern := parseConntrackL(string(out))
		if d := diffViews(kern, ourView(tb)); d != "" {
			t.Errorf("%s: nfd's table differs from the kernel's:\n%s", moment, d)
		}
		if len(kern) == 0 {
			t.Errorf("%s: the kernel tracks nothing; the comparison proves nothing", moment)
		}
	}

	// Servers in the server namespace.
	var ln net.Listener
	var udp4, udp6 net.PacketConn
	must(t, s.Do(func() (err error) {
		if ln, err = net.Listen("tcp4", "10.77.0.2:5001"); err != nil {
			return err
		}
		if udp4, err = net.ListenPacket("udp4", "10.77.0.2:5002"); err != nil {
			return err
		}
		udp6, err = net.ListenPacket("udp6", "[fd77::2]:5002")
		return err
	}))
	defer ln.Close()
	defer udp4.Close()
	defer udp6.Close()
	for _, pc := range []net.PacketConn{udp4, udp6} {
		go func(pc net.PacketConn) {
			buf := make([]byte, 1500)
			for {
				n, a, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(buf[:n], a)
			}
		}(pc)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- cn
		}
	}()
	dial := func(network, addr string) (net.Conn, error) {
		var cn net.Conn
		err := c.Do(func() (err error) {
			d := net.Dialer{Timeout: 3 * time.Second}
			cn, err = d.Dial(network, addr)
			return err
		})
		return cn, err
	}

	// A: TCP handshake and data.
	cl, err := dial("tcp4", "10.77.0.2:5001")
	must(t, err)
	sv := <-accepted
	_, _ = cl.Write([]byte("ping"))
	buf := make([]byte, 16)
	_, _ = sv.Read(buf)
	_, _ = sv.Write([]byte("pong"))
	_, _ = cl.Read(buf)
	compare("A: established TCP")

	// B: FIN close from the client, then the server.
	cl.Close()
	_, _ = sv.Read(buf)
	sv.Close()
	compare("B: closed TCP")

	// C: a refused connection (RST).
	if _, err := dial("tcp4", "10.77.0.2:5003"); err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
	compare("C: refused TCP")

	// D: UDP request and reply, IPv4 and IPv6.
	for _, addr := range []string{"10.77.0.2:5002", "[fd77::2]:5002"} {
		u, err := dial("udp", addr)
		must(t, err)
		_, _ = u.Write([]byte("q"))
		_ = u.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = u.Read(buf)
		must(t, err)
		u.Close()
	}
	compare("D: UDP request/reply")

	// E: ICMP echo.
	must(t, c.Do(func() error {
		ic, err := net.ListenPacket("ip4:icmp", "10.77.0.1")
		if err != nil {
			return err
		}
		defer ic.Close()
		echo := pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("10.77.0.1"), Dst: netip.MustParseAddr("10.77.0.2"), Proto: 1, ICMPType: 8, ICMPID: 0x4242})[20:]
		if _, err := ic.WriteTo(echo, &net.IPAddr{IP: net.ParseIP("10.77.0.2")}); err != nil {
			return err
		}
		_ = ic.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, _, err = ic.ReadFrom(buf)
		return err
	}))
	compare("E: ICMP echo")

	// F: UDP to a closed port: an ICMP port unreachable, related.
	u, err := dial("udp4", "10.77.0.2:5004")
	must(t, err)
	_, _ = u.Write([]byte("q"))
	_ = u.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = u.Read(buf)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want ECONNREFUSED from the port unreachable, got %v", err)
	}
	u.Close()
	compare("F: ICMP port unreachable")
	if related == 0 {
		t.Error("nfd did not classify the port unreachable as related")
	}

	// G: an established connection reset by the server.
	cl, err = dial("tcp4", "10.77.0.2:5001")
	must(t, err)
	sv = <-accepted
	_, _ = cl.Write([]byte("x"))
	_, _ = sv.Read(buf)
	_, _ = sv.Write([]byte("y"))
	_, _ = cl.Read(buf)
	_ = sv.(*net.TCPConn).SetLinger(0)
	sv.Close()
	_, _ = cl.Read(buf)
	cl.Close()
	compare("G: reset TCP")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%v: %s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
}
