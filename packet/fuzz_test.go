package packet

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
)

func seedPackets(f *testing.F) {
	a, b := netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.1.1.2")
	c, d := netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")
	f.Add(pktgen.Build(pktgen.Opts{Src: a, Dst: b, Proto: 6, Sport: 1, Dport: 443, Payload: pktgen.ClientHello("a.example")}))
	f.Add(pktgen.Build(pktgen.Opts{Src: c, Dst: d, Proto: 17, Sport: 1, Dport: 53, Ext6: []uint8{0, 43, 44}, Payload: pktgen.DNSQuery(3, "b.example")}))
	f.Add(pktgen.Build(pktgen.Opts{Src: c, Dst: d, Proto: 6, Sport: 1, Dport: 80, Ext6: []uint8{60, 51}, Cut: 12}))
	f.Add(pktgen.ICMPError(b, 11, 0, pktgen.Build(pktgen.Opts{Src: a, Dst: b, Proto: 6, Sport: 2, Dport: 3})))
	f.Add(pktgen.Build(pktgen.Opts{Src: a, Dst: b, Proto: 6, Sport: 1, Dport: 80, Payload: []byte("GET / HTTP/1.1\r\nHost: h.example\r\n\r\n")}))
}

// FuzzDecode: any bytes decode without panic and with offsets inside the buffer.
func FuzzDecode(f *testing.F) {
	seedPackets(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p, q Parsed
		p.Decode(b)
		if p.L4Off+p.L4Len > len(b) || p.PayloadOff > len(b) {
			t.Fatalf("offsets past the end: %+v", p)
		}
		_ = p.Transport()
		_ = p.Payload()
		if p.DecodeInner(&q) && q.L4Off+q.L4Len > len(q.buf) {
			t.Fatal("inner offsets past the end")
		}
		var v Parsed
		if w := p.ConntrackView(&v); w.L4Off+w.L4Len > len(b) || w.PayloadOff > len(b) {
			t.Fatalf("conntrack view offsets past the end: %+v", w)
		}
		_ = p.ChecksumOK()
		// nft_exthdr's locators: bounded results on any bytes.
		for _, target := range []uint8{0, 43, 44, 60, 135} {
			// the offset may lie past the end (ipv6_find_hdr does not
			// check it), never before the fixed header
			if off, ok := IPv6FindHdr(b, target); ok && off < IPv6Size {
				t.Fatalf("ipv6 header %d at %d of %d", target, off, len(b))
			}
		}
		tr := p.Transport()
		for _, kind := range []uint8{0, 1, 2, 4, 8, 254} {
			if o, ok := TCPFindOption(tr, kind); ok && (len(o) == 0 || o[0] != kind) {
				t.Fatalf("tcp option %d: %x", kind, o)
			}
			if c, ok := SCTPFindChunk(tr, kind); ok && c != nil && c[0] != kind {
				t.Fatalf("sctp chunk %d: %x", kind, c)
			}
		}
	})
}

// FuzzL7: the extractors never panic and return bounded, valid names.
func FuzzL7(f *testing.F) {
	f.Add(pktgen.ClientHello("fuzz.example"))
	f.Add(pktgen.DNSQuery(1, "fuzz.example"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: fuzz.example\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var buf [MaxNameLen + 2]byte
		for _, n := range [][]byte{TLSServerName(b), HTTPHost(b), DNSQueryName(b, &buf)} {
			if len(n) > MaxNameLen {
				t.Fatalf("name of %d bytes", len(n))
			}
			if n != nil && validName(n) == nil {
				t.Fatalf("invalid name %q", n)
			}
		}
		// The reassembly predicates: a record length within its bound, and
		// a request head pending only while it could still grow.
		if n := TLSHelloRecordLen(b); n != 0 && (n < 5 || n > MaxHelloRecord) {
			t.Fatalf("record length %d", n)
		}
		if HTTPRequestPending(b) && (len(b) >= MaxHTTPHeader || HTTPHost(b) != nil && bytes.Contains(b, []byte("\r\n\r\n"))) {
			t.Fatalf("pending request head that is complete: %q", b)
		}
	})
}
