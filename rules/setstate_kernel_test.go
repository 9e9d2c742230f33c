package rules

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// TestSetStateKernelOracle: element timeouts (the element's, its
// `expires`, the set's), per-element counters of a set with `counter`,
// loaded with nft -f and into the engine; the same packets, before and
// after the short timeouts end, give the same rule counters and element
// counters.
func TestSetStateKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "sst", "k0", []string{"10.88.0.2/24"})
	const src = `table ip t {
	set cnt {
		type ipv4_addr; counter
		elements = { 10.88.0.1 counter packets 5 bytes 100, 10.88.0.3, 10.88.0.9 }
	}
	set tmo {
		type ipv4_addr; flags timeout
		elements = { 10.88.0.1 timeout 1s, 10.88.0.3 timeout 1h expires 2s, 10.88.0.4 timeout 1h }
	}
	set dflt {
		type ipv4_addr; timeout 1s
		elements = { 10.88.0.3 }
	}
	map vm {
		type ipv4_addr : verdict; flags timeout
		elements = { 10.88.0.1 timeout 1s : jump c2, 10.88.0.4 timeout 1h : jump c2 }
	}
	chain c2 {
		counter
	}
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ip saddr @cnt counter
		ip saddr != @cnt counter
		ip saddr @tmo counter
		ip saddr != @tmo counter
		ip saddr @dflt counter
		ip saddr vmap @vm
		counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`
	rs, e := loadBoth(t, k, "s.nft", src)
	send := func() {
		srcs := []string{"10.88.0.1", "10.88.0.3", "10.88.0.4", "10.88.0.5", "10.88.0.1", "10.88.0.3"}
		sendBoth(t, inj, e, len(srcs), func(i int) string { return srcs[i] }, portsFrom7(1), func(i int) int { return 10 + i })
	}
	compare := func(phase string) {
		kern, ours := k.NftCounters(t), ourCounters(rs, e)
		for _, ch := range []string{"ip/t/pre", "ip/t/c2"} {
			if fmt.Sprint(kern[ch]) != fmt.Sprint(ours[ch]) {
				t.Errorf("%s, %s: kernel %v, nfd %v", phase, ch, kern[ch], ours[ch])
			}
		}
		ke := kernelElemCounters(t, k, "cnt")
		var oe []string
		ctrs := e.ElemCounters(rs.Tables[0].Set("cnt"))
		for i := range 3 {
			c := &ctrs[i]
			ip := netip.AddrFrom4([4]byte(rs.Tables[0].Set("cnt").Elems[i].Lo)).String()
			oe = append(oe, fmt.Sprintf("%s:%d/%d", ip, c.Packets.Load(), c.Bytes.Load()))
		}
		if fmt.Sprint(ke) != fmt.Sprint(oe) {
			t.Errorf("%s, element counters: kernel %v, nfd %v", phase, ke, oe)
		}
		t.Logf("%s: rules %v, elements %v", phase, ours, oe)
	}
	send()
	compare("before the timeouts")
	time.Sleep(2500 * time.Millisecond)
	send()
	compare("after the 1s and 2s timeouts")
}

// kernelElemCounters lists a set's elements of table ip t with their
// counters, as "addr:packets/bytes", in the order nft lists them.
func kernelElemCounters(t *testing.T, k *netns.NS, set string) []string {
	out, err := k.Cmd("nft", "-j", "list", "set", "ip", "t", set).Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var res []string
	for _, obj := range doc.Nftables {
		raw, ok := obj["set"]
		if !ok {
			continue
		}
		var s struct{ Elem []json.RawMessage }
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		for _, el := range s.Elem {
			var v struct {
				Elem struct {
					Val     string
					Counter struct{ Packets, Bytes uint64 }
				}
			}
			if err := json.Unmarshal(el, &v); err != nil {
				t.Fatalf("%v: %s", err, el)
			}
			res = append(res, fmt.Sprintf("%s:%d/%d", v.Elem.Val, v.Elem.Counter.Packets, v.Elem.Counter.Bytes))
		}
	}
	return res
}
