package parser

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// rawRuleset names fields no other iteration names: raw payloads at new
// offsets, a hash and a numgen modulus.
func rawRuleset(i int) string {
	return fmt.Sprintf(`table inet t {
	chain c {
		type filter hook input priority 0; policy accept;
		@th,%d,16 0x1234 accept
		@nh,%d,8 7 drop
		jhash ip saddr mod %d 3 accept
		numgen inc mod %d 0 accept
	}
}
`, i%60000, i%60000+1, i+2, i+2)
}

// waitDynamicFields collects until at most n dynamic fields remain.
func waitDynamicFields(n int) int {
	for i := 0; i < 100 && DynamicFields() > n; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	return DynamicFields()
}

// TestFieldTableBounded: 10,000 successive parses, each naming four fields
// no other names (40,000 in all, ten times the table), never fail; a
// ruleset kept alive keeps its fields; the table shrinks to what the live
// rulesets use once the others are collected.
func TestFieldTableBounded(t *testing.T) {
	kept, err := Parse("kept.nft", []byte(rawRuleset(60001)))
	if err != nil {
		t.Fatal(err)
	}
	keptKey := kept.Tables[0].Chains[0].Rules[0].Stmts[0].(*Match).Keys[0]
	base := waitDynamicFields(4)
	for i := 0; i < 10000; i++ {
		rs, err := Parse("reload.nft", []byte(rawRuleset(i)))
		if err != nil {
			t.Fatalf("parse %d: %v", i, err)
		}
		m := rs.Tables[0].Chains[0].Rules[0].Stmts[0].(*Match)
		if got, want := m.Keys[0].String(), fmt.Sprintf("@th,%d,16", i%60000); got != want {
			t.Fatalf("parse %d: field %q, want %q", i, got, want)
		}
		if n := DynamicFields(); n > maxFields {
			t.Fatalf("parse %d: %d dynamic fields", i, n)
		}
	}
	if got := keptKey.String(); got != "@th,1,16" {
		t.Fatalf("a live ruleset's field became %q", got)
	}
	if fi := keptKey.Info(); fi.Base != BaseTH || fi.Off != 1 || fi.Len != 16 {
		t.Fatalf("a live ruleset's field became %+v", *fi)
	}
	if n := waitDynamicFields(base); n > base {
		t.Fatalf("%d dynamic fields remain after collection, want %d (the kept ruleset's)", n, base)
	}
	if want := "jhash ip saddr mod 60003"; kept.Tables[0].Chains[0].Rules[2].Stmts[0].(*Match).Keys[0].String() != want {
		t.Fatalf("kept hash field lost its name")
	}
	runtime.KeepAlive(kept)
}

// TestFieldTableFullRefused: one ruleset naming more fields than the
// table holds is refused with a clear error, and the table recovers.
func TestFieldTableFullRefused(t *testing.T) {
	var b []byte
	b = append(b, "table ip t {\n chain c {\n"...)
	for i := 0; i < maxFields; i++ {
		b = fmt.Appendf(b, "  @th,%d,8 1\n", i)
	}
	b = append(b, " }\n}\n"...)
	_, err := Parse("big.nft", b)
	if err == nil {
		t.Fatal("a ruleset with 4096 raw fields parsed")
	}
	el := err.(ErrorList)
	if el[0].Pos.Line == 0 || !contains(el[0].Msg, "too many distinct fields") {
		t.Fatalf("error: %v", err)
	}
	waitDynamicFields(0)
	if _, err := Parse("after.nft", []byte(rawRuleset(7))); err != nil {
		t.Fatalf("after a refused ruleset: %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
