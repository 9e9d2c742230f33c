package hooks

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/queue"
)

// loadTestState loads src as a daemon would, with its continuation bits
// assigned after old.
func loadTestState(t *testing.T, d *Daemon, src string, old *state) *state {
	t.Helper()
	file := filepath.Join(t.TempDir(), "r.nft")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := d.load(context.Background(), file, old)
	if err != nil {
		t.Fatal(err)
	}
	d.assignQueues(st)
	if err := d.assignContMask(st, old); err != nil {
		t.Fatal(err)
	}
	return st
}

func testDaemon(mask uint32) *Daemon {
	return &Daemon{cfg: Config{Offload: planner.OffloadNone, Queues: 1, QueueBase: 100, MarkMask: mask},
		log: slog.New(slog.DiscardHandler), ifn: newIfnames(), groups: map[string]int{}, ct: conntrack.New(conntrack.Config{})}
}

const rejectSrc = `table inet t {
	chain in {
		type filter hook input priority 0; policy accept;
		tls sni "x.example" drop
		tcp dport 22 counter reject with tcp reset
		udp dport 53 reject
	}
}
`

// TestDecideRejectInKernel: a packet nfd rejects goes back to the kernel
// with NF_REPEAT and the id of its reject form (the dispatch goes to the
// chain holding the native reject), the rest of the mark kept; the rule
// counts it once, and nfd sends nothing itself.
func TestDecideRejectInKernel(t *testing.T) {
	d := testDaemon(DefaultMarkMask)
	st := loadTestState(t, d, rejectSrc, nil)
	d.assignMarks(st, nil)
	d.st.Store(st)
	cs := st.byQueue[100]
	if len(cs.plan.Rejects) != 2 || st.contMask == 0 {
		t.Fatalf("rejects %+v, mask %#x", cs.plan.Rejects, st.contMask)
	}
	id, ok := cs.conts.rejectID(cs.plan.Rejects[0].Kind, cs.plan.Rejects[0].Code)
	if cs.plan.Rejects[1].Kind == 1 { // parser.RejectTCPReset
		id, ok = cs.conts.rejectID(cs.plan.Rejects[1].Kind, cs.plan.Rejects[1].Code)
	}
	if !ok || id == 0 {
		t.Fatalf("no id for tcp reset: %+v", cs.plan.Rejects)
	}
	c, s := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	syn := pktgen.Build(pktgen.Opts{Src: c, Dst: s, Proto: 6, Sport: 40000, Dport: 22, TCPFlags: 0x02})
	f := &queue.Fake{Batches: [][]queue.Packet{{{ID: 1, Payload: syn, Mark: 0x10, HasMark: true}}}}
	q := &queueReader{d: d, num: 100}
	q.pl.CT, q.pl.Ifname = d.ct, d.ifn.name
	queue.Serve(context.Background(), f, q.decide, q.failed)
	want := queue.Answer{ID: 1, Verdict: queue.Verdict{Verdict: queue.Repeat, Mark: 0x10 | planner.ContValue(id, st.contMask), SetMark: true}}
	if len(f.Answers) != 1 || f.Answers[0] != want {
		t.Fatalf("answers %+v, want %+v", f.Answers, want)
	}
	if d.Stats.RejectedInKernel.Load() != 1 || st.eng.Rules[1].Counts.Packets.Load() != 1 {
		t.Fatalf("rejected in kernel %d, rule counted %d", d.Stats.RejectedInKernel.Load(), st.eng.Rules[1].Counts.Packets.Load())
	}
}

// TestReloadContIDs: a reload gives the new ruleset continuation ids
// whose mark values, read under its bits, are none of the old ruleset's,
// so a packet queued or decided under the old one resumes at no point of
// the new one (it misses the dispatch map and is judged from the start).
func TestReloadContIDs(t *testing.T) {
	d := testDaemon(DefaultMarkMask)
	old := loadTestState(t, d, contSrc2, nil)
	st := loadTestState(t, d, contSrc2, old)
	oldVals := map[uint32]bool{}
	for _, v := range contValues(old) {
		oldVals[v&st.contMask] = true
	}
	newVals := contValues(st)
	if len(newVals) == 0 || len(newVals) != len(contValues(old)) {
		t.Fatalf("values old %v new %v", contValues(old), newVals)
	}
	for _, v := range newVals {
		if oldVals[v] {
			t.Fatalf("new value %#x was the old ruleset's (old %#x under %#x, new under %#x)", v, contValues(old), old.contMask, st.contMask)
		}
	}
	if old.contMask&^st.contMask != 0 {
		t.Fatalf("old bits %#x outside the new %#x: the dispatch would not clear them", old.contMask, st.contMask)
	}
	// and the daemon's maps follow the shifted ids
	for _, cs := range st.chains {
		for _, p := range cs.plan.Conts {
			if p.Kernel {
				continue
			}
			if _, ok := cs.conts.point[p.ID]; !ok {
				t.Fatalf("nfd point %d not in the daemon's map", p.ID)
			}
		}
	}
	// a third load alternates back
	third := loadTestState(t, d, contSrc2, st)
	for _, v := range contValues(third) {
		for _, o := range contValues(st) {
			if v == o&third.contMask {
				t.Fatalf("third ruleset reuses %#x", v)
			}
		}
	}
}

const contSrc2 = `table inet t {
	chain in {
		type filter hook input priority 0; policy drop;
		tls sni "x.example" drop
		meta pkttype host counter
		tcp dport 22 accept
		meta pkttype broadcast counter
		tcp dport 23 reject
	}
}
`

// TestContLayout: the bits and offset chosen for n ids against the old
// ruleset's values.
func TestContLayout(t *testing.T) {
	free := maskBits(0x0f000000)
	vals := func(mask uint32, from, n int) []uint32 {
		var out []uint32
		for i := from; i < from+n; i++ {
			out = append(out, planner.ContValue(uint16(i), mask))
		}
		return out
	}
	seq := func(ids ...uint16) []uint16 { return ids }
	for _, tc := range []struct {
		n        int
		oldMask  uint32
		old      []uint32
		mask     uint32
		ids      []uint16
		separate bool
	}{
		{3, 0, nil, 0x0c000000, seq(1, 2, 3), true},
		{3, 0x0c000000, vals(0x0c000000, 1, 3), 0x0e000000, seq(1, 3, 5), true},
		{3, 0x0e000000, vals(0x0e000000, 1, 3), 0x0e000000, seq(4, 5, 6), true},
		{5, 0x0e000000, vals(0x0e000000, 1, 5), 0x0f000000, seq(1, 3, 5, 7, 9), true},
		{8, 0x0f000000, vals(0x0f000000, 1, 8), 0x0f000000, seq(1, 2, 3, 4, 5, 6, 7, 8), false},
		{0, 0x0f000000, vals(0x0f000000, 1, 8), 0, nil, true},
	} {
		mask, ids, sep := contLayout(free, tc.n, tc.oldMask, tc.old)
		if mask != tc.mask || fmt.Sprint(ids) != fmt.Sprint(tc.ids) || sep != tc.separate {
			t.Errorf("n %d old %#x %v: got %#x %v %v, want %#x %v %v", tc.n, tc.oldMask, tc.old, mask, ids, sep, tc.mask, tc.ids, tc.separate)
		}
	}
}

// TestContMaskBudget: a ruleset whose continuation ids do not fit the
// free bits of --mark-mask is refused, naming the rule of the first id
// over and the bits; one whose reject forms alone do not fit runs with
// nfd sending its rejects.
func TestContMaskBudget(t *testing.T) {
	d := testDaemon(0x3) // ids 1..3
	file := filepath.Join(t.TempDir(), "r.nft")
	if err := os.WriteFile(file, []byte(contSrc2), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := d.load(context.Background(), file, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = d.assignContMask(st, nil)
	if err == nil || !strings.Contains(err.Error(), "r.nft:8:3: ") || !strings.Contains(err.Error(), "--mark-mask 0x00000003 has 2 free") {
		t.Fatalf("%v", err)
	}
	t.Log(err)
	d = testDaemon(0x3) // ids 1..3: the three points, not the reject form
	st = loadTestState(t, d, `table inet t {
	chain in {
		type filter hook input priority 0; policy accept;
		tls sni "x.example" drop
		meta pkttype host counter
		tcp dport 22 counter reject with tcp reset
		meta pkttype broadcast counter
	}
}
`, nil)
	if cs := st.byQueue[100]; len(cs.plan.Rejects) != 0 || len(cs.conts.reject) != 0 || st.contMask != 3 {
		t.Fatalf("rejects kept: %+v mask %#x", cs.plan.Rejects, st.contMask)
	}
}
