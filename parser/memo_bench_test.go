package parser

import (
	stdctx "context"
	"fmt"
	"strings"
	"testing"
)

// memoFile is MEMO.md's generated ruleset: n rules `ip saddr 10.x.y.z tcp
// dport P counter drop` in one base chain. With change, rule n/2 has port
// 65000; with insert, a rule is added before it.
func memoFile(n int, change, insert bool) []byte {
	return memoFileSet(n, change, insert, -1)
}

// memoFileSet is memoFile with, for elem >= 0, a set of 1000 addresses
// declared before the chain (element elem changed when not 0).
func memoFileSet(n int, change, insert bool, elem int) []byte {
	var b strings.Builder
	b.WriteString("table ip t {\n")
	if elem >= 0 {
		b.WriteString("  set block {\n    type ipv4_addr\n    elements = {\n")
		for i := 0; i < 1000; i++ {
			if i > 0 && i == elem {
				fmt.Fprintf(&b, "      192.168.%d.%d,\n", i/256, i%256)
				continue
			}
			fmt.Fprintf(&b, "      172.16.%d.%d,\n", i/256, i%256)
		}
		b.WriteString("    }\n  }\n")
	}
	b.WriteString("  chain input {\n    type filter hook input priority 0; policy accept;\n")
	for i := 0; i < n; i++ {
		p := 1 + i%60000
		if change && i == n/2 {
			p = 65000
		}
		if insert && i == n/2 {
			b.WriteString("    ip saddr 192.168.0.1 tcp dport 65001 counter accept\n")
		}
		fmt.Fprintf(&b, "    ip saddr 10.%d.%d.%d tcp dport %d counter drop\n", (i/65536)%256, (i/256)%256, i%256, p)
	}
	b.WriteString("  }\n}\n")
	return []byte(b.String())
}

// BenchmarkReparse: a full parse of the new file against ParseWith of it
// with the old file's parse as Prev, for one rule changed and one rule
// inserted in the middle. element: the file has a 1,000-element set
// before the chain, and one element changes (every key changes, every
// rule's statements are reused).
func BenchmarkReparse(b *testing.B) {
	ctx := stdctx.Background()
	for _, n := range []int{1_000, 10_000, 100_000} {
		old := memoFile(n, false, false)
		prev, err := Parse("r.nft", old)
		if err != nil {
			b.Fatal(err)
		}
		for _, tc := range []struct {
			name           string
			change, insert bool
			reuse          bool
		}{
			{"full", true, false, false},
			{"change", true, false, true},
			{"insert", false, true, true},
			{"element", false, false, true},
		} {
			src := memoFile(n, tc.change, tc.insert)
			if tc.name == "element" {
				src = memoFileSet(n, false, false, 500)
			}
			b.Run(fmt.Sprintf("rules=%d/%s", n, tc.name), func(b *testing.B) {
				opts := ParseOptions{}
				if tc.reuse {
					opts.Prev = prev
				}
				if tc.name == "element" {
					var err error
					if opts.Prev, err = Parse("r.nft", memoFileSet(n, false, false, 0)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := ParseWith(ctx, "r.nft", src, opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLint: Lint of the 10^5-rule file (it runs on every load,
// reused rules or not; compare with BenchmarkReparse's change case).
func BenchmarkLint(b *testing.B) {
	rs, err := Parse("r.nft", memoFile(100_000, false, false))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Lint(rs)
	}
}
