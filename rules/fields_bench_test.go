package rules

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// The generic loaders (fieldload.go) on the packet path: no allocation,
// and their cost per rule.

// genericRules is an inet prerouting chain of rules reading fields through
// every generic locator: network and transport payloads (aligned and
// not), IPv6 extension headers, TCP and IPv4 options, SCTP chunks, ICMP
// fields with a type dependency, with ==, ranges, sets and masks.
const genericRules = `table inet g {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ip dscp != cs1 counter
		ip6 flowlabel > 1000 counter
		tcp sequence & 0xff > 7 counter
		@th,40,16 != { 1, 2, 3 } counter
		@nh,96,32 != 1 counter
		tcp option maxseg size > 0 counter
		tcp option sack-perm exists counter
		tcp option sack1 left > 5 counter
		ip option rr exists counter
		ip option ra value 0 counter
		sctp chunk data tsn > 5 counter
		sctp chunk init missing counter
		hbh nexthdr tcp counter
		frag more-fragments 1 counter
		exthdr dst exists counter
		mh type 1 counter
		icmp id != 5 counter
		icmpv6 mtu != 1280 counter
		udplite csumcov 8 counter
		dccp type < 10 counter
	}
}
`

func genericEngine(tb testing.TB) *Engine {
	rs, err := parser.Parse("g.nft", []byte(genericRules))
	if err != nil {
		tb.Fatalf("%v", err)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// TestGenericLoadersAllocs: evaluating rules on every generic field over
// the oracle's packet mix allocates nothing.
func TestGenericLoadersAllocs(t *testing.T) {
	e := genericEngine(t)
	pkts, _ := oraclePackets(rand.New(rand.NewSource(1)), 200)
	ps := make([]packet.Parsed, len(pkts))
	for i, b := range pkts {
		ps[i].Decode(b)
	}
	c := &Ctx{}
	i := 0
	n := testing.AllocsPerRun(2000, func() {
		c.Reset(&ps[i%len(ps)], parser.HookPrerouting)
		c.SetIif("k0")
		e.Eval(c)
		i++
	})
	if n != 0 {
		t.Fatalf("generic loaders allocate %v times per packet", n)
	}
	// Every loader has run on a packet that has its field.
	for r, info := range e.Rules {
		if info := e.StmtCounter(info, 1); info.Packets.Load() == 0 {
			t.Errorf("rule %d (%s) never matched the packet mix", r, strings.Split(genericRules, "\n")[r+3])
		}
	}
}

// BenchmarkGenericLoaders: ns per packet for the 20 generic-field rules
// above (each rule's load, locate and compare), over the oracle's mix.
func BenchmarkGenericLoaders(b *testing.B) {
	e := genericEngine(b)
	pkts, _ := oraclePackets(rand.New(rand.NewSource(1)), 256)
	ps := make([]packet.Parsed, len(pkts))
	for i, p := range pkts {
		ps[i].Decode(p)
	}
	c := &Ctx{}
	b.ReportAllocs()
	b.ResetTimer()
	for j := 0; j < b.N; j++ {
		c.Reset(&ps[j&255], parser.HookPrerouting)
		e.Eval(c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20, "ns/rule")
}
