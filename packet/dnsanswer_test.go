package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
)

type resolved struct {
	names []string
	addrs []string
}

func resolve(t testing.TB, msg []byte) (resolved, error) {
	var a DNSAnswer
	var out resolved
	if err := ParseDNSAnswer(msg, &a); err != nil {
		return out, err
	}
	a.Resolve(func(n []byte) { out.names = append(out.names, string(n)) }, func(d DNSAddr) {
		ad, _ := netip.AddrFromSlice(d.Addr[:d.AddrLen])
		out.addrs = append(out.addrs, fmt.Sprintf("%s/%d", ad, d.TTL))
	})
	return out, nil
}

func TestDNSAnswerCNAMEChain(t *testing.T) {
	msg := pktgen.DNSResponse(7, "WWW.Example.com", 1, []pktgen.DNSRR{
		{Name: "www.example.com", Type: 5, TTL: 300, Target: "cdn.example.net"},
		{Name: "other.example", Type: 1, TTL: 60, Addr: []byte{192, 0, 2, 99}}, // not on the chain
		{Name: "cdn.example.net", Type: 5, TTL: 30, Target: "edge.cdn.example.net"},
		{Name: "edge.cdn.example.net", Type: 1, TTL: 120, Addr: []byte{192, 0, 2, 1}},
		{Name: "edge.cdn.example.net", Type: 1, TTL: 10, Addr: []byte{192, 0, 2, 2}},
		{Name: "edge.cdn.example.net", Type: 28, TTL: 50, Addr: netip.MustParseAddr("2001:db8::1").AsSlice()},
	})
	r, err := resolve(t, msg)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.names) != "[www.example.com cdn.example.net edge.cdn.example.net]" {
		t.Errorf("chain %v", r.names)
	}
	if fmt.Sprint(r.addrs) != "[192.0.2.1/30 192.0.2.2/10 2001:db8::1/30]" {
		t.Errorf("addresses %v", r.addrs)
	}
}

func TestDNSAnswerHostile(t *testing.T) {
	good := pktgen.DNSResponse(1, "a.example", 1, []pktgen.DNSRR{{Name: "a.example", Type: 1, TTL: 5, Addr: []byte{10, 0, 0, 1}}})
	// every prefix of a good answer is refused as truncated, never misread
	for n := 0; n < len(good); n++ {
		if _, err := resolve(t, good[:n]); err == nil {
			t.Fatalf("prefix of %d bytes accepted", n)
		}
	}
	// a pointer loop in the question: the name points at itself
	loop := append([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, 0xc0, 12, 0, 1, 0, 1)
	if _, err := resolve(t, loop); !errors.Is(err, ErrDNSName) {
		t.Errorf("self loop: %v", err)
	}
	// a forward pointer (to a later name that points back)
	fwd := append([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, 0xc0, 18, 0, 1, 0, 1, 0xc0, 12)
	if _, err := resolve(t, fwd); !errors.Is(err, ErrDNSName) {
		t.Errorf("forward pointer: %v", err)
	}
	// huge counts
	huge := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(huge[6:], 65535)
	if _, err := resolve(t, huge); !errors.Is(err, ErrDNSCounts) {
		t.Errorf("huge count: %v", err)
	}
	// a query is not an answer
	if _, err := resolve(t, pktgen.DNSQuery(1, "a.example")); !errors.Is(err, ErrDNSNotReply) {
		t.Errorf("query: %v", err)
	}
	// a CNAME loop gives no addresses
	cl := pktgen.DNSResponse(1, "a.example", 1, []pktgen.DNSRR{
		{Name: "a.example", Type: 5, TTL: 5, Target: "b.example"},
		{Name: "b.example", Type: 5, TTL: 5, Target: "a.example"},
		{Name: "a.example", Type: 1, TTL: 5, Addr: []byte{10, 0, 0, 1}},
	})
	if r, err := resolve(t, cl); err != nil || len(r.addrs) != 0 {
		t.Errorf("cname loop: %v %v", r, err)
	}
}

func TestDNSAnswerCompressed(t *testing.T) {
	// question a.example at 12; answer name is a pointer to it
	msg := []byte{0, 9, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}
	msg = pktgen.DNSName(msg, "a.example")
	msg = append(msg, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 42, 0, 4, 10, 1, 2, 3)
	r, err := resolve(t, msg)
	if err != nil || fmt.Sprint(r.addrs) != "[10.1.2.3/42]" {
		t.Fatalf("%v %v", r, err)
	}
}

func TestDNSAnswerNoAlloc(t *testing.T) {
	msg := pktgen.DNSResponse(7, "www.example.com", 1, []pktgen.DNSRR{
		{Name: "www.example.com", Type: 5, TTL: 300, Target: "cdn.example.net"},
		{Name: "cdn.example.net", Type: 1, TTL: 120, Addr: []byte{192, 0, 2, 1}},
	})
	var a DNSAnswer
	n := 0
	visit := func([]byte) {}
	addr := func(DNSAddr) { n++ }
	if allocs := testing.AllocsPerRun(100, func() {
		if err := ParseDNSAnswer(msg, &a); err != nil {
			t.Fatal(err)
		}
		a.Resolve(visit, addr)
	}); allocs != 0 {
		t.Errorf("%v allocations per answer", allocs)
	}
}

// FuzzDNSAnswer: any bytes parse without panic; every address resolved
// belongs to a record of the message.
func FuzzDNSAnswer(f *testing.F) {
	f.Add(pktgen.DNSResponse(7, "www.example.com", 1, []pktgen.DNSRR{
		{Name: "www.example.com", Type: 5, TTL: 300, Target: "cdn.example.net"},
		{Name: "cdn.example.net", Type: 1, TTL: 120, Addr: []byte{192, 0, 2, 1}},
		{Name: "cdn.example.net", Type: 28, TTL: 120, Addr: make([]byte, 16)},
	}))
	f.Add(append([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, 0xc0, 12, 0, 1, 0, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a DNSAnswer
		if ParseDNSAnswer(b, &a) != nil {
			return
		}
		if len(a.Records) > MaxDNSRecords {
			t.Fatal("too many records")
		}
		a.Resolve(func(n []byte) {
			if len(n) > MaxNameLen {
				t.Fatalf("name of %d bytes", len(n))
			}
		}, func(d DNSAddr) {
			if d.AddrLen != 4 && d.AddrLen != 16 {
				t.Fatalf("address of %d bytes", d.AddrLen)
			}
		})
	})
}
