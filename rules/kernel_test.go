package rules

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
)

// nftCounters reads every counter of every rule, in chain order, from
// `nft -j list ruleset`: "family/table/chain" → per rule, its counters.
func nftCounters(t *testing.T, ns *netns.NS) map[string][][]uint64 {
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

// ourCounters reads the same from the engine.
func ourCounters(rs *parser.Ruleset, e *Engine) map[string][][]uint64 {
	m := map[string][][]uint64{}
	i := 0
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			k := t.Family.String() + "/" + t.Name + "/" + c.Name
			for _, r := range c.Rules {
				info := e.Rules[i]
				i++
				var cs []uint64
				for si, s := range r.Stmts {
					if _, ok := s.(*parser.Counter); ok {
						cs = append(cs, e.StmtCounter(info, si).Packets.Load())
					}
				}
				m[k] = append(m[k], cs)
			}
		}
	}
	return m
}

// TestKernelOracle loads random rulesets into the kernel with nft in a
// throw-away namespace and into the engine, sends the same random packets
// to both (the kernel's through a veth, at the prerouting hook), and
// compares every rule's counters. An input chain drops every packet after
// prerouting, so the kernel never confirms a connection; the engine's
// conntrack table is told the same by forgetting each new entry.
func TestKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	snd := netns.New(t, "rs")
	k := netns.New(t, "rk")
	// The sender's own stack stays silent (no IPv6 router solicitations or
	// MLD reports): it only injects frames through a packet socket, so the
	// kernel's counters see exactly the packets the engine sees.
	for _, key := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
		if _, err := snd.Run("sysctl", "-qw", key); err != nil {
			t.Fatal(err)
		}
	}
	netns.Veth(t, snd, "s0", []string{"10.88.0.1/24"}, k, "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	out, err := k.Run("cat", "/sys/class/net/k0/address")
	if err != nil {
		t.Fatal(err)
	}
	kmac, err := net.ParseMAC(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	var fd, ifindex int
	var smac net.HardwareAddr
	if err := snd.Do(func() error {
		ifc, err := net.InterfaceByName("s0")
		if err != nil {
			return err
		}
		ifindex, smac = ifc.Index, ifc.HardwareAddr
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	send := func(ip []byte) {
		frame := make([]byte, 14+len(ip))
		copy(frame, kmac)
		copy(frame[6:], smac)
		if ip[0]>>4 == 4 {
			frame[12], frame[13] = 0x08, 0x00
		} else {
			frame[12], frame[13] = 0x86, 0xdd
		}
		copy(frame[14:], ip)
		sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
		copy(sa.Addr[:], kmac)
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			t.Fatalf("sendto: %v", err)
		}
	}

	g := &rgen{r: rand.New(rand.NewSource(7)), counted: true, hook: "prerouting", noReject: true,
		dst4: "10.88.0.2", dst6: "fd88::2", iif: "k0"}
	const sink = "table inet zz_sink {\n\tchain in {\n\t\ttype filter hook input priority 100; policy drop;\n\t}\n}\n"
	rounds, packets := 40, 60
	for round := 0; round < rounds; round++ {
		src := g.ruleset()
		rs, err := parser.Parse("gen.nft", []byte(src))
		if err != nil {
			t.Fatalf("generated ruleset rejected: %v", err)
		}
		canon := parser.Print(rs)
		f := filepath.Join(t.TempDir(), "r.nft")
		if err := os.WriteFile(f, []byte("flush ruleset\n"+canon+sink), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := k.Run("nft", "-f", f); err != nil {
			t.Fatalf("nft -f: %v\n%s\n%s", err, out, canon)
		}
		e, err := Compile(rs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		tb := conntrack.New(conntrack.Config{})
		for i := 0; i < packets; i++ {
			c := g.packet()
			c.Hook = parser.HookPrerouting
			c.Mark = 0
			tb.Track(c.P, &c.CT)
			c.CtMark = c.CT.Mark
			e.Eval(c)
			if c.CT.Created {
				tb.Forget(c.CT.Key)
			}
			send(c.P.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
		kern := nftCounters(t, k)
		ours := ourCounters(rs, e)
		for key, rulesK := range kern {
			if strings.Contains(key, "zz_sink") {
				continue
			}
			rulesO := ours[key]
			if fmt.Sprint(rulesK) != fmt.Sprint(rulesO) {
				t.Fatalf("round %d, chain %s: kernel counters %v, nfd %v\nruleset:\n%s", round, key, rulesK, rulesO, canon)
			}
		}
	}
}
