package parser

import (
	stdctx "context"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// parseBoth parses src with and without the element fast path and fails
// unless both give the same ruleset (values and positions) or the same
// errors.
func parseBoth(t *testing.T, src string) {
	t.Helper()
	fast, ferr := ParseContext(stdctx.Background(), "f.nft", []byte(src))
	slow, serr := ParseContext(stdctx.WithValue(stdctx.Background(), noFastElems{}, true), "f.nft", []byte(src))
	if fmt.Sprint(ferr) != fmt.Sprint(serr) {
		t.Fatalf("errors differ for\n%s\nfast: %v\ngeneral: %v", src, ferr, serr)
	}
	if ferr != nil {
		return
	}
	if !reflect.DeepEqual(fast.Tables, slow.Tables) {
		t.Fatalf("rulesets differ for\n%s", src)
	}
	if a, b := Print(fast), Print(slow); a != b {
		t.Fatalf("printed rulesets differ for\n%s\nfast:\n%s\ngeneral:\n%s", src, a, b)
	}
}

func setSrc(typ, flags, elems string) string {
	return "table inet t {\n  set s {\n    type " + typ + "\n" + flags + "    elements = {" + elems + "}\n  }\n" +
		"  chain c {\n    type filter hook input priority 0; policy accept;\n    ip saddr 1.2.3.4 counter\n  }\n}\n"
}

var fastElemCases = []struct{ typ, flags, elems string }{
	{"ipv4_addr", "", "10.0.0.1, 10.0.0.2,\n 10.0.0.3 "},
	{"ipv4_addr", "", "\n      10.0.0.1,\n      192.168.255.255,\n    "},
	{"ipv4_addr", "", "10.0.0.1,\t10.0.0.1, 0.0.0.0, 255.255.255.255,"},
	{"ipv4_addr", "", "010.0.0.1, 10.0.0.1"},
	{"ipv4_addr", "", "1.2.3.256, 10.0.0.1"},
	{"ipv4_addr", "", "1.2.3, 10.0.0.1"},
	{"ipv4_addr", "", "1.2.3.4.5, 10.0.0.1"},
	{"ipv4_addr", "", "16909060, 0x01020304"},
	{"ipv4_addr", "", "10.0.0.1 # comment\n, 10.0.0.2"},
	{"ipv4_addr", "", "10.0.0.1\n, 10.0.0.2"},
	{"ipv4_addr", "", "10.0.0.1 10.0.0.2"},
	{"ipv4_addr", "", "10.0.0.1,, 10.0.0.2"},
	{"ipv4_addr", "", "10.0.0.1, bad, 10.0.0.2, 1.2.3.4.5"},
	{"ipv4_addr", "", "10.0.0.1, ::1"},
	{"ipv4_addr", "", "10.0.0.1, *"},
	{"ipv4_addr", "", "10.0.0.1, $x"},
	{"ipv4_addr", "flags interval\n", "10.0.0.0/8, 11.0.0.1-11.0.0.9, 12.0.0.1 - 12.0.0.3, 13.0.0.0/33"},
	{"ipv4_addr", "flags interval\n", "10.0.0.9-10.0.0.1"},
	{"ipv4_addr", "flags interval\n", "10.0.0.0/8, 10.1.0.0/16"},
	{"ipv4_addr", "", "10.0.0.0/8"},
	{"ipv4_addr", "flags timeout\n", "10.0.0.1 timeout 10s, 10.0.0.2"},
	{"ipv4_addr", "", "10.0.0.1 comment \"x\", 10.0.0.2"},
	{"ipv4_addr", "counter\n", "10.0.0.1 counter, 10.0.0.2"},
	{"ipv4_addr", "", "10.0.0.1 : accept"},
	{"ipv4_addr", "", "10.0.0.1 . 80"},
	{"ipv4_addr", "", "{ 10.0.0.1, 10.0.0.2 }, 10.0.0.3"},
	{"ipv6_addr", "", "::1, 2001:db8::1, fe80::/10"},
	{"ipv6_addr", "flags interval\n", "::1, 2001:db8::1-2001:db8::9, fe80::/10, 2001:db8::/129"},
	{"ipv6_addr", "", "::1, 10.0.0.1, zz:1"},
	{"inet_service", "", "22, 80, ssh, http, 65535, 65536"},
	{"inet_service", "flags interval\n", "1-1024, 8080-8090"},
	{"inet_service", "", "22 | 80, (1|2)"},
	{"ipv4_addr . inet_service", "", "10.0.0.1 . 22, 10.0.0.2 . 80"},
	{"ipv4_addr . inet_service", "", "\n  10.0.0.1 . 22,\n  10.0.0.2\t.\t80 ,\n  10.0.0.3 .  ssh\n"},
	{"ipv4_addr . inet_service", "", "10.0.0.1 .22, 10.0.0.2. 80, 10.0.0.3.80"},
	{"ipv4_addr . inet_service", "", "10.0.0.1 . 22 . 1, 10.0.0.2"},
	{"ipv4_addr . inet_service", "", "10.0.0.1\n. 22, 10.0.0.2 .\n80"},
	{"ipv4_addr . inet_service", "", "10.0.0.1 . 99999, 300.0.0.1 . 22"},
	{"ipv4_addr . inet_service", "", "10.0.0.0/8 . 22, 10.0.0.1-10.0.0.9 . 1-1024"},
	{"ipv4_addr . inet_service", "flags interval\n", "10.0.0.0/8 . 22, 10.0.0.1-10.0.0.9 . 1-1024"},
	{"ipv4_addr . inet_service", "", "10.0.0.1 . 22 timeout 1s, 10.0.0.2 . 23"},
	{"ipv4_addr . ipv6_addr . mark", "", "10.0.0.1 . ::1 . 7, 10.0.0.2 . 2001:db8::1 . 0x10"},
	{"ipv4_addr . ipv4_addr", "", "1.2.3.4 . 01.2.3.4, 1.2.3.4 . 5.6.7.8"},
	{"ether_addr", "", "00:11:22:33:44:55, 66:77:88:99:aa:bb"},
	{"mark", "", "1, 0x10, 42"},
	{"ipv4_addr", "", "10.0.0.1,"},
	{"ipv4_addr", "", "10.0.0.1"},
	{"ipv4_addr", "", ""},
}

func TestFastElemsMatchGeneralPath(t *testing.T) {
	for _, c := range fastElemCases {
		parseBoth(t, setSrc(c.typ, c.flags, c.elems))
	}
	// an unterminated list, and an anonymous set in a rule
	parseBoth(t, "table ip t {\n set s {\n type ipv4_addr\n elements = { 10.0.0.1,\n 10.0.0.2,\n")
	parseBoth(t, "table ip t {\n chain c {\n ip saddr { 10.0.0.1, 10.0.0.2, 300.0.0.1 } drop\n ip daddr { 10.0.0.1 , 1.1.1.1 } accept\n }\n}\n")
}

func TestPlainIPv4(t *testing.T) {
	for _, w := range []string{"0.0.0.0", "1.2.3.4", "255.255.255.255", "10.20.30.40", "01.2.3.4", "1.2.3.04", "256.1.1.1",
		"1.2.3", "1.2.3.4.", ".1.2.3", "1..2.3", "1.2.3.4a", "1000.1.1.1", "1.2.3.0000", ""} {
		a, ok := plainIPv4(w)
		lo, _, err := TypeIPv4.ParseLiteral(w, false)
		if ok && (err != nil || string(lo) != string(a[:])) {
			t.Errorf("plainIPv4(%q) = %v, general path %v %v", w, a, lo, err)
		}
		want := w != "" && strings.Count(w, ".") == 3 && err == nil
		if ok != want && !strings.Contains(w, "0") {
			t.Errorf("plainIPv4(%q) ok = %v", w, ok)
		}
	}
}

// FuzzFastElems: any element list gives the same ruleset or the same
// errors with and without the fast path.
func FuzzFastElems(f *testing.F) {
	for _, c := range fastElemCases {
		f.Add(c.typ, c.flags, c.elems)
	}
	f.Fuzz(func(t *testing.T, typ, flags, elems string) {
		if len(elems) > 4096 || strings.ContainsAny(typ+flags, "{}") {
			return
		}
		parseBoth(t, setSrc(typ, flags, elems))
	})
}

// TestAppendIPv4 checks the printer's IPv4 shortcut against FormatElem.
func TestAppendIPv4(t *testing.T) {
	for _, a := range [][]byte{{0, 0, 0, 0}, {10, 0, 0, 1}, {255, 255, 255, 255}, {1, 20, 200, 9}} {
		e := Elem{Lo: a, Hi: a}
		if !plainIPv4Elem([]*Type{TypeIPv4}, &e, nil) {
			t.Fatalf("%v is not plain", a)
		}
		if got, want := string(appendIPv4(nil, a)), FormatElem([]*Type{TypeIPv4}, &e, nil); got != want {
			t.Errorf("appendIPv4(%v) = %q, FormatElem %q", a, got, want)
		}
	}
	e := Elem{Lo: []byte{10, 0, 0, 1}, Hi: []byte{10, 0, 0, 1}, Timeout: 5}
	if plainIPv4Elem([]*Type{TypeIPv4}, &e, nil) {
		t.Error("an element with a timeout is not plain")
	}
}

// TestFastElemTaken: the plain forms do take the fast path (the
// equivalence tests above pass whichever path runs).
func TestFastElemTaken(t *testing.T) {
	cases := []struct {
		key  []*Type
		src  string
		want bool
	}{
		{[]*Type{TypeIPv4}, " 10.0.0.1,", true},
		{[]*Type{TypeIPv4}, "\n   10.0.0.0/8 }", true},
		{[]*Type{TypeIPv6}, " 2001:db8::1,", true},
		{[]*Type{TypeIPv4, TypeService}, " 10.0.0.1 . 80,", true},
		{[]*Type{TypeIPv4, TypeService}, " 10.0.0.1\t.\t1-1024 }", true},
		{[]*Type{TypeIPv4}, " 10.0.0.1 # c\n,", false},
		{[]*Type{TypeIPv4}, " $a,", false},
		{[]*Type{TypeIPv4, TypeService}, " 10.0.0.1 .80,", false},
		{[]*Type{TypeIPv4}, " 10.0.0.1 counter,", false},
	}
	for _, c := range cases {
		p := &parser{ctx: stdctx.Background(), lex: newLexer("f.nft", []byte(c.src))}
		var slab elemSlab
		if _, ok := p.fastElem(c.key, &slab); ok != c.want {
			t.Errorf("fastElem(%q) = %v, want %v", c.src, ok, c.want)
		}
		if !c.want && (p.lex.off != 0 || p.lex.line != 1 || p.lex.col != 1) {
			t.Errorf("fastElem(%q) moved the lexer on a fallback", c.src)
		}
	}
}
