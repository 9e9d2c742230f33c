package kernel

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/netns"
)

// TestAddElementsTimeout: learned elements land in a timeout set with
// their timeout and comment, acknowledged before AddElements returns.
func TestAddElementsTimeout(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "dnsel")
	if _, err := ns.Run("nft", "add table ip nfd_t; add set ip nfd_t s { type ipv4_addr; flags timeout; }"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &nftables.Set{Table: &nftables.Table{Name: "nfd_t", Family: nftables.TableFamilyIPv4}, Name: "s",
		KeyType: nftables.TypeIPAddr, HasTimeout: true}
	var worst time.Duration
	for i := 0; i < 50; i++ {
		t0 := time.Now()
		if err := AddElements(int(f.Fd()), []SetElems{{Set: s, Elems: []nftables.SetElement{{Key: []byte{10, 0, byte(i >> 8), byte(i)}, Timeout: time.Minute, Comment: "a.example"}}}}); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
	}
	t.Logf("slowest of 50 single-element transactions: %v", worst)
	out, err := ns.Run("nft", "list", "set", "ip", "nfd_t", "s")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10.0.0.49 timeout 1m expires", `comment "a.example"`} {
		if !strings.Contains(out, want) {
			t.Errorf("set lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkAddElements: one single-element transaction, from inside the
// namespace (as the daemon runs), acknowledged.
func BenchmarkAddElements(b *testing.B) {
	netns.SkipUnlessRoot(b, "nft")
	ns := netns.New(b, "dnsel")
	if _, err := ns.Run("nft", "add table ip nfd_t; add set ip nfd_t s { type ipv4_addr; flags timeout; }"); err != nil {
		b.Fatal(err)
	}
	s := &nftables.Set{Table: &nftables.Table{Name: "nfd_t", Family: nftables.TableFamilyIPv4}, Name: "s",
		KeyType: nftables.TypeIPAddr, HasTimeout: true}
	err := ns.Do(func() error {
		w, err := NewElemWriter(0)
		if err != nil {
			return err
		}
		defer w.Close()
		for i := 0; b.Loop(); i++ {
			if err := w.Add([]SetElems{{Set: s, Elems: []nftables.SetElement{{Key: []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, Timeout: time.Minute, Comment: "a.example"}}}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
