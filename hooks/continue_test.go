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
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/queue"
)

// TestDecideContinues: a packet that reaches a rule only the kernel can
// evaluate is answered NF_REPEAT with its point's id in the continuation
// bits (the rest of the mark kept, a mark rule before it applied); a
// packet a continuation chain queued back resumes at the point its mark
// names, and its verdict clears nfd's bits.
func TestDecideContinues(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.nft")
	src := `table inet t {
	chain in {
		type filter hook input priority 0; policy drop;
		tls sni "x.example" drop
		meta mark set 0x5
		meta pkttype host counter
		tcp dport 22 accept
	}
}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: Config{Offload: planner.OffloadNone, Queues: 1, QueueBase: 100, MarkMask: DefaultMarkMask},
		log: slog.New(slog.DiscardHandler), ifn: newIfnames(), groups: map[string]int{}, ct: conntrack.New(conntrack.Config{})}
	st, err := d.load(context.Background(), file, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.assignQueues(st)
	if err := d.assignContMask(st, nil); err != nil {
		t.Fatal(err)
	}
	d.assignMarks(st, nil)
	d.st.Store(st)
	cs := st.byQueue[100]
	var kernelID, nfdID uint16
	for _, p := range cs.plan.Conts {
		if p.Kernel {
			kernelID = p.ID
		} else {
			nfdID = p.ID
		}
	}
	if st.contMask == 0 || st.contMask&^DefaultMarkMask != 0 || kernelID == 0 || nfdID == 0 {
		t.Fatalf("mask %#x, points %+v", st.contMask, cs.plan.Conts)
	}
	c, s := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	syn := pktgen.Build(pktgen.Opts{Src: c, Dst: s, Proto: 6, Sport: 40000, Dport: 22, TCPFlags: 0x02})
	back := planner.ContValue(nfdID, st.contMask)
	f := &queue.Fake{Batches: [][]queue.Packet{{
		{ID: 1, Payload: syn, Mark: 0x10000, HasMark: true},
		// queued back by the continuation chain, which ran the pkttype rule
		{ID: 2, Payload: syn, Mark: 0x5 | back, HasMark: true},
	}}}
	q := &queueReader{d: d, num: 100}
	q.pl.CT, q.pl.Ifname = d.ct, d.ifn.name
	queue.Serve(context.Background(), f, q.decide, q.failed)
	want := []queue.Answer{
		{ID: 1, Verdict: queue.Verdict{Verdict: queue.Repeat, Mark: 0x5 | planner.ContValue(kernelID, st.contMask), SetMark: true}},
		{ID: 2, Verdict: queue.Verdict{Verdict: queue.Accept, Mark: 0x5, SetMark: true}},
	}
	if len(f.Answers) != 2 || f.Answers[0] != want[0] || f.Answers[1] != want[1] {
		t.Fatalf("answers %+v, want %+v", f.Answers, want)
	}
	if d.Stats.Continued.Load() != 1 || d.Stats.ContMissing.Load() != 0 {
		t.Fatalf("continued %d missing %d", d.Stats.Continued.Load(), d.Stats.ContMissing.Load())
	}
	// The mark rule ran once: for the first packet only (the second
	// resumed after it).
	if n := st.eng.Rules[1].Counts.Packets.Load(); n != 1 {
		t.Fatalf("the rule before the continuation point counted %d packets", n)
	}
}
