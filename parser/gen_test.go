package parser

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// genRuleset writes a random but valid ruleset in nft syntax. With
// kernelOnly it leaves out nfd's layer-7 matches, so nft itself can check
// the result.
type gen struct {
	r          *rand.Rand
	kernelOnly bool
}

func (g *gen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

func (g *gen) v4() string {
	return fmt.Sprintf("10.%d.%d.%d", g.r.Intn(256), g.r.Intn(256), 1+g.r.Intn(254))
}

func (g *gen) v6() string {
	return fmt.Sprintf("2001:db8:%x::%x", g.r.Intn(0xffff), 1+g.r.Intn(0xfffe))
}

func (g *gen) v4val() string {
	switch g.r.Intn(5) {
	case 0:
		return fmt.Sprintf("10.%d.0.0/16", g.r.Intn(256))
	case 1:
		return fmt.Sprintf("{ %s, %s, 192.168.%d.0/24 }", g.v4(), g.v4(), g.r.Intn(256))
	case 2:
		return fmt.Sprintf("10.0.0.%d-10.0.0.%d", 1+g.r.Intn(100), 101+g.r.Intn(100))
	}
	return g.v4()
}

func (g *gen) v6val() string {
	switch g.r.Intn(3) {
	case 0:
		return fmt.Sprintf("2001:db8:%x::/48", g.r.Intn(0xffff))
	case 1:
		return fmt.Sprintf("{ %s, fe80::/10 }", g.v6())
	}
	return g.v6()
}

func (g *gen) port() string {
	switch g.r.Intn(6) {
	case 0:
		return fmt.Sprintf("%d-%d", 1+g.r.Intn(1000), 1001+g.r.Intn(60000))
	case 1:
		return fmt.Sprintf("{ %d, %d, %d-%d }", 1+g.r.Intn(100), 200+g.r.Intn(100), 1000, 1000+g.r.Intn(500))
	case 2:
		return g.pick("ssh", "https", "domain", "http")
	case 3:
		return g.pick("!= ", "< ", "> ", "<= ", ">= ") + fmt.Sprint(1+g.r.Intn(65000))
	}
	return fmt.Sprint(1 + g.r.Intn(65535))
}

// rule returns one rule for a chain in a table of family fam at hook.
func (g *gen) rule(fam string, hook string, sets map[string]bool, chains []string, self int) string {
	var parts []string
	l3 := fam
	if fam == "inet" {
		l3 = g.pick("ip", "ip6", "")
	}
	if l3 == "ip" && g.r.Intn(2) == 0 {
		parts = append(parts, "ip "+g.pick("saddr", "daddr")+" "+g.v4val())
	}
	if l3 == "ip6" && g.r.Intn(2) == 0 {
		parts = append(parts, "ip6 "+g.pick("saddr", "daddr")+" "+g.v6val())
	}
	if l3 == "ip" && sets["v4"] && g.r.Intn(4) == 0 {
		parts = append(parts, "ip saddr "+g.pick("", "!= ")+"@v4")
	}
	switch g.r.Intn(9) {
	case 0, 1:
		parts = append(parts, "tcp dport "+g.port())
		if g.r.Intn(3) == 0 {
			parts = append(parts, g.pick("tcp flags syn", "tcp flags & (syn | ack) == syn", "tcp flags syn / fin,syn,rst,ack", "tcp flags { syn, syn|ack }"))
		}
		if sets["ports"] && g.r.Intn(3) == 0 {
			parts = append(parts, "tcp sport @ports")
		}
		if !g.kernelOnly && g.r.Intn(3) == 0 {
			parts = append(parts, g.pick(`tls sni "*.example.com"`, `tls sni { "a.example", "*.b.example" }`, `http host "www.example.org"`))
		}
	case 2:
		parts = append(parts, "udp "+g.pick("sport", "dport")+" "+g.port())
		if !g.kernelOnly && g.r.Intn(3) == 0 {
			parts = append(parts, `dns qname "*.ads.example"`)
		}
	case 3:
		if l3 != "ip6" {
			if l3 == "" && fam == "inet" {
				parts = append(parts, "meta nfproto ipv4")
			}
			parts = append(parts, "icmp type "+g.pick("echo-request", "{ echo-request, echo-reply }", "destination-unreachable"))
		}
	case 4:
		parts = append(parts, "th dport "+g.port())
	case 5:
		parts = append(parts, "meta l4proto "+g.pick("tcp", "udp", "{ tcp, udp }", "!= icmp"))
	}
	switch g.r.Intn(8) {
	case 0:
		parts = append(parts, "ct state "+g.pick("new", "established,related", "invalid", "{ new, untracked }", "!= established"))
	case 1:
		parts = append(parts, "ct mark "+g.pick("0x1", "!= 0x0", "& 0xff == 0x2"))
	case 2:
		parts = append(parts, "meta mark "+g.pick("0x10", "& 0xf0 == 0x10", "{ 1, 2, 3 }"))
	case 3:
		if hook != "output" {
			parts = append(parts, "iifname "+g.pick(`"eth0"`, `"veth*"`, `{ "eth1", "wg0" }`, `!= "lo"`))
		}
	case 4:
		parts = append(parts, "meta length "+g.pick("> 1000", "64-128", "< 100"))
	case 5:
		if l3 == "ip" {
			parts = append(parts, "ip ttl "+g.pick("1", "< 5", "64"))
		}
	case 6:
		parts = append(parts, "meta pkttype "+g.pick("host", "{ broadcast, multicast }"))
	}
	switch g.r.Intn(6) {
	case 0:
		parts = append(parts, "counter")
	case 1:
		parts = append(parts, fmt.Sprintf(`log prefix "gen%d " level %s`, g.r.Intn(100), g.pick("info", "warn", "debug")))
	case 2:
		parts = append(parts, fmt.Sprintf("limit rate %s%d/%s", g.pick("", "over "), 1+g.r.Intn(1000), g.pick("second", "minute", "hour")))
	case 3:
		parts = append(parts, fmt.Sprintf("%s mark set 0x%x", g.pick("meta", "ct"), g.r.Intn(1<<16)))
	}
	verdicts := []string{"accept", "drop", "", "continue"}
	if self >= 0 {
		verdicts = append(verdicts, "return")
	}
	if hook != "postrouting" {
		verdicts = append(verdicts, "reject", "reject with tcp reset")
		if l3 == "ip" || fam == "ip" {
			verdicts = append(verdicts, "reject with icmp host-prohibited")
		}
	}
	for i := self + 1; i < len(chains); i++ {
		verdicts = append(verdicts, "jump "+chains[i], "goto "+chains[i])
	}
	v := g.pick(verdicts...)
	if v == "reject with tcp reset" {
		hasTCP := false
		for _, p := range parts {
			hasTCP = hasTCP || strings.HasPrefix(p, "tcp ")
		}
		if !hasTCP {
			v = "drop"
		}
	}
	if v != "" {
		parts = append(parts, v)
	}
	if len(parts) == 0 {
		parts = append(parts, "counter")
	}
	if g.r.Intn(6) == 0 {
		parts = append(parts, fmt.Sprintf(`comment "rule %d"`, g.r.Intn(1000)))
	}
	return strings.Join(parts, " ")
}

func (g *gen) table(name string) string {
	fam := g.pick("ip", "ip6", "inet")
	hook := g.pick("prerouting", "input", "forward", "output", "postrouting")
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", fam, name)
	sets := map[string]bool{}
	if fam != "ip6" && g.r.Intn(2) == 0 {
		sets["v4"] = true
		fmt.Fprintf(&b, "\tset v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { %s, 10.%d.0.0/16 }\n\t}\n", g.v4(), g.r.Intn(256))
	}
	if g.r.Intn(2) == 0 {
		sets["ports"] = true
		fmt.Fprintf(&b, "\tset ports {\n\t\ttype inet_service\n\t\telements = { %d, %d }\n\t}\n", 1+g.r.Intn(1000), 2000+g.r.Intn(1000))
	}
	chains := []string{}
	for i := 0; i < g.r.Intn(3); i++ {
		chains = append(chains, fmt.Sprintf("sub%d", i))
	}
	fmt.Fprintf(&b, "\tchain base {\n\t\ttype filter hook %s priority %s; policy %s;\n", hook,
		g.pick("0", "filter", "-150", "raw", "filter + 3", "mangle - 2", "100"), g.pick("accept", "drop"))
	for i := 0; i < 1+g.r.Intn(8); i++ {
		fmt.Fprintf(&b, "\t\t%s\n", g.rule(fam, hook, sets, chains, -1))
	}
	b.WriteString("\t}\n")
	for ci, c := range chains {
		fmt.Fprintf(&b, "\tchain %s {\n", c)
		for i := 0; i < g.r.Intn(5); i++ {
			fmt.Fprintf(&b, "\t\t%s\n", g.rule(fam, hook, sets, chains, ci))
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// TestRandomRoundTrip: for random valid rulesets, print(parse(text)) parses
// back to the same tree and prints identically.
func TestRandomRoundTrip(t *testing.T) {
	g := &gen{r: rand.New(rand.NewSource(1))}
	for i := 0; i < 2000; i++ {
		src := g.table(fmt.Sprintf("t%d", i))
		rs, err := Parse("gen.nft", []byte(src))
		if err != nil {
			t.Fatalf("generated ruleset rejected: %s\n%s", err.(ErrorList).Pretty(), src)
		}
		roundTrip(t, "gen", rs)
	}
}
