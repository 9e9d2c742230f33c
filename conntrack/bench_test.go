package conntrack

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
)

// BenchmarkTrackExisting is the hot path: a packet of a known flow.
func BenchmarkTrackExisting(b *testing.B) {
	tb := New(Config{})
	var r Result
	tb.Track(tcp(true, syn), &r)
	tb.Track(tcp(false, synack), &r)
	p := tcp(true, ack)
	tb.Track(p, &r)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb.Track(p, &r)
	}
}

// BenchmarkTrackExistingParallel: both cores on distinct flows.
func BenchmarkTrackExistingParallel(b *testing.B) {
	tb := New(Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var p packet.Parsed
		var r Result
		buf := pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: uint16(nextPort()), Dport: 53})
		p.Decode(buf)
		tb.Track(&p, &r)
		for pb.Next() {
			tb.Track(&p, &r)
		}
	})
}

var pinSeq uint32

func nextPort() uint32 { pinSeq++; return 1000 + pinSeq }

// udpFlowPackets makes n distinct UDP flows (first packets).
func udpFlowPackets(n int) []packet.Parsed {
	base := pktgen.Build(pktgen.Opts{Src: cli, Dst: srv, Proto: 17, Sport: 1, Dport: 53})
	ps := make([]packet.Parsed, n)
	bufs := make([]byte, n*len(base))
	for i := 0; i < n; i++ {
		b := bufs[i*len(base) : (i+1)*len(base)]
		copy(b, base)
		binary.BigEndian.PutUint32(b[12:], 0x0a000000|uint32(i>>16)) // saddr 10.x.y.z
		binary.BigEndian.PutUint16(b[20:], uint16(i))                // sport
		ps[i].Decode(b)
	}
	return ps
}

// BenchmarkInsert measures new-connection rate.
func BenchmarkInsert(b *testing.B) {
	ps := udpFlowPackets(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	var tb *Table
	var r Result
	for i := 0; i < b.N; i++ {
		if i%len(ps) == 0 {
			b.StopTimer()
			tb = New(Config{Max: 1 << 21})
			b.StartTimer()
		}
		tb.Track(&ps[i%len(ps)], &r)
	}
}

// BenchmarkMemoryPerEntry fills a table with 1,000,000 flows and reports
// the heap it holds per entry.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 1_000_000
	ps := udpFlowPackets(n)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tb := New(Config{Max: 2 * n})
		var r Result
		for j := range ps {
			tb.Track(&ps[j], &r)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tb.Len() != n {
			b.Fatalf("len %d", tb.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/entry")
		runtime.KeepAlive(tb)
	}
}

// BenchmarkReapFullSweep sweeps all shards of a 1,000,000-entry table once:
// what the reaper spends per period (one second by default).
func BenchmarkReapFullSweep(b *testing.B) {
	const n = 1_000_000
	ps := udpFlowPackets(n)
	tb := New(Config{Max: 2 * n})
	var r Result
	for j := range ps {
		tb.Track(&ps[j], &r)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb.ReapShards(numShards)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
}

// BenchmarkBaselineMap is the floor: one update of a plain Go map with the
// same key and value, no lock, no state machine.
func BenchmarkBaselineMap(b *testing.B) {
	m := map[Tuple]entry{}
	p := tcp(true, ack)
	var tup Tuple
	tupleFromPacket(p, &tup)
	key, _ := tup.canonical()
	m[key] = entry{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := m[key]
		e.pkts[0]++
		m[key] = e
	}
}
