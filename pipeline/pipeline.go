// Package pipeline decides one packet: decode, conntrack, layer-7 names,
// the rules, and forgetting a connection a refused packet started; the
// daemon's queue readers and `nfd replay` both run packets through it.
package pipeline

import (
	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/rules"
)

// Pipeline is one goroutine's decision path. It owns the decoded packet,
// the evaluation context and the conntrack result, reused from packet to
// packet, so deciding a packet allocates nothing.
type Pipeline struct {
	CT *conntrack.Table
	// Ifname names an interface index; nil, or false, leaves the name
	// unset (as when the queue sent no index).
	Ifname func(index uint32) (string, bool)

	P packet.Parsed    // the packet, after Decode
	C rules.Ctx        // its evaluation context, after Decide
	R conntrack.Result // its connection, after Decide
}

// Input is what Decide needs besides the decoded packet.
type Input struct {
	Engine *rules.Engine
	Hook   parser.Hook
	// Base, when set, is the one base chain to run, from its rule Start on
	// (the rules before it ran in the kernel); nil runs every chain of the
	// engine at Hook, in priority order.
	Base  *rules.Base
	Start int
	// Cont, when set (with Base), is the continuation point to resume at
	// instead of Start: a continuation chain queued the packet back
	// (rules.Engine.EvalFrom).
	Cont *rules.ContKey
	// Track: this is the first hook of the packet's path that nfd sees,
	// where conntrack runs (nf_conntrack_in() at prerouting and output);
	// at later hooks the connection is only looked up. A packet the
	// lookup finds no entry for is tracked then: no earlier queue of nfd's
	// took it (a guarded queue rule, a native accept before the queue), so
	// this is the first hook nfd sees it at after all; or it was invalid
	// there, and then tracking it again says invalid again, as the kernel
	// does for a looped-back packet that carries no entry.
	Track bool
	// Looped: the packet came in through lo, so it left by output and
	// postrouting, where the kernel confirmed the entry it gave it
	// (nf_conntrack_confirm()), and keeps that entry: its connection is
	// confirmed at prerouting and input, however nfd met it.
	Looped bool
	// The packet's mark and interfaces, where the queue (or the replay)
	// knows them.
	Mark                         uint32
	InDev, OutDev                uint32
	HasMark, HasInDev, HasOutDev bool
}

// Decode decodes a packet of wire bytes of which payload are the first
// (all of them when wire is not larger).
func (pl *Pipeline) Decode(payload []byte, wire int) *packet.Parsed {
	pl.P.DecodeCaptured(payload, wire)
	return &pl.P
}

// Decide runs the decoded packet through conntrack, name assembly and the
// rules of in. A packet the rules do not accept forgets the connection it
// would have started (an unconfirmed entry dies with its packet in the
// kernel: nf_conntrack_confirm() never runs for it). The caller reads
// what the rules changed (marks) from pl.C and the connection from pl.R.
func (pl *Pipeline) Decide(in *Input) rules.Decision {
	p, c, r, ct := &pl.P, &pl.C, &pl.R, pl.CT
	c.Reset(p, in.Hook)
	if in.HasInDev {
		c.Iif = in.InDev
	}
	if in.HasOutDev {
		c.Oif = in.OutDev
	}
	if in.HasInDev && pl.Ifname != nil {
		if n, ok := pl.Ifname(in.InDev); ok {
			c.SetIif(n)
		}
	}
	if in.HasOutDev && pl.Ifname != nil {
		if n, ok := pl.Ifname(in.OutDev); ok {
			c.SetOif(n)
		}
	}
	if in.HasMark {
		c.Mark = in.Mark
	}
	if !in.Track {
		ct.Lookup(p, r)
	}
	if in.Track || r.NoEntry {
		ct.Track(p, r)
	}
	if in.Looped && r.State == conntrack.StateNew && r.Status&conntrack.StatusConfirmed == 0 {
		ct.Confirm(r)
	}
	e := in.Engine
	if k := e.NameKinds & (1<<conntrack.NameSNI | 1<<conntrack.NameHost); k != 0 {
		ct.AssembleNames(p, r, k) // a ClientHello or request head over several segments
	}
	c.CT = *r
	c.CtMark = r.Mark
	var d rules.Decision
	ok := false
	if in.Base != nil && in.Cont != nil {
		d, ok = e.EvalFrom(c, in.Base, in.Cont)
	}
	if ok {
	} else if in.Base != nil {
		d = e.EvalBaseFrom(c, in.Base, in.Start)
	} else {
		d = e.Eval(c)
	}
	c.LearnNames(e, ct)
	if c.CtMarkChanged && r.Found {
		ct.SetMark(r.Key, c.CtMark)
	}
	if (d.Verdict == rules.Drop || d.Verdict == rules.Reject) && r.Found {
		// A packet that goes on in the kernel (Continue) is not refused
		// yet; the kernel's own entry dies with it if the kernel drops it.
		ct.Forget(r.Key)
	}
	return d
}
