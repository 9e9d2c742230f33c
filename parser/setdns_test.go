package parser

import (
	"strings"
	"testing"
)

func TestSetDNS(t *testing.T) {
	src := `table inet f {
	set v4 {
		type ipv4_addr
		flags timeout
		dns names { "Deb.Debian.org.", "*.debian.org", "deb.debian.org" }
		dns resolvers { 10.0.0.1, 2001:db8::53 }
	}
	set v6 { type ipv6_addr; flags timeout; dns names { "a.example" } }
	chain c { ip daddr @v4 accept; }
}
`
	rs, err := Parse("t.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := rs.Tables[0].Set("v4").DNS
	if d == nil || strings.Join(d.Names, " ") != "deb.debian.org *.debian.org" || len(d.Resolvers) != 2 || d.Resolvers[1].String() != "2001:db8::53" {
		t.Fatalf("dns option %+v", d)
	}
	// the printed form parses back to the same
	out := Print(rs)
	rs2, err := Parse("p.nft", []byte(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if Print(rs2) != out || !rs2.Tables[0].Set("v4").DNS.Equal(d) {
		t.Errorf("print round trip differs:\n%s", Print(rs2))
	}
	if !strings.Contains(out, `dns names { "deb.debian.org", "*.debian.org" }`) {
		t.Errorf("printed:\n%s", out)
	}
}

func TestSetDNSErrors(t *testing.T) {
	for _, c := range []struct{ decl, want string }{
		{`type ipv4_addr; dns names { "a.example" }`, "1:38: error: set `s`: `dns names` needs `flags timeout`"},
		{`type inet_service; flags timeout; dns names { "a.example" }`, "needs `type ipv4_addr` or `type ipv6_addr`, not inet_service"},
		{`type ipv4_addr; flags timeout,interval; dns names { "a.example" }`, "cannot fill an interval or constant set"},
		{`type ipv4_addr; flags timeout; dns resolvers { 10.0.0.1 }`, "`dns resolvers` without `dns names` fills nothing"},
		{`type ipv4_addr; flags timeout; dns names { "a..example" }`, "a..example"},
		{`type ipv4_addr; flags timeout; dns resolvers { 10.0.0.256 }; dns names { "a" }`, "expected a resolver's IPv4 or IPv6 address"},
		{`type ipv4_addr; flags timeout; dns name { "a" }`, "`names` or `resolvers`"},
	} {
		_, err := Parse("t.nft", []byte("table ip f { set s { "+c.decl+" } }\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.decl, err, c.want)
		}
	}
}
