package parser

import "testing"

func keysOf(t *testing.T, src string) []RuleKey {
	t.Helper()
	rs, err := Parse("k.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ReferenceKeys(rs)
	var out []RuleKey
	for _, tb := range rs.Tables {
		for _, c := range tb.Chains {
			for _, r := range c.Rules {
				out = append(out, r.Key)
			}
		}
	}
	return out
}

func TestReferenceKeys(t *testing.T) {
	const head = "table ip t {\n set s { type ipv4_addr; elements = { 10.0.0.1 } }\n chain c {\n type filter hook input priority 0;\n"
	a := keysOf(t, head+"  tcp dport 22 accept\n  ip saddr @s drop\n  tcp dport 22 accept\n }\n}\n")
	b := keysOf(t, head+"  tcp dport 23 accept\n  ip saddr @s drop\n  tcp dport 22 accept\n }\n}\n")
	if a[0] == b[0] || a[1] != b[1] || a[2] != b[2] {
		t.Fatalf("a rule edit changes its key only: %v %v", a, b)
	}
	if a[0] != a[2] || a[0].IsZero() {
		t.Fatalf("equal rules in one chain share a non-zero key: %v", a)
	}
	c := keysOf(t, "table ip t {\n set s { type ipv4_addr; elements = { 10.0.0.2 } }\n chain c {\n type filter hook input priority 0;\n  tcp dport 22 accept\n  ip saddr @s drop\n  tcp dport 22 accept\n }\n}\n")
	if c[0] == a[0] || c[1] == a[1] {
		t.Fatalf("a changed declaration changes every key: %v %v", a, c)
	}
	d := keysOf(t, "table ip t {\n chain c {\n  jump { tcp dport 22 accept; }\n }\n}\n")
	for _, k := range d {
		if !k.IsZero() {
			t.Fatalf("bound chains keep the zero key: %v", d)
		}
	}
}
