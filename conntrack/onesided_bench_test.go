package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// BenchmarkOneSided measures what one-sided tracking costs: the kernel
// query a connection's handshake ACK makes (a real ctnetlink Get in a
// namespace, against an entry inserted with conntrack -I), and an
// established connection's ordinary packet with one-sided tracking on and
// off (no query either way).
//
//	go test -run XXX -bench OneSided ./conntrack/
func BenchmarkOneSided(b *testing.B) {
	netns.SkipUnlessRoot(b, "nft", "conntrack")
	ns := netns.New(b, "ctb")
	nft := ns.Cmd("nft", "add table inet b; add chain inet b in { type filter hook input priority 0; }; add rule inet b in ct state new counter")
	if out, err := nft.CombinedOutput(); err != nil {
		b.Fatalf("nft: %v: %s", err, out)
	}
	if out, err := ns.Run("conntrack", "-I", "-p", "tcp", "-s", "10.77.0.1", "-d", "10.77.0.2", "--sport", "40000", "--dport", "22",
		"--state", "ESTABLISHED", "-t", "300", "-u", "SEEN_REPLY"); err != nil {
		b.Fatalf("conntrack -I: %v %s", err, out)
	}
	var resolve Resolver
	var closeFn func()
	if err := ns.Do(func() (err error) { resolve, closeFn, err = KernelResolver(); return err }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(closeFn)
	cli, srv := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	tup := TupleOf(6, cli, srv, 40000, 22)
	if _, ok := resolve(tup); !ok {
		b.Fatal("the kernel does not know the inserted entry")
	}
	b.Run("kernel-query", func(b *testing.B) {
		for b.Loop() {
			if _, ok := resolve(tup); !ok {
				b.Fatal("lost the entry")
			}
		}
	})
	pkt := func(flags uint8) *packet.Parsed {
		var p packet.Parsed
		p.Decode(pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 6, Sport: 40000, Dport: 22, TCPFlags: flags}))
		return &p
	}
	synP, ackP := pkt(packet.TCPSyn), pkt(packet.TCPAck)
	b.Run("handshake-one-sided", func(b *testing.B) {
		tb := New(Config{Resolve: resolve})
		tb.SetOneSided(true)
		var r Result
		for b.Loop() {
			tb.Track(synP, &r)
			tb.Track(ackP, &r)
			if r.State != StateEstablished {
				b.Fatalf("ACK: %+v", r)
			}
			tb.Delete(tup)
		}
	})
	b.Run("handshake-two-sided", func(b *testing.B) {
		// The same two packets without the query (nfd's own view, which
		// calls this ACK invalid): the baseline the query adds to.
		tb := New(Config{Resolve: resolve})
		var r Result
		for b.Loop() {
			tb.Track(synP, &r)
			tb.Track(ackP, &r)
			tb.Delete(tup)
		}
	})
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "established-one-sided", false: "established-two-sided"}[on]
		b.Run(name, func(b *testing.B) {
			tb := New(Config{Resolve: resolve, Now: func() int64 { return int64(time.Hour) }})
			tb.SetOneSided(true)
			var r Result
			tb.Track(synP, &r)
			tb.Track(ackP, &r)
			tb.SetOneSided(on)
			data := pkt(packet.TCPAck | packet.TCPPsh)
			for b.Loop() {
				tb.Track(data, &r)
			}
			if r.State != StateEstablished {
				b.Fatalf("%+v", r)
			}
		})
	}
}
