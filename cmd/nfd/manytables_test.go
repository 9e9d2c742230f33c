package main

import (
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// manyTablesRuleset generates a ruleset of several hundred rules over
// tables tables (ip and inet, one output base chain each at its own
// priority, two regular chains reached by jump and goto): ports, port
// sets and ranges, addresses, lengths, conntrack state, marks set in one
// table and matched in later ones, drops that hide packets from later
// tables, accepts and returns in regular chains, and in some tables a
// `tls sni` rule that only nfd can evaluate (the chain queues in auto
// mode). Every rule counts under a comment naming it.
func manyTablesRuleset(seed int64, tables int) (string, int) {
	rnd := rand.New(rand.NewSource(seed))
	var b strings.Builder
	n := 0
	port := func() int { return 20000 + rnd.Intn(64) }
	rule := func(body string) {
		fmt.Fprintf(&b, "\t\t%s comment \"r%d\"\n", strings.Replace(body, "COUNTER", "counter", 1), n)
		n++
	}
	match := func(fam string) string {
		switch rnd.Intn(9) {
		case 0:
			return fmt.Sprintf("udp dport %d", port())
		case 1:
			p := port()
			return fmt.Sprintf("udp dport { %d, %d, %d }", p, p+1, port())
		case 2:
			p := port()
			return fmt.Sprintf("udp dport %d-%d", p, p+5)
		case 3:
			return fmt.Sprintf("ip daddr 127.0.0.1 udp dport != %d", port())
		case 4:
			return fmt.Sprintf("meta length > %d udp dport %d-%d", 28+rnd.Intn(4), 20000+rnd.Intn(32), 20032+rnd.Intn(32))
		case 5:
			return fmt.Sprintf("ct state new udp dport %d", port())
		case 6:
			return fmt.Sprintf("meta mark 0x%x", 1+rnd.Intn(3))
		case 7:
			return fmt.Sprintf("tcp dport %d", 30000+rnd.Intn(4))
		default:
			if fam == "inet" {
				return fmt.Sprintf("meta nfproto ipv4 udp sport != 0 udp dport %d", port())
			}
			return fmt.Sprintf("ip protocol udp udp dport %d", port())
		}
	}
	for ti := 0; ti < tables; ti++ {
		fam := []string{"ip", "inet"}[ti%2]
		fmt.Fprintf(&b, "table %s m%d {\n", fam, ti)
		fmt.Fprintf(&b, "\tchain a {\n")
		for i := 0; i < 5; i++ {
			switch rnd.Intn(6) {
			case 0:
				rule(match(fam) + " COUNTER return")
			case 1:
				rule(match(fam) + " COUNTER accept")
			default:
				rule(match(fam) + " COUNTER")
			}
		}
		b.WriteString("\t}\n\tchain b {\n")
		for i := 0; i < 3; i++ {
			rule(match(fam) + " COUNTER")
		}
		b.WriteString("\t}\n")
		fmt.Fprintf(&b, "\tchain out {\n\t\ttype filter hook output priority %d; policy accept;\n", (ti-tables/2)*10)
		for i := 0; i < 12; i++ {
			switch k := rnd.Intn(20); {
			case k == 0 && ti%3 == 1:
				rule(`tls sni "blocked.example" COUNTER drop`)
			case k == 1:
				rule(fmt.Sprintf("udp dport %d COUNTER drop", 20000+rnd.Intn(64)))
			case k == 2:
				rule(match(fam) + " COUNTER jump a")
			case k == 3:
				rule(match(fam) + " COUNTER goto b")
			case k == 4:
				rule(fmt.Sprintf("udp dport %d-%d meta mark set 0x%x COUNTER", port(), 20063, 1+rnd.Intn(3)))
			default:
				rule(match(fam) + " COUNTER")
			}
		}
		b.WriteString("\t}\n}\n")
	}
	return b.String(), n
}

// manyTablesTraffic sends two datagrams (one unconnected socket: ICMP
// errors do not stop it) to each test port, where a socket listens, and a
// SYN to each TCP test port; it reports how many datagrams each port
// received (a drop at output is a datagram that never arrives).
func manyTablesTraffic(t *testing.T, ns *netns.NS) string {
	t.Helper()
	var got []string
	must(t, ns.Do(func() error {
		var ls []net.PacketConn
		defer func() {
			for _, l := range ls {
				l.Close()
			}
		}()
		for p := 20000; p < 20064; p++ {
			l, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				return err
			}
			ls = append(ls, l)
		}
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer c.Close()
		for p := 20000; p < 20064; p++ {
			for k := 0; k < 2; k++ {
				if _, err := c.WriteTo([]byte(strings.Repeat("x", 1+k*8)), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p}); err != nil && !errors.Is(err, syscall.EPERM) {
					return err
				}
			}
		}
		for p := 30000; p < 30004; p++ {
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second); err == nil {
				c.Close()
			}
		}
		buf := make([]byte, 64)
		deadline := time.Now().Add(time.Second)
		for i, l := range ls {
			n := 0
			_ = l.SetReadDeadline(deadline)
			for n < 2 {
				if _, _, err := l.ReadFrom(buf); err != nil {
					break
				}
				n++
			}
			if n != 2 {
				got = append(got, fmt.Sprintf("%d:%d", 20000+i, n))
			}
		}
		return nil
	}))
	return strings.Join(got, " ")
}

var (
	nftRuleCount   = regexp.MustCompile(`counter packets (\d+) bytes (\d+)[^\n]* comment "(r\d+)"`)
	nfdListedCount = regexp.MustCompile(`comment "(r\d+)" # handle \d+, .*packets (\d+) bytes (\d+)`)
)

// TestManyTablesEquivalence (issue 20): a generated ruleset of several
// hundred rules over two dozen tables, loaded with nft -f, nfd
// --offload=none and nfd --offload=auto, counts the same packets rule by
// rule and refuses the same sends.
func TestManyTablesEquivalence(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			src, n := manyTablesRuleset(seed, 24)
			ns := netns.New(t, "mte")
			_, err := ns.Run("ip", "link", "set", "lo", "up")
			must(t, err)
			f := filepath.Join(t.TempDir(), "rules.nft")
			must(t, os.WriteFile(f, []byte(src), 0o644))
			// nft cannot run the tls sni rules: the oracle has them
			// without it (no test packet is TLS, so they match nothing).
			plain := regexp.MustCompile(`tls sni "[^"]*" `).ReplaceAllString(src, "tcp dport 443 tcp sport 1 ")
			pf := filepath.Join(t.TempDir(), "plain.nft")
			must(t, os.WriteFile(pf, []byte(plain), 0o644))
			if out, err := ns.Run("nft", "-f", pf); err != nil {
				t.Fatalf("nft -f: %v %s", err, out)
			}
			wantGot := manyTablesTraffic(t, ns)
			listing, err := ns.Run("nft", "list", "ruleset")
			must(t, err)
			want := map[string]string{}
			for _, m := range nftRuleCount.FindAllStringSubmatch(listing, -1) {
				want[m[3]] = m[1] + "/" + m[2]
			}
			if len(want) != n {
				t.Fatalf("nft listed %d counted rules of %d", len(want), n)
			}
			if _, err := ns.Run("nft", "flush", "ruleset"); err != nil {
				t.Fatal(err)
			}
			if _, err := ns.Run("conntrack", "-F"); err != nil {
				t.Logf("conntrack -F: %v", err)
			}
			for _, mode := range []string{"none", "auto"} {
				d := startDaemon(t, ns, src, "--offload", mode)
				gotGot := manyTablesTraffic(t, ns)
				out, errOut, code := runIn(t, ns, "rules", "--socket", d.socket)
				if code != 0 {
					t.Fatalf("nfd rules: %s", errOut)
				}
				got := map[string]string{}
				for _, m := range nfdListedCount.FindAllStringSubmatch(out, -1) {
					got[m[1]] = m[2] + "/" + m[3]
				}
				var diffs []string
				for r, w := range want {
					if got[r] != w {
						diffs = append(diffs, fmt.Sprintf("%s: nft %s, nfd %s", r, w, got[r]))
					}
				}
				sort.Strings(diffs)
				if len(diffs) > 0 {
					t.Errorf("--offload=%s: %d of %d rules count differently (packets/bytes):\n%s", mode, len(diffs), n, strings.Join(diffs, "\n"))
				}
				if gotGot != wantGot {
					t.Errorf("--offload=%s: ports receiving other than 2 datagrams %q, under nft -f %q", mode, gotGot, wantGot)
				}
				must(t, d.stop(syscall.SIGTERM))
				if _, err := ns.Run("conntrack", "-F"); err != nil {
					t.Logf("conntrack -F: %v", err)
				}
			}
		})
	}
}
