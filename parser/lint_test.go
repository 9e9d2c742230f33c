package parser

import (
	"strings"
	"testing"
)

// TestLint: a name match after an established accept (plain or as a
// vmap) is flagged, one before it, a DNS name after it, or one in another
// chain is not.
func TestLint(t *testing.T) {
	rs, err := Parse("l.nft", []byte(`table inet f {
	chain a {
		type filter hook forward priority 0; policy drop;
		tcp dport 443 tls sni "ok.example" accept
		ct state established,related accept
		tcp dport 443 tls sni "late.example" drop
		tcp dport 80 http host "late.example" drop
		udp dport 53 dns qname "fine.example" drop
	}
	chain b {
		type filter hook input priority 0; policy drop;
		ct state new accept
		tcp dport 443 tls sni "ok.example" accept
	}
	chain c {
		type filter hook output priority 0; policy drop;
		ct state vmap { established : accept, related : accept, invalid : drop }
		tcp dport 443 tls sni "late.example" drop
	}
}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range Lint(rs) {
		got = append(got, w.String())
	}
	want := []string{
		"l.nft:6:3: warning: this rule never sees a ClientHello (`tls sni`): it travels on an established connection, and the rule at line 5 accepts those first; move this rule above it",
		"l.nft:7:3: warning: this rule never sees an HTTP request (`http host`): it travels on an established connection, and the rule at line 5 accepts those first; move this rule above it",
		"l.nft:18:3: warning: this rule never sees a ClientHello (`tls sni`): it travels on an established connection, and the rule at line 17 accepts those first; move this rule above it",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
