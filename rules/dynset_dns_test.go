package rules

import (
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// dynAddrs is a Dynamic holding IPv4 addresses (as rules keys them).
type dynAddrs map[uint64]bool

func (d dynAddrs) Contains(hi, lo uint64) bool { return hi == 0 && d[lo] }

// TestSetDynamic: a set's run-time elements (a set filled from DNS
// answers) match like its static ones, also where the static elements
// carry state (a timeout that has passed, a set counter), and count on
// no static element; a map cannot get any.
func TestSetDynamic(t *testing.T) {
	now := int64(0)
	rs, err := parser.Parse("t.nft", []byte(`table ip f {
	set s { type ipv4_addr; flags timeout; counter; elements = { 10.0.0.1 timeout 1s } }
	map m { type ipv4_addr : verdict; elements = { 10.0.0.9 : accept } }
	chain in {
		type filter hook input priority 0; policy drop;
		ip saddr @s accept comment "set"
	}
}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(rs, Options{Now: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	d := dynAddrs{0x0a000002: true}
	if !e.SetDynamic(rs.Tables[0].Set("s"), d) || e.SetDynamic(rs.Tables[0].Set("m"), d) {
		t.Fatal("SetDynamic: a set takes run-time elements, a map does not")
	}
	p := func(src string) pk {
		return pk{src: src, dst: "10.9.9.9", proto: tcpP, sport: 1, dport: 2, hook: input}
	}
	expect(t, e, p("10.0.0.1"), Accept, "set")
	expect(t, e, p("10.0.0.2"), Accept, "set")
	expect(t, e, p("10.0.0.3"), Drop, "")
	now = 2e9 // the static element has expired; the run-time one lives on
	expect(t, e, p("10.0.0.1"), Drop, "")
	expect(t, e, p("10.0.0.2"), Accept, "set")
	if c := e.ElemCounters(rs.Tables[0].Set("s")); c[0].Packets.Load() != 1 {
		t.Errorf("the static element counted %d packets, want 1 (run-time hits count on none)", c[0].Packets.Load())
	}
}
