package dnsfill

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/parser"
)

const rulesSrc = `table inet f {
	set v4 { type ipv4_addr; flags timeout; dns names { "*.debian.org" }; }
	set v6 { type ipv6_addr; flags timeout; dns names { "*.debian.org" }; }
	set only { type ipv4_addr; flags timeout; size 2; dns names { "x.example" }; dns resolvers { 10.9.9.9 }; }
}
`

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newFiller(t *testing.T, c *clock, prev *Filler) *Filler {
	rs, err := parser.Parse("t.nft", []byte(rulesSrc))
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{TTLMin: 5 * time.Second, TTLMax: time.Hour, Budget: 3, Now: c.now}, rs, prev)
}

var (
	client   = netip.MustParseAddrPort("10.0.0.2:40000")
	server   = netip.MustParseAddrPort("10.9.9.9:53")
	other    = netip.MustParseAddrPort("10.8.8.8:53")
	a1       = []byte{192, 0, 2, 1}
	v6       = netip.MustParseAddr("2001:db8::1").AsSlice()
	cnameAns = []pktgen.DNSRR{
		{Name: "deb.debian.org", Type: 5, TTL: 300, Target: "deb.cdn.example"},
		{Name: "deb.cdn.example", Type: 1, TTL: 2, Addr: a1},
		{Name: "deb.cdn.example", Type: 28, TTL: 7200, Addr: v6},
	}
)

func show(adds []Add) string {
	s := ""
	for _, a := range adds {
		s += fmt.Sprintf("%s:%s/%s/%s ", a.Set.Name, a.Addr, a.Timeout, a.Name)
	}
	return s
}

func TestFill(t *testing.T) {
	c := &clock{time.Unix(1000, 0)}
	f := newFiller(t, c, nil)
	ans := pktgen.DNSResponse(5, "deb.debian.org", 1, cnameAns)
	// an answer nobody asked for fills nothing
	if adds := f.Message(server, client, false, ans, nil); len(adds) != 0 || f.Stats().Unsolicited != 1 {
		t.Fatalf("unsolicited: %s %+v", show(adds), f.Stats())
	}
	f.Message(client, server, false, pktgen.DNSQuery(5, "DEB.debian.org"), nil)
	// the same id from another server is not the answer
	if adds := f.Message(other, client, false, ans, nil); len(adds) != 0 {
		t.Fatalf("wrong server: %s", show(adds))
	}
	adds := f.Message(server, client, false, ans, nil)
	if got := show(adds); got != "v4:192.0.2.1/5s/deb.debian.org v6:2001:db8::1/5m0s/deb.debian.org " {
		t.Fatalf("adds %q", got)
	}
	s := f.Set(parser.FamilyInet, "f", "v4")
	if !s.Contains(0, 0xc0000201) || s.Contains(0, 0xc0000202) {
		t.Error("Contains")
	}
	// seen again at another hook: nothing more
	if adds := f.Message(server, client, false, ans, nil); len(adds) != 0 || f.Stats().Repeated != 1 {
		t.Fatalf("repeat: %s", show(adds))
	}
	// reload keeps the elements of an unchanged set
	g := newFiller(t, c, f)
	if n := len(g.Set(parser.FamilyInet, "f", "v4").Elements(c.t)); n != 1 {
		t.Fatalf("%d elements after reload", n)
	}
	c.t = c.t.Add(6 * time.Second)
	g.Sweep()
	if gs := g.Set(parser.FamilyInet, "f", "v4"); gs.Len() != 0 || gs.Expired.Load() != 1 {
		t.Errorf("not expired: %d %d", gs.Len(), gs.Expired.Load())
	}
}

func TestFillBounds(t *testing.T) {
	c := &clock{time.Unix(1000, 0)}
	f := newFiller(t, c, nil)
	var rrs []pktgen.DNSRR
	for i := 0; i < 5; i++ {
		rrs = append(rrs, pktgen.DNSRR{Name: "x.example", Type: 1, TTL: 60, Addr: []byte{10, 1, 0, byte(i)}})
	}
	f.Message(client, server, false, pktgen.DNSQuery(9, "x.example"), nil)
	adds := f.Message(server, client, false, pktgen.DNSResponse(9, "x.example", 1, rrs), nil)
	s := f.Set(parser.FamilyInet, "f", "only")
	if len(adds) != 2 || s.Limited.Load() != 3 {
		t.Fatalf("size 2: %s limited %d", show(adds), s.Limited.Load())
	}
	// budget: 3 per second across answers
	var v []pktgen.DNSRR
	for i := 0; i < 5; i++ {
		v = append(v, pktgen.DNSRR{Name: "a.debian.org", Type: 1, TTL: 60, Addr: []byte{10, 2, 0, byte(i)}})
	}
	f.Message(client, server, false, pktgen.DNSQuery(10, "a.debian.org"), nil)
	adds = f.Message(server, client, false, pktgen.DNSResponse(10, "a.debian.org", 1, v), nil)
	if v4 := f.Set(parser.FamilyInet, "f", "v4"); len(adds) != 3 || v4.Budgeted.Load() != 2 {
		t.Fatalf("budget: %s", show(adds))
	}
	// resolvers: answers from another server do not count for `only`
	f.Message(client, other, false, pktgen.DNSQuery(11, "x.example"), nil)
	if adds := f.Message(other, client, false, pktgen.DNSResponse(11, "x.example", 1, rrs[:1]), nil); len(adds) != 0 {
		t.Fatalf("resolver filter: %s", show(adds))
	}
	// TCP: length-prefixed; a hostile answer counts as malformed
	bad := append([]byte{0, 14}, 0, 12, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12)
	q := pktgen.DNSQuery(12, "x.example")
	f.Message(client, server, true, append([]byte{0, byte(len(q))}, q...), nil)
	f.Message(server, client, true, bad, nil)
	if f.Stats().Malformed != 1 {
		t.Errorf("malformed %+v", f.Stats())
	}
}

// FuzzMessage: any bytes as a query, then as its answer, over UDP and
// TCP, fill only addresses of the right family with clamped timeouts,
// and never panic.
func FuzzMessage(f *testing.F) {
	f.Add(pktgen.DNSQuery(5, "deb.debian.org"), pktgen.DNSResponse(5, "deb.debian.org", 1, cnameAns), false)
	f.Add(pktgen.DNSQuery(9, "x.example"), append([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, 0xc0, 12, 0, 1, 0, 1), true)
	f.Fuzz(func(t *testing.T, q, a []byte, tcp bool) {
		c := &clock{time.Unix(1000, 0)}
		fl := newFiller(t, c, nil)
		if tcp {
			q = append([]byte{byte(len(q) >> 8), byte(len(q))}, q...)
			a = append([]byte{byte(len(a) >> 8), byte(len(a))}, a...)
		}
		fl.Message(client, server, tcp, q, nil)
		for _, add := range fl.Message(server, client, tcp, a, nil) {
			if add.Set.V6 != add.Addr.Is6() || add.Timeout < 5*time.Second || add.Timeout > time.Hour {
				t.Fatalf("bad update %+v", add)
			}
		}
	})
}
