package hooks

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/queue"
	"github.com/nfdproject/nfd/rules"
)

// TestDaemonDecidesFromFakeReader drives the daemon's whole decision
// path (state lookup by queue, decode, conntrack, rules, flow bypass,
// statistics) from a fake queue reader: no kernel, no root.
func TestDaemonDecidesFromFakeReader(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.nft")
	src := "table inet t {\n\tchain in {\n\t\ttype filter hook input priority 0; policy drop;\n" +
		// nfd runs it (no pipapo sets), and may bypass the flows it accepts
		"\t\tip saddr . tcp dport { 10.0.0.0/8 . 22 } accept\n\t}\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: Config{Offload: planner.OffloadAuto, Queues: 1, QueueBase: 100, MarkMask: DefaultMarkMask},
		log: slog.New(slog.DiscardHandler), ifn: newIfnames(), groups: map[string]int{}, ct: conntrack.New(conntrack.Config{})}
	st, err := d.load(context.Background(), file, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.assignQueues(st)
	d.assignMarks(st, nil)
	d.st.Store(st)
	cs := st.byQueue[100]
	if cs == nil || cs.plan.BypassBit == 0 {
		t.Fatalf("queue 100 has no chain with flow bypass: %+v", cs)
	}
	c, s := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	syn := func(dport uint16) []byte {
		return pktgen.Build(pktgen.Opts{Src: c, Dst: s, Proto: 6, Sport: 40000, Dport: dport, TCPFlags: 0x02})
	}
	f := &queue.Fake{Batches: [][]queue.Packet{{{ID: 1, Payload: syn(22)}, {ID: 2, Payload: syn(23)}}}}
	q := &queueReader{d: d, num: 100}
	q.pl.CT, q.pl.Ifname = d.ct, d.ifn.name
	queue.Serve(context.Background(), f, q.decide, q.failed)
	want := []queue.Answer{
		{ID: 1, Verdict: queue.Verdict{Verdict: queue.Accept, Mark: cs.plan.BypassBit, SetMark: true}}, // bypassed
		{ID: 2, Verdict: queue.Verdict{Verdict: queue.Drop}},
	}
	if len(f.Answers) != 2 || f.Answers[0] != want[0] || f.Answers[1] != want[1] {
		t.Fatalf("answers %+v, want %+v", f.Answers, want)
	}
	in := &d.Stats.Packets[0][parser.HookInput]
	if in[rules.Accept].Load() != 1 || in[rules.Drop].Load() != 1 || d.Stats.Bypassed.Load() != 1 || q.packets.Load() != 2 {
		t.Fatalf("stats: accept %d drop %d bypassed %d packets %d", in[rules.Accept].Load(), in[rules.Drop].Load(),
			d.Stats.Bypassed.Load(), q.packets.Load())
	}
}

// TestFirstSightLooped: where a packet is tracked, per queued hooks. A
// packet that came in through lo left by output and postrouting, where
// the kernel tracked it: when nfd queues either, it tracked it there too,
// and prerouting and input only look it up. A packet from a wire is
// tracked at prerouting, or at input when prerouting is not queued.
func TestFirstSightLooped(t *testing.T) {
	d := &Daemon{}
	var p packet.Parsed
	const pre, in, out, post = parser.HookPrerouting, parser.HookInput, parser.HookOutput, parser.HookPostrouting
	for _, c := range []struct {
		queued []parser.Hook
		hook   parser.Hook
		looped bool
		want   bool
	}{
		{[]parser.Hook{out, in}, in, true, false},
		{[]parser.Hook{out, in}, in, false, true},
		{[]parser.Hook{post, in}, in, true, false},
		{[]parser.Hook{in}, in, true, true},
		{[]parser.Hook{out, pre, in}, pre, true, false},
		{[]parser.Hook{out, pre, in}, in, true, false},
		{[]parser.Hook{pre, in}, pre, true, true},
		{[]parser.Hook{pre, in}, in, true, false},
		{[]parser.Hook{out, pre}, pre, false, true},
		{[]parser.Hook{out}, out, false, true},
	} {
		st := &state{}
		for _, h := range c.queued {
			st.queued[0][h] = true
		}
		if got := d.firstSight(st, 0, c.hook, &p, c.looped); got != c.want {
			t.Errorf("queued %v, at %v, looped %v: track %v, want %v", c.queued, c.hook, c.looped, got, c.want)
		}
	}
}
