package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// manyRules is an input chain of n rules `ip saddr A tcp dport P accept`
// with distinct values and a drop policy.
func manyRules(n int) string {
	var b strings.Builder
	b.WriteString("table ip f {\n\tchain in {\n\t\ttype filter hook input priority 0; policy drop;\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\t\tip saddr 10.%d.%d.%d tcp dport %d accept\n", i>>16&255, i>>8&255, i&255, 1000+i%60000)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// BenchmarkEval measures one packet through chains of 10 to 100,000 rules.
// The packet matches the last rule, the worst case for linear evaluation.
func BenchmarkEval(b *testing.B) {
	for _, n := range []int{10, 1000, 10_000, 100_000} {
		e := compile(b, manyRules(n))
		i := n - 1
		x := pk{src: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), dst: "10.0.0.2", proto: tcpP, dport: uint16(1000 + i%60000), hook: input}
		c := x.ctx()
		if d := e.Eval(c); d.Verdict != Accept {
			b.Fatalf("packet not accepted: %+v", d)
		}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for j := 0; j < b.N; j++ {
				e.Eval(c)
			}
		})
	}
}

// BenchmarkEvalPrefixSet: one rule against a 1,000,000-prefix interval set.
func BenchmarkEvalPrefixSet(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("table ip f {\n\tset s {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = {\n")
	for i := 0; i < 1_000_000; i++ {
		// /28 prefixes spread over 11.0.0.0 - 11.255.255.255 with gaps
		fmt.Fprintf(&sb, "11.%d.%d.%d/28,\n", i>>12&255, i>>4&255, (i&15)<<4)
	}
	sb.WriteString("\t\t}\n\t}\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr @s drop\n\t}\n}\n")
	rs, err := parser.Parse("big.nft", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		b.Fatal(err)
	}
	c := pk{src: "11.200.100.37", dst: "10.0.0.2", proto: tcpP, dport: 1, hook: input}.ctx()
	if d := e.Eval(c); d.Verdict != Drop {
		b.Fatalf("not in set: %+v", d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for j := 0; j < b.N; j++ {
		e.Eval(c)
	}
}
