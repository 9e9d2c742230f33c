package parser_test

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// TestIifResolvedAtLoad: `iif`/`oif` names become interface indexes when
// the file is parsed, as nft's ifindex_type_parse does; a name no
// interface has is refused at its position; numbers are indexes; the
// printer names an index as the interface that has it now.
func TestIifResolvedAtLoad(t *testing.T) {
	defer parser.SetInterfaces(parser.StaticInterfaces{"lo": 1, "wan0": 7})()
	src := "table inet t {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t\tiif wan0 oif { lo, 99 } accept\n\t}\n}\n"
	rs, err := parser.Parse("t.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m := rs.Tables[0].Chains[0].Rules[0].Stmts[0].(*parser.Match)
	if got := parser.Uint(m.Val.Elems[0].Lo); got != 7 {
		t.Fatalf("iif wan0 holds %d, want index 7", got)
	}
	if out := parser.FormatRule(rs.Tables[0].Chains[0].Rules[0]); !strings.Contains(out, `iif "wan0" oif { "lo", 99 } accept`) {
		t.Fatalf("printed:\n%s", out)
	}
	_, err = parser.Parse("t.nft", []byte(strings.Replace(src, "iif wan0", "iif wan1", 1)))
	if err == nil || !strings.Contains(err.Error(), "t.nft:4:7: error: interface `wan1` does not exist") {
		t.Fatalf("missing interface: %v", err)
	}
}

// TestDupDeviceResolvedAtLoad: nft resolves `dup ... device "NAME"` to an
// interface index when it evaluates the rule (stmt_evaluate_dup) and
// refuses a missing interface; so does nfd, at the name's position, and
// `nfd check --interface` (WithAssumed) makes one exist.
func TestDupDeviceResolvedAtLoad(t *testing.T) {
	src := "table ip t {\n\tchain c {\n\t\ttype filter hook prerouting priority 0;\n\t\tdup to 10.2.3.4 device \"eth9\"\n\t}\n}\n"
	restore := parser.SetInterfaces(parser.StaticInterfaces{"lo": 1, "eth9": 3})
	if _, err := parser.Parse("t.nft", []byte(src)); err != nil {
		t.Fatal(err)
	}
	restore()
	restore = parser.SetInterfaces(parser.StaticInterfaces{"lo": 1})
	defer restore()
	_, err := parser.Parse("t.nft", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "t.nft:4:26: error: interface `eth9` does not exist") {
		t.Fatalf("missing dup device: %v", err)
	}
	defer parser.SetInterfaces(parser.WithAssumed(parser.StaticInterfaces{"lo": 1}, []string{"eth9"}))()
	if _, err := parser.Parse("t.nft", []byte(src)); err != nil {
		t.Fatalf("with --interface eth9: %v", err)
	}
}
