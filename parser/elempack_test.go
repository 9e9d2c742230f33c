package parser

import (
	"bytes"
	stdctx "context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// randElems is a random element list with every field an Elem packs.
func randElems(r *rand.Rand, n int) []Elem {
	bs := func(max int) []byte {
		b := make([]byte, r.IntN(max+1))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	els := make([]Elem, n)
	for i := range els {
		e := &els[i]
		e.Lo = bs(20)
		e.Hi = e.Lo
		if r.IntN(3) == 0 { // a range or prefix
			e.Hi = bs(20)
		}
		if r.IntN(4) == 0 {
			e.Verdict = &Verdict{Kind: VerdictKind(r.IntN(8)), Target: string(bs(6))}
		}
		if r.IntN(4) == 0 {
			e.Data = bs(8)
			if r.IntN(2) == 0 {
				e.DataHi = bs(8)
			}
		}
		if r.IntN(5) == 0 {
			e.Counter = &Counter{Packets: r.Uint64(), Bytes: r.Uint64() >> r.IntN(64)}
		}
		if r.IntN(4) == 0 {
			e.Timeout = r.Uint64() >> r.IntN(64)
		}
		if r.IntN(5) == 0 {
			e.Expires = r.Uint64() >> r.IntN(64)
		}
		if r.IntN(4) == 0 {
			e.Comment = string(bs(30))
		}
	}
	return els
}

// sameElem compares what a pack keeps (not the source positions).
func sameElem(a, b *Elem) bool {
	if !bytes.Equal(a.Lo, b.Lo) || !bytes.Equal(a.Hi, b.Hi) || !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.DataHi, b.DataHi) ||
		(a.Data == nil) != (b.Data == nil) || (a.DataHi == nil) != (b.DataHi == nil) ||
		a.Timeout != b.Timeout || a.Expires != b.Expires || a.Comment != b.Comment {
		return false
	}
	if (a.Verdict == nil) != (b.Verdict == nil) || (a.Verdict != nil && (a.Verdict.Kind != b.Verdict.Kind || a.Verdict.Target != b.Verdict.Target)) {
		return false
	}
	return (a.Counter == nil) == (b.Counter == nil) && (a.Counter == nil || (a.Counter.Packets == b.Counter.Packets && a.Counter.Bytes == b.Counter.Bytes))
}

func TestElemPackRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		els := randElems(r, r.IntN(300))
		if round%4 == 0 { // plain keys of one size: the fixed form
			for i := range els {
				els[i] = Elem{Lo: []byte{byte(i), byte(i >> 8), 1, 2}}
				els[i].Hi = els[i].Lo
			}
		}
		p, ok := PackElems(els)
		if !ok {
			t.Fatal("PackElems refused packable elements")
		}
		if p.Len() != len(els) {
			t.Fatalf("Len %d, want %d", p.Len(), len(els))
		}
		if round%4 == 0 && len(els) > 0 && (p.fixed != 4 || p.off != nil) {
			t.Fatalf("plain 4-byte keys not in the fixed form: fixed=%d", p.fixed)
		}
		back := p.Unpack()
		for i := range els {
			if !sameElem(&els[i], &back[i]) {
				t.Fatalf("round %d element %d: packed %+v, unpacked %+v", round, i, els[i], back[i])
			}
			lo, hi := p.Key(i)
			if !bytes.Equal(lo, els[i].Lo) || !bytes.Equal(hi, els[i].Hi) {
				t.Fatalf("round %d element %d: Key %x-%x, want %x-%x", round, i, lo, hi, els[i].Lo, els[i].Hi)
			}
		}
	}
}

func TestElemPackRefuses(t *testing.T) {
	if _, ok := PackElems([]Elem{{Lo: []byte{1}, Hi: []byte{1}, Verdict: &Verdict{Kind: VerdictJump, Bound: &Chain{}}}}); ok {
		t.Error("packed a verdict holding an anonymous chain")
	}
	if _, ok := PackElems([]Elem{{CatchAll: true}}); ok {
		t.Error("packed a catch-all element")
	}
}

// packSrc has sets and maps of every kind the printer prints.
const packSrc = `table inet t {
	set a { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2, 10.0.0.3 } }
	set b { type ipv4_addr; flags interval; elements = { 10.0.0.0/24, 10.1.0.1-10.1.0.9, 192.0.2.7 } }
	set c { type ipv4_addr . inet_service; elements = { 10.0.0.1 . 22, 10.0.0.2 . 80 } }
	set d { type ipv6_addr; flags timeout; elements = { ::1 timeout 30s comment "x", 2001:db8::1 timeout 1m expires 10s } }
	set e { type inet_service; counter; elements = { 22 counter packets 3 bytes 120, 80 } }
	set f { type ipv4_addr . ipv4_addr; flags interval; elements = { 10.0.0.0/8 . 192.168.0.1-192.168.0.9 } }
	set g { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2, * } }
	map m { type inet_service : ipv4_addr; elements = { 22 : 10.0.0.1, 80 : 10.0.0.2 } }
	map v { type ipv4_addr : verdict; elements = { 10.0.0.1 : drop, 10.0.0.2 : jump c1, 10.0.0.3 : accept } }
	map w { type ipv4_addr : mark; flags interval; elements = { 10.0.0.0/8 : 0x1, 192.168.0.0/16 : 0x2 } }
	chain c1 { }
}
`

// A packed ruleset prints as the parsed one.
func TestPackSetsPrintsTheSame(t *testing.T) {
	rs, err := Parse("pack.nft", []byte(packSrc))
	if err != nil {
		t.Fatal(err)
	}
	want := Print(rs)
	counts := map[string]int{}
	for _, s := range rs.Tables[0].Sets {
		counts[s.Name] = s.NumElems()
	}
	rs.PackSets()
	for _, s := range rs.Tables[0].Sets {
		if s.Elems != nil || s.Packed == nil {
			t.Errorf("set %s not packed", s.Name)
		}
		if s.NumElems() != counts[s.Name] {
			t.Errorf("set %s: %d elements packed, %d parsed", s.Name, s.NumElems(), counts[s.Name])
		}
	}
	if got := Print(rs); got != want {
		t.Fatalf("packed ruleset prints\n%s\nwant\n%s", got, want)
	}
}

func BenchmarkPackElems(b *testing.B) {
	els := make([]Elem, 1<<20)
	for i := range els {
		k := []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		els[i] = Elem{Lo: k, Hi: k}
	}
	b.ResetTimer()
	for b.Loop() {
		p, _ := PackElems(els)
		b.ReportMetric(float64(p.Bytes())/float64(len(els)), "B/elem")
	}
}

// plainSetFile is a named IPv4 set of n addresses: a blocklist.
func plainSetFile(n int) []byte {
	var b strings.Builder
	b.WriteString("table ip t {\n\tset block {\n\t\ttype ipv4_addr\n\t\telements = {\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\t\t\t10.%d.%d.%d,\n", i>>16&255, i>>8&255, i&255)
	}
	b.WriteString("\t\t}\n\t}\n}\n")
	return []byte(b.String())
}

// BenchmarkParsePlainSet parses a 10^6-address set as a list and as the
// daemon parses it (WithPackedSets: into its pack).
func BenchmarkParsePlainSet(b *testing.B) {
	const n = 1_000_000
	src := plainSetFile(n)
	for _, packed := range []bool{false, true} {
		ctx := stdctx.Background()
		name := "list"
		if packed {
			ctx, name = WithPackedSets(ctx), "packed"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				rs, err := ParseContext(ctx, "bench.nft", src)
				if err != nil {
					b.Fatal(err)
				}
				if s := rs.Tables[0].Sets[0]; (s.Packed != nil) != packed || s.NumElems() != n {
					b.Fatal("the set was not parsed as asked")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/element")
		})
	}
}
