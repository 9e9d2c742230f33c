package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// scaleRuleset writes a ruleset of output rules that count UDP datagrams
// to 127.0.0.1 by port, each rule with a comment naming it: rules in one
// chain, chains (one jump rule and one chain per port) or tables (ten
// rules each). changed moves rule `changed` to another port (-1: none).
func scaleRuleset(shape string, n, changed int) string {
	var b strings.Builder
	port := func(i int) int {
		if i == changed {
			return 40000 + i
		}
		return 10000 + i
	}
	switch shape {
	case "rules":
		b.WriteString("table inet t {\n  chain output {\n    type filter hook output priority 0; policy accept;\n")
		for i := 0; i < n; i++ {
			if n > bigScale {
				a, p := bigTarget(i, i == changed)
				fmt.Fprintf(&b, "    udp dport %d ip daddr %s counter comment \"r%d\"\n", p, a, i)
				continue
			}
			fmt.Fprintf(&b, "    udp dport %d counter comment \"r%d\"\n", port(i), i)
		}
		b.WriteString("  }\n}\n")
	case "chains":
		b.WriteString("table inet t {\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "  chain c%d {\n    udp dport %d counter comment \"r%d\"\n  }\n", i, port(i), i)
		}
		b.WriteString("  chain output {\n    type filter hook output priority 0; policy accept;\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "    meta l4proto udp jump c%d\n", i)
		}
		b.WriteString("  }\n}\n")
	case "tables":
		for tb := 0; tb < n/10; tb++ {
			fmt.Fprintf(&b, "table inet t%d {\n  chain output {\n    type filter hook output priority 0; policy accept;\n", tb)
			for i := tb * 10; i < tb*10+10; i++ {
				fmt.Fprintf(&b, "    udp dport %d counter comment \"r%d\"\n", port(i), i)
			}
			b.WriteString("  }\n}\n")
		}
	}
	return b.String()
}

// bigScale is the most rules one port each can tell apart; beyond it
// rule i matches a port and one of two loopback addresses (bigTarget).
const bigScale = 50000

// bigTarget is what rule i of a "rules" ruleset over bigScale matches:
// port 10000+i/2 at 127.0.0.1 or .2; changed, at 127.0.0.3 or .4.
func bigTarget(i int, changed bool) (string, int) {
	d := 1 + i%2
	if changed {
		d += 2
	}
	return fmt.Sprintf("127.0.0.%d", d), 10000 + i/2
}

// sendUDP sends one datagram from the namespace to 127.0.0.1 at each
// port, count times.
func sendUDP(t *testing.T, ns *netns.NS, ports []int, count int) {
	t.Helper()
	addrs := make([]string, len(ports))
	for i, p := range ports {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	sendUDPTo(t, ns, addrs, count)
}

// sendUDPTo sends one datagram from the namespace to each address, count
// times.
func sendUDPTo(t *testing.T, ns *netns.NS, addrs []string, count int) {
	t.Helper()
	must(t, ns.Do(func() error {
		for _, a := range addrs {
			c, err := net.Dial("udp", a)
			if err != nil {
				return err
			}
			for k := 0; k < count; k++ {
				_, _ = c.Write([]byte("x"))
			}
			c.Close()
		}
		return nil
	}))
}

var nftCommentRe = regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "(r\d+)"`)

// TestIncrementalReloadScale: at 10^3, 10^4 and 10^5 rules in one chain,
// 10^3 chains and 10^2 tables, nfd (--offload=auto: all native) counts
// the packets nft -f counts; a reload with one rule changed shows the
// change in the kernel's listing, sends a small batch (nfd's log), and
// keeps every other rule's count. Timings are bench/scale.sh's.
func TestIncrementalReloadScale(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	for _, c := range []struct {
		shape string
		n     int
	}{{"rules", 1000}, {"rules", 10000}, {"rules", 100000}, {"chains", 1000}, {"tables", 1000}} {
		t.Run(fmt.Sprintf("%s_%d", c.shape, c.n), func(t *testing.T) {
			ns := netns.New(t, "irl")
			_, err := ns.Run("ip", "link", "set", "lo", "up")
			must(t, err)
			src := scaleRuleset(c.shape, c.n, -1)
			ports := []int{10000, 10000 + c.n/2, 10000 + c.n/2 + 1, 10000 + c.n - 1}
			send := func() { sendUDP(t, ns, ports, 3) }
			changedRule := func(i int) string { return fmt.Sprintf("udp dport %d counter", 40000+i) }
			oldRule := func(i int) string { return fmt.Sprintf("udp dport %d counter", 10000+i) }
			if c.n > bigScale {
				var to []string
				for _, i := range []int{0, 1, c.n / 2, c.n/2 + 1, c.n - 1} {
					a, p := bigTarget(i, false)
					to = append(to, fmt.Sprintf("%s:%d", a, p))
				}
				send = func() { sendUDPTo(t, ns, to, 3) }
				changedRule = func(i int) string {
					a, p := bigTarget(i, true)
					return fmt.Sprintf("udp dport %d ip daddr %s counter", p, a)
				}
				oldRule = func(i int) string {
					a, p := bigTarget(i, false)
					return fmt.Sprintf("udp dport %d ip daddr %s counter", p, a)
				}
			}
			// The oracle: nft -f, the same packets.
			f := filepath.Join(t.TempDir(), "rules.nft")
			must(t, os.WriteFile(f, []byte(src), 0o644))
			if out, err := ns.Run("nft", "-f", f); err != nil {
				t.Fatalf("nft -f: %v %s", err, out)
			}
			send()
			oracle := counts(t, ns, "t")
			if _, err := ns.Run("nft", "flush", "ruleset"); err != nil {
				t.Fatal(err)
			}
			d := startDaemon(t, ns, src, "--offload", "auto")
			send()
			got := counts(t, ns, "nfd_t")
			if diffs := oracleDiffs(oracle, got, "nfd"); len(diffs) > 0 {
				t.Fatalf("counts differ from nft -f:\n%s", strings.Join(diffs, "\n"))
			}
			if c.n > bigScale {
				// Status reads the native rules' counts in the background
				// at this size (hooks/statuscounters.go): the first answer
				// comes without them, a later one with them.
				aged := false
				for try := 0; try < 120 && !aged; try++ {
					s, err := d.status()
					must(t, err)
					aged = s.NativeCountsAge > 0
					if !aged {
						time.Sleep(500 * time.Millisecond)
					}
				}
				if !aged {
					t.Errorf("status never showed native counts read in the background")
				}
			}
			// Reload with rule n/2 changed.
			ch := c.n / 2
			rf := filepath.Join(t.TempDir(), "rules2.nft")
			must(t, os.WriteFile(rf, []byte(scaleRuleset(c.shape, c.n, ch)), 0o644))
			start := time.Now()
			out, errOut, code := runIn(t, ns, "reload", "--socket", d.socket, rf)
			if code != 0 {
				t.Fatalf("reload: exit %d %s %s", code, out, errOut)
			}
			t.Logf("%s %d: one-rule reload %v", c.shape, c.n, time.Since(start))
			listing, err := ns.Run("nft", "list", "ruleset")
			must(t, err)
			if !strings.Contains(listing, changedRule(ch)) || strings.Contains(listing, oldRule(ch)) {
				t.Fatalf("the kernel's listing does not show the changed rule")
			}
			after := counts(t, ns, "nfd_t")
			for k, v := range got {
				if k == fmt.Sprintf("r%d", ch) {
					if after[k] != "0" {
						t.Errorf("changed rule %s counts %s, want 0", k, after[k])
					}
					continue
				}
				if after[k] != v {
					t.Errorf("rule %s counted %s before the reload, %s after", k, v, after[k])
				}
			}
			if !strings.Contains(d.logs.String(), "tables_whole=0 chains_dumped=0") {
				t.Errorf("the reload was not incremental:\n%s", lastLines(d.logs.String(), 5))
			}
		})
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// counts maps each rule's comment to its packets in the namespace's
// tables whose name starts with prefix. nfd's kernel rules carry no
// comment: their counts are read by position from the listing, whose
// rule order is the file's.
func counts(t *testing.T, ns *netns.NS, prefix string) map[string]string {
	t.Helper()
	out, err := ns.Run("nft", "list", "ruleset")
	must(t, err)
	m := map[string]string{}
	if prefix == "t" {
		for _, x := range nftCommentRe.FindAllStringSubmatch(out, -1) {
			m[x[2]] = x[1]
		}
		return m
	}
	// nfd: `udp dport P counter packets N ...`; r<i> is port 10000+i or
	// 40000+i.
	// Over bigScale rules: `udp dport P ip daddr 127.0.0.D counter ...`
	// (bigTarget).
	re := regexp.MustCompile(`udp dport (\d+)(?: ip daddr 127\.0\.0\.(\d))? counter packets (\d+)`)
	for _, x := range re.FindAllStringSubmatch(out, -1) {
		var p, d int
		fmt.Sscan(x[1], &p)
		if x[2] != "" {
			fmt.Sscan(x[2], &d)
			m[fmt.Sprintf("r%d", 2*(p-10000)+(d-1)%2)] = x[3]
			continue
		}
		if p >= 40000 {
			p -= 30000
		}
		m[fmt.Sprintf("r%d", p-10000)] = x[3]
	}
	return m
}

// TestReloadKeepsBanSet: an address a rule added to a dynamic ban set
// (`add @ban { ip saddr timeout 1m }`) is still banned after a reload
// that keeps the set, with its remaining timeout.
func TestReloadKeepsBanSet(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "ping")
	ns := netns.New(t, "ban")
	_, err := ns.Run("ip", "link", "set", "lo", "up")
	must(t, err)
	src := func(extra string) string {
		return `table inet t {
  set ban { type ipv4_addr; flags dynamic, timeout; timeout 1m; }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @ban icmp type echo-request drop
    udp dport 9 add @ban { ip saddr timeout 1m }
` + extra + `  }
}
`
	}
	d := startDaemon(t, ns, src(""), "--offload", "auto")
	if !ns.Ping("127.0.0.1", time.Second) {
		t.Fatal("ping fails before the ban")
	}
	sendUDP(t, ns, []int{9}, 1)
	if ns.Ping("127.0.0.1", time.Second) {
		t.Fatal("ping passes after the ban")
	}
	rf := filepath.Join(t.TempDir(), "rules2.nft")
	must(t, os.WriteFile(rf, []byte(src("    tcp dport 7 counter\n")), 0o644))
	time.Sleep(1100 * time.Millisecond)
	out, errOut, code := runIn(t, ns, "reload", "--socket", d.socket, rf)
	if code != 0 {
		t.Fatalf("reload: exit %d %s %s", code, out, errOut)
	}
	set, err := ns.Run("nft", "list", "set", "inet", "nfd_t", "ban")
	must(t, err)
	if !strings.Contains(set, "127.0.0.1") || !strings.Contains(set, "expires") {
		t.Fatalf("the ban set lost its element:\n%s", set)
	}
	// The element keeps its remaining time: less than the full minute.
	var left int
	if m := regexp.MustCompile(`expires (\d+)s`).FindStringSubmatch(set); m != nil {
		fmt.Sscan(m[1], &left)
	}
	if left == 0 || left > 58 {
		t.Fatalf("the ban's remaining time was not kept (slept 1.1 s of 60 s):\n%s", set)
	}
	if ns.Ping("127.0.0.1", time.Second) {
		t.Fatal("ping passes after the reload: the ban was lost")
	}
	listing, err := ns.Run("nft", "list", "ruleset")
	must(t, err)
	if !strings.Contains(listing, "tcp dport 7") {
		t.Fatalf("the reload did not add the new rule:\n%s", listing)
	}
}
