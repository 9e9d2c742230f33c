package hooks

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/rules"

	"net/netip"
)

// TestTraceFilterFields: trace filters take every field nfd evaluates
// (header fields, options, operators) and refuse kernel-only ones plainly.
func TestTraceFilterFields(t *testing.T) {
	o := pktgen.Opts{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		Proto: packet.ProtoTCP, Sport: 1000, Dport: 22, TCPFlags: packet.TCPSyn}
	var p packet.Parsed
	p.Decode(pktgen.Build(o))
	var c rules.Ctx
	c.Reset(&p, parser.HookInput)
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{"tcp dport 22", true},
		{"tcp dport 22 ip version 4 ip hdrlength 5", true},
		{"tcp flags ! ack", true},
		{"tcp doff 5 tcp dport 23", false},
		{"ip dscp cs1", false},
	} {
		f, err := compileFilter(tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		if got := f(&c); got != tc.want {
			t.Errorf("%s: got %v", tc.filter, got)
		}
	}
	if _, err := compileFilter("fib daddr type local"); err == nil || !strings.Contains(err.Error(), "known only to the kernel") {
		t.Errorf("kernel-only filter: %v", err)
	}
}
