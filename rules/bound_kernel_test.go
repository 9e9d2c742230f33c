package rules

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// TestBoundChainKernelOracle: anonymous chains (`jump { ... }`, `goto {
// ... }`) loaded with nft -f and into the engine count the same packets,
// in the base chain and in the bound chains (nft names those __chainN,
// as nfd does).
func TestBoundChainKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "bnd", "k0", []string{"10.88.0.2/24"})
	const src = `table ip t {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		udp dport 7 jump { counter; ip saddr 10.88.0.1 return; counter; }
		counter
		udp dport 8 goto { ip saddr 10.88.0.3 accept; counter; }
		counter
		jump {
			udp dport 9 counter
			ip saddr 10.88.0.4 drop
		}
		counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`
	rs, e := loadBoth(t, k, "b.nft", src)
	srcs := []string{"10.88.0.1", "10.88.0.3", "10.88.0.4", "10.88.0.5"}
	sendBoth(t, inj, e, 36, func(i int) string { return srcs[i%4] }, portsFrom7(3), size(8))
	kern, ours := boundCounters(t, k), ourCounters(rs, e)
	for _, ch := range []string{"ip/t/pre", "ip/t/__chain0", "ip/t/__chain1", "ip/t/__chain2"} {
		if fmt.Sprint(kern[ch]) != fmt.Sprint(ours[ch]) {
			t.Errorf("%s: kernel %v, nfd %v", ch, kern[ch], ours[ch])
		}
	}
	t.Logf("%v", ours)
}

// boundCounters reads the counters of chain pre of table ip t and of its
// bound chains: nft's JSON gives a bound chain only as the text of its
// verdict, so their rules' counters are read from that text; the bound
// chains are numbered in rule order, as nfd numbers them.
func boundCounters(t *testing.T, k *netns.NS) map[string][][]uint64 {
	out, err := k.Cmd("nft", "-j", "list", "chain", "ip", "t", "pre").Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	m := map[string][][]uint64{}
	re := regexp.MustCompile(`counter packets (\d+)`)
	bound := 0
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var r struct{ Expr []json.RawMessage }
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		cs := []uint64{}
		for _, x := range r.Expr {
			var text string
			if json.Unmarshal(x, &text) == nil {
				key := fmt.Sprintf("ip/t/__chain%d", bound)
				bound++
				for _, line := range strings.Split(text, "\n")[1:] {
					if strings.TrimSpace(line) == "}" {
						continue
					}
					lc := []uint64{}
					for _, mm := range re.FindAllStringSubmatch(line, -1) {
						n, _ := strconv.ParseUint(mm[1], 10, 64)
						lc = append(lc, n)
					}
					m[key] = append(m[key], lc)
				}
				continue
			}
			var e map[string]json.RawMessage
			if json.Unmarshal(x, &e) == nil {
				if c, ok := e["counter"]; ok {
					var v struct{ Packets uint64 }
					_ = json.Unmarshal(c, &v)
					cs = append(cs, v.Packets)
				}
			}
		}
		m["ip/t/pre"] = append(m["ip/t/pre"], cs)
	}
	return m
}
