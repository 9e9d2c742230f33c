package kernel

import (
	"fmt"
	"net"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/planner"
)

// TestReadQueueCountersByHandle: what `nfd status` reads by handle (the
// queue rules' and policies' counters) equals what a dump of every chain
// gives, after a full load, after a diff, and, read by dump, after
// another tool's commit makes the handles unknown.
func TestReadQueueCountersByHandle(t *testing.T) {
	var plans []*planner.TablePlan
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "sqc")
	if _, err := ns.Run("ip", "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	c, err := connIn(t, ns)()
	if err != nil {
		t.Fatal(err)
	}
	src := func(port int) string {
		return fmt.Sprintf(`table inet t {
	chain out {
		type filter hook output priority 0; policy accept;
		udp dport %d counter drop
		tls sni "example.com" drop
		udp dport 5001 accept
	}
	chain in {
		type filter hook input priority 0; policy accept;
		meta l4proto udp counter
	}
}
`, port)
	}
	send := func() {
		if err := ns.Do(func() error {
			for _, p := range []int{9, 5000, 5001, 443} {
				for _, proto := range []string{"udp", "tcp"} {
					if proto == "tcp" {
						if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
							c.Close()
						}
						continue
					}
					c, err := net.Dial(proto, fmt.Sprintf("127.0.0.1:%d", p))
					if err != nil {
						return err
					}
					for i := 0; i < 3; i++ {
						_, _ = c.Write([]byte("x"))
					}
					c.Close()
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string, wantByHandle bool) {
		t.Helper()
		all := ReadKernelCounters(c, plans)
		got, ok := queueCountersByHandle(c, plans)
		if ok != wantByHandle {
			t.Fatalf("%s: read by handle %v, want %v", stage, ok, wantByHandle)
		}
		if !ok {
			got = ReadQueueCounters(c, plans)
		}
		if got.Queued != all.Queued || fmt.Sprint(got.Policies) != fmt.Sprint(all.Policies) {
			t.Fatalf("%s: by handle queued %d policies %v, by dump queued %d policies %v", stage, got.Queued, got.Policies, all.Queued, all.Policies)
		}
		if all.Queued == 0 || all.Policies[0].Packets+all.Policies[1].Packets == 0 {
			t.Fatalf("%s: nothing counted (queued %d, policies %v): the test sends nothing through", stage, all.Queued, all.Policies)
		}
	}
	plans = diffPlans(t, src(9))
	if err := ProgramPlans(c, QueueCompat, plans); err != nil {
		t.Fatal(err)
	}
	send()
	check("full load", true)
	next := diffPlans(t, src(10))
	if _, err := ProgramDiff(c, QueueCompat, plans, next); err != nil {
		t.Fatal(err)
	}
	plans = next
	send()
	check("after a diff", true)
	if out, err := ns.Run("nft", "add", "table", "ip", "other"); err != nil {
		t.Fatal(err, out)
	}
	check("after another tool's commit", false)
}
