package rules

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// TestFieldReuseWhileEvaluating: a live engine matching on raw payloads
// keeps deciding right while 10,000 successive rulesets, each naming raw
// payload offsets and hash variants no other names (ten times what the
// field table holds), are parsed and compiled next to it: the dropped
// rulesets' fields are reused, the live one's are not. Run with -race:
// the packet path reads field entries while reloads intern new ones.
func TestFieldReuseWhileEvaluating(t *testing.T) {
	live := compile(t, `table ip t {
	chain in {
		type filter hook input priority 0; policy accept;
		@th,16,16 80 drop
		@th,16,16 { 81, 82 } @nh,72,8 6 drop
	}
}`)
	pass := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, sport: 1000, dport: 443, hook: input}
	drop := pass
	drop.dport = 80
	drop2 := pass
	drop2.dport = 82
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for _, c := range []struct {
				p    pk
				want Verdict
			}{{pass, Accept}, {drop, Drop}, {drop2, Drop}} {
				if d := live.Eval(c.p.ctx()); d.Verdict != c.want {
					bad.Store(fmt.Sprintf("%+v: %s, want %s", c.p, d.Verdict, c.want))
					return
				}
			}
		}
	}()
	n := 10000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		src := fmt.Sprintf(`table inet t%d {
	chain c {
		type filter hook input priority 0; policy accept;
		@th,%d,16 0x1234 accept
		@nh,%d,8 { 1, 2 } drop
		jhash ip saddr . tcp dport mod %d 3 accept
	}
}`, i, 32+i%60000, 33+i%60000, i+2)
		rs, err := parser.Parse("reload.nft", []byte(src))
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if _, err := Compile(rs, Options{}); err != nil {
			t.Fatalf("reload %d: compile: %v", i, err)
		}
		if bad.Load() != nil {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatal(b)
	}
	if n := parser.DynamicFields(); n > 4096 {
		t.Fatalf("%d dynamic fields", n)
	}
	_ = packet.ProtoTCP
}
