package rulegen

import (
	"fmt"
	"strings"
)

// ScaleChain is the ruleset the scale benchmarks share (bench/scale.sh
// writes the same with awk): n rules `ip saddr 10.x.y.z tcp dport P
// counter drop` in one base chain; with changed, rule n/2's port is 65000
// (the one-rule edit of a reload).
func ScaleChain(n int, changed bool) string {
	var b strings.Builder
	b.WriteString("table ip t {\n  chain input {\n    type filter hook input priority 0; policy accept;\n")
	for i := 0; i < n; i++ {
		p := 1 + i%60000
		if changed && i == n/2 {
			p = 65000
		}
		fmt.Fprintf(&b, "    ip saddr 10.%d.%d.%d tcp dport %d counter drop\n", i/65536%256, i/256%256, i%256, p)
	}
	b.WriteString("  }\n}\n")
	return b.String()
}
