package rules

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/internal/rulegen"
	"github.com/nfdproject/nfd/parser"
)

// TestQuotaKernelOracle loads quota rules with nft -f in a throw-away
// namespace and into the engine, sends both the same packets (the
// kernel's through a veth, at prerouting) and compares every counter and
// every quota's used bytes. Packets of 100 bytes land exactly on the
// quotas' limits, so the boundary (nft_overquota: above, or at?) is
// checked too.
func TestQuotaKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "quota", "k0", []string{"10.88.0.2/24"})
	const src = `table ip t {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		quota 1000 bytes counter
		quota over 1000 bytes counter
		quota 500 bytes used 100 bytes counter
		quota until 1 kbytes counter
		udp dport 7 quota over 300 bytes counter
		counter quota 2000 bytes
		quota over 0 bytes counter
		quota 0 bytes counter
	}
}
table inet zz_sink {
	chain in {
		type filter hook input priority 100; policy drop;
	}
}
`
	rs, e := loadBoth(t, k, "q.nft", src)
	for i := 0; i < 40; i++ {
		n := 72 // 100-byte packets
		if i >= 25 {
			n = 13 * i // then uneven ones
		}
		dport := uint16(7)
		if i%3 == 0 {
			dport = 9
		}
		b := pktgen.Build(pktgen.Opts{Src: netip.MustParseAddr("10.88.0.1"), Dst: netip.MustParseAddr("10.88.0.2"),
			Proto: 17, Sport: 4000, Dport: dport, Payload: make([]byte, n)})
		c := ctxOf(rulegen.Packet{Bytes: b}, parser.HookPrerouting)
		e.Eval(c)
		if err := inj.Send(b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	kern := k.NftCounters(t)["ip/t/pre"]
	ours := ourCounters(rs, e)["ip/t/pre"]
	if fmt.Sprint(kern) != fmt.Sprint(ours) {
		t.Errorf("counters: kernel %v, nfd %v", kern, ours)
	}
	kq := kernelQuotaUsed(t, k)
	var oq []uint64
	i := 0
	for _, r := range rs.Tables[0].Chains[0].Rules {
		for si, s := range r.Stmts {
			if _, ok := s.(*parser.Quota); ok {
				u, _ := e.StmtQuotaUsed(e.Rules[i], si)
				oq = append(oq, u)
			}
		}
		i++
	}
	if fmt.Sprint(kq) != fmt.Sprint(oq) {
		t.Errorf("quota used: kernel %v, nfd %v", kq, oq)
	}
	t.Logf("counters %v, quota used %v", ours, oq)
}

// kernelQuotaUsed lists the used bytes of every quota expression in table
// ip t, in rule order.
func kernelQuotaUsed(t *testing.T, k *netns.NS) []uint64 {
	out, err := k.Cmd("nft", "-j", "list", "table", "ip", "t").Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	unit := map[string]uint64{"bytes": 1, "kbytes": 1024, "mbytes": 1024 * 1024}
	var used []uint64
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var r struct{ Expr []map[string]json.RawMessage }
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		for _, e := range r.Expr {
			if q, ok := e["quota"]; ok {
				var v struct {
					Used     uint64 `json:"used"`
					UsedUnit string `json:"used_unit"`
				}
				_ = json.Unmarshal(q, &v)
				if v.UsedUnit == "" {
					v.UsedUnit = "bytes"
				}
				used = append(used, v.Used*unit[v.UsedUnit])
			}
		}
	}
	return used
}
