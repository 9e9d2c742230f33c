package parser

import (
	"strings"
	"testing"
)

// TestIdentifierKeywords: where nft's grammar wants an identifier (a bare
// STRING token: names declared or referred to, jump targets, define
// names), nft 1.0.6 refuses a word its scanner reads as a keyword and a
// quoted string; `counter name` / `quota name` take a quoted name but no
// bare keyword. Each case's verdict is nft's (nft -c, see the corpus's
// IDENTIFIERS section and rulesets/*keyword*).
func TestIdentifierKeywords(t *testing.T) {
	const chainX = "table inet t {\n\tchain x {\n\t}\n\tchain c {\n\t\t%s\n\t}\n}\n"
	const objs = "table inet t {\n\tcounter c1 {\n\t}\n\tquota q1 {\n\t\t100 bytes\n\t}\n\tset ll {\n\t\ttype ipv4_addr\n\t}\n\tchain c {\n\t\t%s\n\t}\n}\n"
	for _, c := range []struct{ src, want string }{
		{"table inet t {\n\tchain fwd {\n\t}\n}\n", "t.nft:2:8: error: `fwd` is an nft keyword and cannot be a chain name"},
		{"table inet t {\n\tchain \"x\" {\n\t}\n}\n", "t.nft:2:8: error: found a quoted chain name"},
		{strings.Replace(chainX, "%s", "jump x", 1), ""},
		{strings.Replace(chainX, "%s", "jump \"x\"", 1), "t.nft:5:8: error: found a quoted chain name"},
		{strings.Replace(chainX, "%s", "goto dup", 1), "t.nft:5:8: error: `dup` is an nft keyword and cannot be a chain name"},
		{strings.Replace(chainX, "%s", "ip saddr vmap { 10.0.0.1 : jump \"x\" }", 1), "t.nft:5:35: error: found a quoted chain name"},
		{"define fwd = 22\n", "t.nft:1:8: error: `fwd` is an nft keyword and cannot be a variable name"},
		{"define \"p\" = 22\n", "t.nft:1:8: error: found a quoted variable name"},
		{"table inet t {\n\tcounter packets {\n\t}\n}\n", "t.nft:2:10: error: `packets` is an nft keyword and cannot be a counter name"},
		{"table inet t {\n\tquota used {\n\t\t1 bytes\n\t}\n}\n", "t.nft:2:8: error: `used` is an nft keyword and cannot be a quota name"},
		{"table inet t {\n\tcounter \"c\" {\n\t}\n}\n", "t.nft:2:10: error: found a quoted counter name"},
		{"table inet t {\n\tcounter used {\n\t}\n}\n", ""}, // a quota keyword only
		{strings.Replace(objs, "%s", "counter name \"c1\" quota name \"q1\"", 1), ""},
		{strings.Replace(objs, "%s", "counter name c1", 1), ""},
		{strings.Replace(objs, "%s", "counter name bytes", 1), "t.nft:11:16: error: `bytes` is an nft keyword here; quote it: \"bytes\""},
		{strings.Replace(objs, "%s", "ip saddr @ll", 1), "t.nft:11:12: error: `@ll`: `ll` is an nft keyword after `@`"},
		{strings.Replace(objs, "%s", "ip saddr vmap @nh", 1), "t.nft:11:17: error: `@nh`: `nh` is an nft keyword after `@`"},
		{"add table inet t\nadd set inet t s { type ipv4_addr; }\nadd element inet t \"s\" { 10.0.0.1 }\n", "t.nft:3:20: error: found a quoted set name"},
		{"add table inet t\nadd chain inet t c\nadd rule inet t \"c\" accept\n", "t.nft:3:17: error: found a quoted chain name"},
		{"table ip t {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t\tmeter flow { ip saddr limit rate 10/second }\n\t}\n}\n", "t.nft:4:9: error: `flow` is an nft keyword and cannot be a meter name"},
	} {
		_, err := Parse("t.nft", []byte(c.src))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.src, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}
