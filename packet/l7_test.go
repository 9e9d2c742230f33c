package packet

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
)

func TestTLSServerName(t *testing.T) {
	ch := pktgen.ClientHello("WWW.Example.COM")
	if got := string(TLSServerName(ch)); got != "WWW.Example.COM" {
		t.Fatalf("got %q", got)
	}
	// Cut anywhere inside the SNI: no value, never a wrong one.
	for n := 0; n < len(ch); n++ {
		if got := TLSServerName(ch[:n]); got != nil {
			t.Fatalf("prefix %d gave %q", n, got)
		}
	}
	// A length that lies (server name longer than the extension).
	bad := append([]byte(nil), ch...)
	bad[len(bad)-len("WWW.Example.COM")-1] = 200
	if got := TLSServerName(bad); got != nil {
		t.Fatalf("lying length gave %q", got)
	}
	if TLSServerName([]byte("GET / HTTP/1.1\r\n")) != nil {
		t.Fatal("http as tls")
	}
}

func TestHTTPHost(t *testing.T) {
	cases := map[string]string{
		"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n":                            "example.org",
		"POST /x HTTP/1.1\r\nUser-Agent: a\r\nhOsT:   Foo.example:8080 \r\n\r\n": "Foo.example",
		"GET / HTTP/1.1\r\nUser-Agent: a\r\n\r\nHost: late.example\r\n":          "",
		"GET / HTTP/1.1\r\nHost: example.org":                                    "", // line not complete
		"HELLO\r\nHost: x\r\n\r\n":                                               "",
		"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n":                               "",
	}
	for in, want := range cases {
		if got := string(HTTPHost([]byte(in))); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func TestDNSQueryName(t *testing.T) {
	var buf [MaxNameLen + 2]byte
	q := pktgen.DNSQuery(1, "WwW.Example.ORG")
	if got := string(DNSQueryName(q, &buf)); got != "www.example.org" {
		t.Fatalf("got %q", got)
	}
	// A compression loop: the name points at itself.
	loop := append([]byte(nil), q[:12]...)
	loop = append(loop, 0xc0, 12, 0, 1, 0, 1)
	if got := DNSQueryName(loop, &buf); got != nil {
		t.Fatalf("loop gave %q", got)
	}
	// A response is not a query.
	resp := append([]byte(nil), q...)
	resp[2] |= 0x80
	if DNSQueryName(resp, &buf) != nil {
		t.Fatal("response taken as query")
	}
	// Over-long name.
	long := pktgen.DNSQuery(1, "a23456789012345678901234567890123456789012345678901234567890123.b23456789012345678901234567890123456789012345678901234567890123.c23456789012345678901234567890123456789012345678901234567890123.d23456789012345678901234567890123456789012345678901234567890123")
	if DNSQueryName(long, &buf) != nil {
		t.Fatal("name over 253 bytes accepted")
	}
}

func TestHostMatch(t *testing.T) {
	cases := []struct {
		pat, name string
		want      bool
	}{
		{"example.com", "EXAMPLE.com", true},
		{"example.com", "www.example.com", false},
		{"*.example.com", "www.Example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "badexample.com", false},
		{"*.example.com", ".example.com", false},
	}
	for _, c := range cases {
		if got := HostMatch(c.pat, []byte(c.name)); got != c.want {
			t.Errorf("HostMatch(%q, %q) = %v", c.pat, c.name, got)
		}
	}
}

// TestTLSHelloRecordLen: the record length of a ClientHello, from its
// first bytes alone; 0 for anything else or a record over the bound.
func TestTLSHelloRecordLen(t *testing.T) {
	ch := pktgen.ClientHelloPadded("x.example", 1500)
	if got := TLSHelloRecordLen(ch[:100]); got != len(ch) {
		t.Errorf("first 100 bytes: %d, want %d", got, len(ch))
	}
	if TLSServerName(ch[:1400]) != nil || string(TLSServerName(ch)) != "x.example" {
		t.Errorf("the padded hello names its server only whole")
	}
	big := pktgen.ClientHelloPadded("x.example", MaxHelloRecord)
	for name, b := range map[string][]byte{
		"short": ch[:5], "not handshake": append([]byte{23}, ch[1:100]...),
		"server hello": append(append([]byte{}, ch[:5]...), 2), "over the bound": big[:100],
	} {
		if got := TLSHelloRecordLen(b); got != 0 {
			t.Errorf("%s: %d, want 0", name, got)
		}
	}
}

// TestHTTPRequestPending: a request head without its blank line yet is
// pending; a whole head, a non-request, or one at the bound is not.
func TestHTTPRequestPending(t *testing.T) {
	for in, want := range map[string]bool{
		"GET /" + strings.Repeat("a", 1500):          true,
		"POST /x HTTP/1.1\r\nHost: a\r\n":            true,
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n":          false,
		"SSH-2.0-OpenSSH_9.6\r\n":                    false,
		"GET /" + strings.Repeat("a", MaxHTTPHeader): false,
	} {
		if got := HTTPRequestPending([]byte(in)); got != want {
			t.Errorf("%.40q: %v, want %v", in, got, want)
		}
	}
}
