package parser

import (
	"fmt"
	"strings"
	"testing"
)

// rulesFile is a table with n rules of the realistic form
// `ip saddr A tcp dport P accept`, all distinct.
func rulesFile(n int) []byte {
	var b strings.Builder
	b.WriteString("table inet big {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\t\tip saddr 10.%d.%d.%d tcp dport %d accept\n", i>>16&255, i>>8&255, i&255, 1+i%65535)
	}
	b.WriteString("\t}\n}\n")
	return []byte(b.String())
}

// setFile is a table with one interval set of n distinct /32 and /24 elements.
func setFile(n int) []byte {
	var b strings.Builder
	b.WriteString("table inet big {\n\tset s {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = {\n")
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "\t\t\t11.%d.%d.%d,\n", i>>16&255, i>>8&255, i&255)
		} else {
			fmt.Fprintf(&b, "\t\t\t%d.%d.%d.0/24,\n", 12+i>>24&63, i>>16&255, i>>8&255)
		}
	}
	b.WriteString("\t\t}\n\t}\n}\n")
	return []byte(b.String())
}

func benchParse(b *testing.B, src []byte, units int, unit string) {
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse("bench.nft", src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(units), "ns/"+unit)
}

func BenchmarkParseRules(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		src := rulesFile(n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) { benchParse(b, src, n, "rule") })
	}
}

func BenchmarkParseSetElements(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		src := setFile(n)
		b.Run(fmt.Sprintf("elements=%d", n), func(b *testing.B) { benchParse(b, src, n, "element") })
	}
}

// BenchmarkParseRawFields: ns per rule for a file of 1,000 raw payload
// rules. same: every parse names the same fields (they are found in the
// table); new: every parse names 1,000 fields no earlier parse named, so
// the table fills and the dropped rulesets' fields are collected and
// reused (fieldlife.go).
func BenchmarkParseRawFields(b *testing.B) {
	const n = 1000
	raw := func(gen int) []byte {
		var s strings.Builder
		s.WriteString("table inet big {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&s, "\t\t@th,%d,16 %d accept\n", (gen*n+i)%60000, i)
		}
		s.WriteString("\t}\n}\n")
		return []byte(s.String())
	}
	b.Run("same", func(b *testing.B) { benchParse(b, raw(0), n, "rule") })
	b.Run("new", func(b *testing.B) {
		srcs := make([][]byte, 60)
		for g := range srcs {
			srcs[g] = raw(g)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := Parse("bench.nft", srcs[i%len(srcs)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/rule")
	})
}
