package rules

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// TestObjectsKernelOracle: named counters and quotas shared by several
// rules, loaded with nft -f and into the engine; the same packets give the
// same rule counters, object counters and quotas' used bytes.
func TestObjectsKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "obj", "k0", []string{"10.88.0.2/24"})
	const src = `table ip t {
	counter c1 { }
	counter c2 { packets 10 bytes 100; comment "starts at 10"; }
	quota q1 { 1000 bytes; }
	quota q2 { over 500 bytes used 100 bytes; }
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		udp dport 7 counter name "c1"
		udp dport 8 counter name c1 counter name c2
		quota name "q1" counter
		udp dport 7 quota name q1 counter
		quota name q2 counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`
	rs, e := loadBoth(t, k, "o.nft", src)
	sendBoth(t, inj, e, 30, from1, portsFrom7(2), size(72))
	// The first two rules have only object references, which
	// NftCounters reads as counters of 0; the objects are compared below.
	kern, ours := k.NftCounters(t)["ip/t/pre"][2:], ourCounters(rs, e)["ip/t/pre"][2:]
	if fmt.Sprint(kern) != fmt.Sprint(ours) {
		t.Errorf("rule counters: kernel %v, nfd %v", kern, ours)
	}
	out, err := k.Cmd("nft", "-j", "list", "table", "ip", "t").Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name           string
				Packets, Bytes uint64
			}
			Quota *struct {
				Name string
				Used uint64
			}
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	tb := rs.Tables[0]
	seen := 0
	for _, o := range doc.Nftables {
		switch {
		case o.Counter != nil:
			seen++
			c := e.ObjectCounter(tb, o.Counter.Name)
			if got := fmt.Sprint(c.Packets.Load(), c.Bytes.Load()); got != fmt.Sprint(o.Counter.Packets, o.Counter.Bytes) {
				t.Errorf("counter %s: kernel %d %d, nfd %s", o.Counter.Name, o.Counter.Packets, o.Counter.Bytes, got)
			}
		case o.Quota != nil:
			seen++
			u, _ := e.ObjectQuotaUsed(tb, o.Quota.Name)
			if u != o.Quota.Used {
				t.Errorf("quota %s: kernel used %d, nfd %d", o.Quota.Name, o.Quota.Used, u)
			}
		}
	}
	if seen != 4 {
		t.Errorf("compared %d objects, want 4", seen)
	}
	t.Logf("rules %v", ours)
}

// TestLimitObjectsKernelOracle: named limits, one shared by two rules
// (one token bucket, nft_limit_obj_eval), loaded with nft -f and into the
// engine; the same packets give the same rule counters.
func TestLimitObjectsKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "lob", "k0", []string{"10.88.0.2/24"})
	const src = `table ip t {
	limit l1 { rate 1/hour burst 3 packets; }
	limit l2 { rate over 1/hour burst 5 packets; comment "over"; }
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		udp dport 7 limit name "l1" counter
		udp dport 8 limit name l1 counter
		limit name l2 counter
		udp dport 7 limit name "l2" counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`
	rs, e := loadBoth(t, k, "l.nft", src)
	sendBoth(t, inj, e, 20, from1, portsFrom7(2), size(72))
	kern, ours := k.NftCounters(t)["ip/t/pre"], ourCounters(rs, e)["ip/t/pre"]
	if fmt.Sprint(kern) != fmt.Sprint(ours) {
		t.Errorf("rule counters: kernel %v, nfd %v", kern, ours)
	}
	t.Logf("rules %v", ours)
}

// TestObjectMapsKernelOracle: counters, quotas and limits named through
// maps (nft_objref_map), loaded with nft -f and into the engine; the same
// packets give the same rule counters and object counters.
func TestObjectMapsKernelOracle(t *testing.T) {
	objectMapsOracle(t, "obm", `table ip t {
	counter c7 { }
	counter c8 { }
	quota q1 { 500 bytes; }
	quota q2 { over 300 bytes; }
	limit l1 { rate 1/hour burst 2 packets; }
	limit l2 { rate 1/hour burst 4 packets; }
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		counter name udp dport map { 7 : "c7", 8 : "c8" } counter
		quota name udp dport map { 7 : "q1", 8 : "q2", 9 : "q2" } counter
		limit name udp dport map { 7 : "l1", 8 : "l2" } counter
		counter name ip saddr . udp dport map { 10.88.0.1 . 8 : "c7" } counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`)
}

// TestNamedObjectMapsKernelOracle: the same through named object maps
// (`type KEY : counter|quota|limit`, NFT_SET_OBJECT), one of them an
// interval map; a quota statement naming through a map of counters counts
// in the counter (the kernel takes the object the element holds).
func TestNamedObjectMapsKernelOracle(t *testing.T) {
	objectMapsOracle(t, "obn", `table ip t {
	counter c7 { }
	counter c8 { }
	quota q1 { 500 bytes; }
	quota q2 { over 300 bytes; }
	limit l1 { rate 1/hour burst 2 packets; }
	limit l2 { rate 1/hour burst 4 packets; }
	map cm { type inet_service : counter; elements = { 7 : "c7", 8 : "c8" }; }
	map qm { type inet_service : quota; flags interval; elements = { 7 : "q1", 8-9 : "q2" }; }
	map lm { type inet_service : limit; elements = { 7 : "l1", 8 : "l2" }; }
	map ccm { type ipv4_addr . inet_service : counter; elements = { 10.88.0.1 . 8 : "c7" }; }
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		counter name udp dport map @cm counter
		quota name udp dport map @qm counter
		limit name udp dport map @lm counter
		quota name ip saddr . udp dport map @ccm counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`)
}

func objectMapsOracle(t *testing.T, ns, src string) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, ns, "k0", []string{"10.88.0.2/24"})
	rs, e := loadBoth(t, k, "m.nft", src)
	sendBoth(t, inj, e, 24, from1, portsFrom7(3), size(72))
	// nft -j lists `counter name ... map` as a counter of 0: compare
	// each rule's own (last) counter.
	last := func(cs [][]uint64) (out []uint64) {
		for _, c := range cs {
			out = append(out, c[len(c)-1])
		}
		return out
	}
	kern, ours := last(k.NftCounters(t)["ip/t/pre"]), last(ourCounters(rs, e)["ip/t/pre"])
	if fmt.Sprint(kern) != fmt.Sprint(ours) || len(kern) != 4 {
		t.Errorf("rule counters: kernel %v, nfd %v", kern, ours)
	}
	out, err := k.Cmd("nft", "-j", "list", "counters", "table", "ip", "t").Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name           string
				Packets, Bytes uint64
			}
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, o := range doc.Nftables {
		if o.Counter != nil {
			seen++
			c := e.ObjectCounter(rs.Tables[0], o.Counter.Name)
			if got := fmt.Sprint(c.Packets.Load(), c.Bytes.Load()); got != fmt.Sprint(o.Counter.Packets, o.Counter.Bytes) {
				t.Errorf("counter %s: kernel %d %d, nfd %s", o.Counter.Name, o.Counter.Packets, o.Counter.Bytes, got)
			}
		}
	}
	if seen != 2 {
		t.Errorf("compared %d counters, want 2", seen)
	}
	t.Logf("rules %v", ours)
}
