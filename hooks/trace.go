package hooks

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfdproject/nfd/internal/replay"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/rules"
)

// Tracing: `nfd trace [FILTER]` streams one event per packet nfd decides
// (packets the kernel decides natively never reach nfd; `nft monitor
// trace` shows those). It costs one atomic load per packet when nobody
// listens. Each listener has a bounded buffer; a slow reader loses events
// (counted), it never slows the queues.

// TraceEvent is one decided packet.
type TraceEvent struct {
	Time    time.Time `json:"time"`
	Hook    string    `json:"hook"`
	Packet  string    `json:"packet"`
	CT      string    `json:"ct"`
	Table   string    `json:"table"`
	Chain   string    `json:"chain"`
	Path    string    `json:"path"` // base chain, then the chain of the deciding rule
	Rule    string    `json:"rule"` // comment or handle; empty: the policy
	Text    string    `json:"text,omitempty"`
	Verdict string    `json:"verdict"`
	Queue   uint16    `json:"queue"`
	// Kernel says, for the verdict "continue", that the packet went back
	// to the kernel at a rule nfd cannot evaluate; Resumed, that the
	// packet came back from a continuation chain (its id).
	Kernel  string `json:"continued_in_kernel,omitempty"`
	Resumed uint16 `json:"resumed_at,omitempty"`
}

type tracer struct {
	filter  func(c *rules.Ctx) bool
	ch      chan TraceEvent
	dropped atomic.Uint64
}

type tracers struct {
	mu   sync.Mutex // guards list changes; readers load the pointer
	list atomic.Pointer[[]*tracer]
}

// compileFilter turns an nft match expression ("tcp dport 22", "ip saddr
// 10.0.0.0/8 udp dport 53") into a predicate, using the parser and engine.
func compileFilter(expr string) (func(c *rules.Ctx) bool, error) {
	if expr == "" {
		return func(*rules.Ctx) bool { return true }, nil
	}
	src := "table inet nfd_trace {\n\tchain f {\n\t\ttype filter hook input priority 0; policy drop;\n\t\t" + expr + " accept\n\t}\n}\n"
	rs, err := parser.Parse("<filter>", []byte(src))
	if err != nil {
		return nil, err
	}
	// A trace filter runs in nfd on the packets it sees: a field only the
	// kernel knows would never match, so say so instead.
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, s := range r.Stmts {
					if m, ok := s.(*parser.Match); ok {
						for _, k := range m.Keys {
							if why := k.KernelOnly(); why != "" {
								return nil, fmt.Errorf("trace filter: `%s` is known only to the kernel (%s); nfd cannot filter on it", k, why)
							}
						}
					}
				}
			}
		}
	}
	eng, err := rules.Compile(rs, rules.Options{})
	if err != nil {
		return nil, err
	}
	base := eng.Bases[0]
	return func(c *rules.Ctx) bool {
		probe := *c
		probe.P = c.P
		return eng.EvalBase(&probe, base).Verdict == rules.Accept
	}, nil
}

// Trace calls fn for every matching packet until ctx ends.
func (d *Daemon) Trace(ctx context.Context, filter string, fn func(TraceEvent)) error {
	f, err := compileFilter(filter)
	if err != nil {
		return err
	}
	t := &tracer{filter: f, ch: make(chan TraceEvent, 256)}
	d.tr.mu.Lock()
	old := d.tr.list.Load()
	var list []*tracer
	if old != nil {
		list = append(list, *old...)
	}
	list = append(list, t)
	d.tr.list.Store(&list)
	d.tr.mu.Unlock()
	defer func() {
		d.tr.mu.Lock()
		cur := *d.tr.list.Load()
		var next []*tracer
		for _, x := range cur {
			if x != t {
				next = append(next, x)
			}
		}
		d.tr.list.Store(&next)
		d.tr.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-t.ch:
			fn(ev)
		}
	}
}

var ctNames = map[uint32]string{1: "invalid", 2: "established", 4: "related", 8: "new", 64: "untracked"}

// trace offers one decided packet to the listeners; on the queue goroutine.
func (d *Daemon) trace(q uint16, c *rules.Ctx, p *packet.Parsed, cs *chainState, dec rules.Decision, resumed uint16) {
	lp := d.tr.list.Load()
	if lp == nil || len(*lp) == 0 {
		return
	}
	var ev *TraceEvent
	for _, t := range *lp {
		if !t.filter(c) {
			continue
		}
		if ev == nil {
			ev = &TraceEvent{Time: time.Now(), Hook: c.Hook.String(), Packet: replay.Summary(p), CT: ctNames[c.CT.State],
				Table: cs.kc.Family.String() + " " + cs.kc.Table, Chain: cs.kc.Chain, Path: cs.kc.Chain, Verdict: dec.Verdict.String(), Queue: q}
			if dec.Rule != nil {
				ev.Rule, ev.Text = dec.Rule.Label(), dec.Rule.Text()
				if dec.Rule.Chain != cs.kc.Chain {
					ev.Path = fmt.Sprintf("%s → %s", cs.kc.Chain, dec.Rule.Chain)
				}
			}
			ev.Resumed = resumed
			if dec.Verdict == rules.Continue && dec.Rule != nil {
				ev.Kernel = fmt.Sprintf("only the kernel can evaluate this rule (%s); the packet went back to the kernel there, which ran the rest of the chain (nft monitor trace shows it)", dec.Rule.Pos)
			}
		}
		select {
		case t.ch <- *ev:
		default:
			t.dropped.Add(1)
		}
	}
}
