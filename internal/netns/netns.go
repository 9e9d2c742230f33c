// Package netns makes throw-away network namespaces for tests: each is named
// nfd-<tag>-<pid>-<n>, lives only for one test, and is deleted on every exit
// path through t.Cleanup. Nothing here touches the root namespace's firewall.
package netns

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var seq atomic.Int64

// NS is one namespace.
type NS struct {
	Name string
}

// SkipUnlessRoot skips the test, with a reason, when it cannot create
// namespaces or lacks the named tools.
func SkipUnlessRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed (make test installs it)", tool)
		}
	}
}

var sweepOnce sync.Once

// sweepStale deletes namespaces that earlier test processes made and could
// not delete because they were killed (a timeout, kill -9): names carry
// the creating process id, and a name whose process is gone is stale.
func sweepStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "nfd-") {
			continue
		}
		parts := strings.Split(f[0], "-")
		if len(parts) < 4 {
			continue
		}
		pid, err := strconv.Atoi(parts[len(parts)-2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			_ = exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
}

// New creates a namespace with loopback up; it is deleted when the test ends.
func New(t testing.TB, tag string) *NS {
	t.Helper()
	sweepOnce.Do(sweepStale)
	name := fmt.Sprintf("nfd-%s-%d-%d", tag, os.Getpid(), seq.Add(1))
	if len(name) > 40 {
		name = name[:40]
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if _, err := ns.Run("ip", "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	// No duplicate address detection: links are usable at once.
	for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
		_, _ = ns.Run("sysctl", "-qw", k)
	}
	return ns
}

// Cmd returns a command that runs inside the namespace.
func (ns *NS) Cmd(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command in the namespace and returns its combined output; the
// error includes that output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	out, err := ns.Cmd(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s (in %s): %v: %s", name, strings.Join(args, " "), ns.Name, err, out)
	}
	return string(out), nil
}

// Veth joins namespaces a and b with a veth pair named ifA (in a) and ifB
// (in b), gives each side its addresses (CIDR strings; IPv6 without
// duplicate address detection) and brings both up.
func Veth(t testing.TB, a *NS, ifA string, addrsA []string, b *NS, ifB string, addrsB []string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "add", ifA, "netns", a.Name, "type", "veth", "peer", "name", ifB, "netns", b.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip link add veth: %v: %s", err, out)
	}
	for _, side := range []struct {
		ns    *NS
		ifc   string
		addrs []string
	}{{a, ifA, addrsA}, {b, ifB, addrsB}} {
		// The interface was created in the root namespace and moved, so it
		// carries the root's defaults: turn duplicate address detection off
		// before it comes up, so its link-local address is usable at once.
		_, _ = side.ns.Run("sysctl", "-qw", "net.ipv6.conf."+side.ifc+".accept_dad=0")
		for _, ad := range side.addrs {
			args := []string{"addr", "add", ad, "dev", side.ifc}
			if strings.Contains(ad, ":") {
				args = append(args, "nodad")
			}
			if _, err := side.ns.Run("ip", args...); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := side.ns.Run("ip", "link", "set", side.ifc, "up"); err != nil {
			t.Fatal(err)
		}
	}
}

// Do runs fn on a thread switched into the namespace: sockets fn creates
// belong to the namespace and stay usable from any goroutine afterwards.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns.Name, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine instead of
		// running other goroutines in the wrong namespace.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Topology is three namespaces: a client and a server on either side of a
// firewall that forwards between them, over IPv4 and IPv6.
//
//	client c0 10.10.1.2 fd10:1::2 ── f0 10.10.1.1 fd10:1::1 [fw] f1 10.10.2.1 fd10:2::1 ── s0 10.10.2.2 fd10:2::2 server
type Topology struct {
	Client, FW, Server *NS
}

// Topology addresses.
const (
	ClientIP4 = "10.10.1.2"
	ClientIP6 = "fd10:1::2"
	FWClient4 = "10.10.1.1"
	FWClient6 = "fd10:1::1"
	FWServer4 = "10.10.2.1"
	ServerIP4 = "10.10.2.2"
	ServerIP6 = "fd10:2::2"
)

// NewTopology builds the three namespaces; all go away when the test ends.
func NewTopology(t testing.TB) *Topology {
	t.Helper()
	tp := &Topology{Client: New(t, "cli"), FW: New(t, "fw"), Server: New(t, "srv")}
	Veth(t, tp.Client, "c0", []string{ClientIP4 + "/24", ClientIP6 + "/64"}, tp.FW, "f0", []string{FWClient4 + "/24", FWClient6 + "/64"})
	Veth(t, tp.FW, "f1", []string{FWServer4 + "/24", "fd10:2::1/64"}, tp.Server, "s0", []string{ServerIP4 + "/24", ServerIP6 + "/64"})
	for _, cmd := range [][]string{
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
	} {
		if _, err := tp.FW.Run(cmd[0], cmd[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		ns  *NS
		via []string
	}{{tp.Client, []string{FWClient4, FWClient6}}, {tp.Server, []string{FWServer4, "fd10:2::1"}}} {
		if _, err := r.ns.Run("ip", "route", "add", "default", "via", r.via[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ns.Run("ip", "-6", "route", "add", "default", "via", r.via[1]); err != nil {
			t.Fatal(err)
		}
	}
	// New links need a moment before IPv6 forwards; wait until an echo
	// crosses the firewall both ways.
	for _, dst := range []string{ServerIP4, ServerIP6} {
		deadline := time.Now().Add(5 * time.Second)
		for !tp.Client.Ping(dst, 300*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("topology: %s unreachable from the client", dst)
			}
		}
	}
	return tp
}

// Ping sends one ICMP or ICMPv6 echo request from the namespace and
// reports whether a reply came within timeout.
func (ns *NS) Ping(dst string, timeout time.Duration) bool {
	ip := net.ParseIP(dst)
	network, typ, reply := "ip4:icmp", byte(8), byte(0)
	if ip.To4() == nil {
		network, typ, reply = "ip6:ipv6-icmp", 128, 129
	}
	ok := false
	_ = ns.Do(func() error {
		c, err := net.ListenPacket(network, "")
		if err != nil {
			return err
		}
		defer c.Close()
		msg := []byte{typ, 0, 0, 0, 0x12, 0x34, 0, 1}
		if typ == 8 {
			var s uint32
			for i := 0; i < len(msg); i += 2 {
				s += uint32(msg[i])<<8 | uint32(msg[i+1])
			}
			for s > 0xffff {
				s = s>>16 + s&0xffff
			}
			msg[2], msg[3] = byte(^s>>8), byte(^s)
		}
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: ip}); err != nil {
			time.Sleep(timeout)
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			if n >= 8 && buf[0] == reply && buf[4] == 0x12 && buf[5] == 0x34 {
				ok = true
				return nil
			}
		}
	})
	return ok
}

// HTTPGet fetches http://addr/path from inside the namespace (one request,
// one connection dialled there) and returns the body.
func (ns *NS) HTTPGet(addr, path string) (string, error) {
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

// Injector sends raw IP packets from one namespace to another's interface
// through a packet socket, so the sender's own stack adds nothing.
type Injector struct {
	fd      int
	ifindex int
	src     net.HardwareAddr
	dst     net.HardwareAddr
}

// NewInjector builds a sender namespace with IPv6 switched off (so it stays
// silent), a veth to a new receiver namespace, and a socket to inject with.
// The receiver's end is rifName with the given addresses.
func NewInjector(t testing.TB, tag, rifName string, raddrs []string) (*Injector, *NS) {
	t.Helper()
	snd := New(t, tag+"s")
	rcv := New(t, tag+"r")
	for _, key := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
		if _, err := snd.Run("sysctl", "-qw", key); err != nil {
			t.Fatal(err)
		}
	}
	Veth(t, snd, "s0", []string{"10.88.0.1/24"}, rcv, rifName, raddrs)
	out, err := rcv.Run("cat", "/sys/class/net/"+rifName+"/address")
	if err != nil {
		t.Fatal(err)
	}
	in := &Injector{}
	if in.dst, err = net.ParseMAC(strings.TrimSpace(out)); err != nil {
		t.Fatal(err)
	}
	if err := snd.Do(func() error {
		ifc, err := net.InterfaceByName("s0")
		if err != nil {
			return err
		}
		in.ifindex, in.src = ifc.Index, ifc.HardwareAddr
		in.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(in.fd) })
	return in, rcv
}

// Send injects one IPv4 or IPv6 packet.
func (in *Injector) Send(ip []byte) error {
	frame := make([]byte, 14+len(ip))
	copy(frame, in.dst)
	copy(frame[6:], in.src)
	if ip[0]>>4 == 4 {
		frame[12], frame[13] = 0x08, 0x00
	} else {
		frame[12], frame[13] = 0x86, 0xdd
	}
	copy(frame[14:], ip)
	sa := &unix.SockaddrLinklayer{Ifindex: in.ifindex, Halen: 6}
	copy(sa.Addr[:], in.dst)
	return unix.Sendto(in.fd, frame, 0, sa)
}

// NftCounters reads every counter of every rule, in chain order, from
// `nft -j list ruleset`: "family/table/chain" → per rule, its counters.
func (ns *NS) NftCounters(t testing.TB) map[string][][]uint64 {
	t.Helper()
	out, err := ns.Cmd("nft", "-j", "list", "ruleset").Output()
	if err != nil {
		t.Fatalf("nft -j list ruleset: %v", err)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	m := map[string][][]uint64{}
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var r struct {
			Family, Table, Chain string
			Expr                 []map[string]json.RawMessage
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		var cs []uint64
		for _, e := range r.Expr {
			if c, ok := e["counter"]; ok {
				var v struct{ Packets uint64 }
				_ = json.Unmarshal(c, &v)
				cs = append(cs, v.Packets)
			}
		}
		k := r.Family + "/" + r.Table + "/" + r.Chain
		m[k] = append(m[k], cs)
	}
	return m
}
