package hooks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// setFile writes a ruleset with a named IPv4 set of n elements (the one
// at changed, if >= 0, replaced) and a rule using it.
func setFile(t testing.TB, n, changed int) string {
	var b strings.Builder
	b.WriteString("table ip t {\n\tset block {\n\t\ttype ipv4_addr\n\t\telements = {\n")
	for i := 0; i < n; i++ {
		a := 10<<24 + i
		if i == changed {
			a = 192<<24 | 2<<8 | 1
		}
		fmt.Fprintf(&b, "\t\t\t%d.%d.%d.%d,\n", a>>24, a>>16&255, a>>8&255, a&255)
	}
	b.WriteString("\t\t}\n\t}\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr @block counter drop\n\t}\n}\n")
	f := filepath.Join(t.TempDir(), "s.nft")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func loadOnly() *Daemon {
	return &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil)), cfg: Config{Offload: planner.OffloadAuto}}
}

// TestLoadKeepsSetsPacked: once loaded, the running state holds a named
// set's elements in one packed arena: the kept ruleset's set has no
// Elems, the plan's set no []nftables.SetElement but the same keys; a
// reload with one element changed compiles against them.
func TestLoadKeepsSetsPacked(t *testing.T) {
	const n = 5000
	d := loadOnly()
	st, err := d.load(context.Background(), setFile(t, n, -1), nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(st *state, changed bool) {
		t.Helper()
		s := st.eng.Ruleset.Tables[0].Set("block")
		if s.Elems != nil || s.Packed == nil || s.NumElems() != n {
			t.Fatalf("kept ruleset's set: %d parsed elements, packed %v, %d in all", len(s.Elems), s.Packed != nil, s.NumElems())
		}
		lo, _ := s.ElemKey(n / 2)
		if want := []byte{192, 0, 2, 1}; changed != (string(lo) == string(want)) {
			t.Fatalf("element %d is %v", n/2, lo)
		}
		for _, tp := range st.plans {
			for _, ps := range tp.Sets {
				if !ps.Set.Anonymous && (ps.Elems != nil || ps.Packed == nil || ps.NumElements() != n) {
					t.Fatalf("plan's set %s: %d kernel elements unpacked, packed %v", ps.Set.Name, len(ps.Elems), ps.Packed != nil)
				}
				// One arena: the plan's kernel keys are the parse's.
				if a, b := ps.Packed.FixedKeys(), s.Packed.FixedKeys(); len(a) != 4*n || len(b) != 4*n || &a[0] != &b[0] {
					t.Fatalf("plan's set %s does not share the parsed keys", ps.Set.Name)
				}
			}
		}
	}
	check(st, false)
	st2, err := d.load(context.Background(), setFile(t, n, n/2), st)
	if err != nil {
		t.Fatal(err)
	}
	check(st2, true)
	// The listing prints every element from the packed form.
	if p := parser.Print(st2.eng.Ruleset); !strings.Contains(p, "192.0.2.1") || !strings.Contains(p, "10.0.19.135") {
		t.Fatal("the packed set does not print its elements")
	}
}

// BenchmarkLoadedSetHeap is the heap a loaded 10^5-element IPv4 set keeps
// (the engine's hash, the packed elements), in bytes per element.
func BenchmarkLoadedSetHeap(b *testing.B) {
	const n = 100000
	f := setFile(b, n, -1)
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		st, err := loadOnly().load(context.Background(), f, nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/n, "heapB/elem")
		runtime.KeepAlive(st)
	}
}
