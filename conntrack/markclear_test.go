package conntrack

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// TestClearMarkBits: entries created with `conntrack -I` in a throwaway
// namespace, with marks that do and do not carry the bits; afterwards
// exactly the bits are gone and every other mark bit is as it was.
func TestClearMarkBits(t *testing.T) {
	netns.SkipUnlessRoot(t, "conntrack")
	ns := netns.New(t, "ctmark")
	add := func(args ...string) {
		t.Helper()
		base := []string{"-I", "-t", "120", "-u", "SEEN_REPLY"}
		if out, err := ns.Run("conntrack", append(base, args...)...); err != nil {
			t.Fatalf("conntrack -I %v: %v\n%s", args, err, out)
		}
	}
	tcp := func(sport, mark string) []string {
		return []string{"-p", "tcp", "-s", "10.9.0.1", "-d", "10.9.0.2", "--sport", sport, "--dport", "443", "--state", "ESTABLISHED", "-m", mark}
	}
	add(tcp("1001", "0x01000000")...)
	add(tcp("1002", "0x03000005")...) // two of nfd's bits and one of someone else's
	add(tcp("1003", "0x00000005")...) // none of nfd's bits
	add("-p", "udp", "-s", "fd00::1", "-d", "fd00::2", "--sport", "53", "--dport", "53", "-m", "0x02000000")
	add("-p", "icmp", "-s", "10.9.0.1", "-d", "10.9.0.2", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "7", "-m", "0x0f0000f0")

	var n int
	if err := ns.Do(func() (err error) { n, err = ClearMarkBits(0x03000000); return err }); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("changed %d connections, want 4", n)
	}
	out, err := ns.Run("conntrack", "-L")
	if err != nil {
		t.Fatalf("conntrack -L: %v\n%s", err, out)
	}
	want := map[string]string{"sport=1001": "mark=0", "sport=1002": "mark=5", "sport=1003": "mark=5",
		"sport=53": "mark=0", "id=7": "mark=201326832"} // 0x0c0000f0
	for key, mark := range want {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, key+" ") {
				found = true
				if !strings.Contains(line, " "+mark+" ") {
					t.Errorf("%s: want %s:\n%s", key, mark, line)
				}
			}
		}
		if !found {
			t.Errorf("%s missing from conntrack -L:\n%s", key, out)
		}
	}
	// Nothing left to clear.
	if err := ns.Do(func() (err error) { n, err = ClearMarkBits(0x03000000); return err }); err != nil || n != 0 {
		t.Errorf("second pass changed %d, %v", n, err)
	}
}
