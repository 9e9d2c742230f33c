// Package netns makes throw-away network namespaces for tests: each is named
// nfd-<tag>-<pid>-<n>, lives only for one test, and is deleted on every exit
// path through t.Cleanup. Nothing here touches the root namespace's firewall.
package netns

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

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

// New creates a namespace with loopback up; it is deleted when the test ends.
func New(t testing.TB, tag string) *NS {
	t.Helper()
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
