package rules

import (
	"testing"

	"github.com/nfdproject/nfd/parser"
)

const contSrc = `table ip f {
	chain sub {
		counter
		tcp dport 80 meta pkttype host counter return
		meta pkttype broadcast drop
		counter
	}
	chain in {
		type filter hook input priority 0; policy accept;
		counter
		udp dport 53 meta pkttype host drop
		tcp dport 22 fib daddr type local accept
		udp dport 54 meta pkttype multicast drop
		tcp dport 80 jump sub
		counter accept
	}
}
`

// TestContinue: the engine stops at the first rule only the kernel can
// evaluate whose leading matches hold, records the call stack (the rule
// that jumped, and the first rule of the kernel-only run), and has run
// the rules before it exactly once; EvalFrom resumes after a point.
func TestContinue(t *testing.T) {
	e := compile(t, contSrc)
	in := e.Bases[0]
	var inInfo, subInfo *ChainInfo
	for _, c := range e.Chains {
		switch c.Name {
		case "in":
			inInfo = c
		case "sub":
			subInfo = c
		}
	}
	for _, tc := range []struct {
		name  string
		p     pk
		rule  int // index in `in` of the rule nfd stops at
		stack []ContFrame
	}{
		// udp 53: the pkttype rule's `udp dport 53` holds: stop there.
		{"udp53", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, dport: 53, hook: input}, 1, []ContFrame{{inInfo, 1}}},
		// tcp 22: rule 2's leading match fails in nfd, rule 3 is the
		// stop; it resumes at the start of the run (rule 2, index 1),
		// which cannot match in the kernel either.
		{"tcp22", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 22, hook: input}, 2, []ContFrame{{inInfo, 1}}},
		// udp 54: rules 2 and 3 cannot match, rule 4's leading match
		// holds: stop at it, resume at the run's start.
		{"udp54", pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, dport: 54, hook: input}, 3, []ContFrame{{inInfo, 1}}},
	} {
		c := tc.p.ctx()
		d := e.EvalBase(c, in)
		if d.Verdict != Continue || d.Rule.Index != tc.rule {
			t.Fatalf("%s: %v at %+v, want continue at index %d", tc.name, d.Verdict, d.Rule, tc.rule)
		}
		if int(c.Cont.Depth) != len(tc.stack) {
			t.Fatalf("%s: depth %d", tc.name, c.Cont.Depth)
		}
		for i, f := range tc.stack {
			if c.Cont.Frames[i] != f {
				t.Fatalf("%s: frame %d is %+v, want %+v", tc.name, i, c.Cont.Frames[i], f)
			}
		}
	}
	if n := e.Rules[4].Counts.Packets.Load(); n != 3 {
		t.Fatalf("the rule before the stops counted %d packets, want 3", n)
	}
	// A point inside a jumped-to chain: resume after it (sub rule 3 from
	// index 2) with in's jump below; `counter` then falls off sub, back
	// in `in` after the jump: `counter accept`.
	var k ContKey
	k.Push(inInfo, 4)
	k.Push(subInfo, 3)
	c := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 80, hook: input}.ctx()
	d, ok := e.EvalFrom(c, in, &k)
	if !ok || d.Verdict != Accept || d.Rule.Chain != "in" || d.Rule.Index != 5 {
		t.Fatalf("EvalFrom: %v %+v", ok, d)
	}
	if n := e.Rules[3].Counts.Packets.Load(); n != 1 {
		t.Fatalf("sub's last counter: %d", n)
	}
	if n := e.Rules[0].Counts.Packets.Load(); n != 0 {
		t.Fatalf("sub's first counter ran on resume: %d", n)
	}
	// The deeper stop: tcp 80 jumps to sub, whose rule 2 is kernel-only.
	c = pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 80, hook: input}.ctx()
	if d := e.EvalBase(c, in); d.Verdict != Continue || c.Cont.Depth != 2 || c.Cont.Frames[0] != (ContFrame{inInfo, 4}) || c.Cont.Frames[1] != (ContFrame{subInfo, 1}) {
		t.Fatalf("jumped stop: %v %+v", d.Verdict, c.Cont.Frames[:2])
	}
	if n := testing.AllocsPerRun(1000, func() { e.EvalBase(c, in) }); n != 0 {
		t.Fatalf("a continuation allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { e.EvalFrom(c, in, &k) }); n != 0 {
		t.Fatalf("EvalFrom allocates %v times", n)
	}
}

// TestOffline: replay's engine assumes a kernel-only rule does not match,
// records the first one, and goes on.
func TestOffline(t *testing.T) {
	rs, err := parser.Parse("t.nft", []byte(contSrc))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(rs, Options{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	c := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, dport: 53, hook: input}.ctx()
	d := e.EvalBase(c, e.Bases[0])
	if d.Verdict != Accept || d.Rule.Index != 5 || c.Assumed == nil || c.Assumed.Index != 1 {
		t.Fatalf("offline: %v %+v assumed %+v", d.Verdict, d.Rule, c.Assumed)
	}
}
