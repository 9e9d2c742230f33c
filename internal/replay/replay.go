// Package replay runs captured packets through a compiled engine and a
// userspace conntrack table, walking each packet through the hooks it
// would pass in the kernel. It needs no root and no kernel.
package replay

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/pcapio"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/pipeline"
	"github.com/nfdproject/nfd/rules"
)

// Clock is a settable clock: replay runs on the capture's timestamps.
type Clock struct{ t int64 }

func (c *Clock) Now() int64      { return c.t }
func (c *Clock) Set(t time.Time) { c.t = t.UnixNano() }

// Result is what happened to one packet.
type Result struct {
	N        int // 1-based index in the capture
	Summary  string
	Hooks    []parser.Hook // the hooks it went through, up to the deciding one
	Hook     parser.Hook   // where the final verdict was decided
	Decision rules.Decision
	CT       uint32 // ct state at the first hook
	// Assumed are rules only the kernel can evaluate that the packet
	// reached (an offline engine, rules.Options.Offline, assumed each did
	// not match), with the hook, in order.
	Assumed []Assumption
}

// Assumption is a kernel-only rule a replayed packet reached.
type Assumption struct {
	Hook parser.Hook
	Rule *rules.RuleInfo
}

// Options control a replay.
type Options struct {
	Local []netip.Addr // the host's own addresses
	Hook  *parser.Hook // evaluate this hook only
}

// Path returns the hooks a packet passes, given the host's addresses:
// prerouting and input to a local address, output and postrouting from
// one, prerouting, forward and postrouting otherwise.
func Path(p *packet.Parsed, local []netip.Addr) []parser.Hook {
	isLocal := func(b []byte) bool {
		a, _ := netip.AddrFromSlice(b)
		for _, l := range local {
			if l.Unmap() == a.Unmap() {
				return true
			}
		}
		return false
	}
	src, dst := isLocal(p.SrcAddr()), isLocal(p.DstAddr())
	switch {
	case src && dst:
		return []parser.Hook{parser.HookOutput, parser.HookPostrouting, parser.HookPrerouting, parser.HookInput}
	case dst:
		return []parser.Hook{parser.HookPrerouting, parser.HookInput}
	case src:
		return []parser.Hook{parser.HookOutput, parser.HookPostrouting}
	}
	return []parser.Hook{parser.HookPrerouting, parser.HookForward, parser.HookPostrouting}
}

// Run replays pkts. The engine must have been compiled with clk.Now as
// its clock and the table created with it, so limits and timeouts follow
// the capture's time.
func Run(e *rules.Engine, ct *conntrack.Table, clk *Clock, pkts []pcapio.Packet, opts Options) []Result {
	out := make([]Result, 0, len(pkts))
	pl := &pipeline.Pipeline{CT: ct}
	var in pipeline.Input
	for i, cp := range pkts {
		clk.Set(cp.Time)
		p := pl.Decode(cp.Data, cp.WireLen)
		res := Result{N: i + 1, Summary: Summary(p)}
		hooks := Path(p, opts.Local)
		if opts.Hook != nil {
			hooks = []parser.Hook{*opts.Hook}
		}
		res.Decision = rules.Decision{Verdict: rules.Accept}
		in = pipeline.Input{Engine: e, HasMark: true}
		for hi, h := range hooks {
			// Conntrack runs at the first hook, as the daemon does where it
			// first sees a packet; the mark the rules set carries on.
			in.Hook, in.Track = h, hi == 0
			d := pl.Decide(&in)
			if pl.C.Assumed != nil {
				res.Assumed = append(res.Assumed, Assumption{h, pl.C.Assumed})
			}
			if hi == 0 {
				res.CT = pl.R.State
			}
			in.Mark = pl.C.Mark
			res.Hooks = append(res.Hooks, h)
			res.Hook = h
			res.Decision = d
			if d.Verdict != rules.Accept {
				break
			}
		}
		out = append(out, res)
	}
	return out
}

// Summary is a one-line description of a packet, tcpdump-like.
func Summary(p *packet.Parsed) string {
	if p.Family == 0 {
		return fmt.Sprintf("not IP (%d bytes)", p.Len())
	}
	src, _ := netip.AddrFromSlice(p.SrcAddr())
	dst, _ := netip.AddrFromSlice(p.DstAddr())
	switch {
	case p.L4Proto == packet.ProtoTCP && p.HasTransport(14):
		return fmt.Sprintf("%s > %s tcp [%s] len %d", netip.AddrPortFrom(src, p.Sport), netip.AddrPortFrom(dst, p.Dport), tcpFlags(p.TCPFlags), p.Len())
	case p.L4Proto == packet.ProtoUDP && p.HasTransport(4):
		return fmt.Sprintf("%s > %s udp len %d", netip.AddrPortFrom(src, p.Sport), netip.AddrPortFrom(dst, p.Dport), p.Len())
	case (p.L4Proto == packet.ProtoICMP || p.L4Proto == packet.ProtoICMPv6) && p.HasTransport(2):
		name := "icmp"
		if p.L4Proto == packet.ProtoICMPv6 {
			name = "icmpv6"
		}
		return fmt.Sprintf("%s > %s %s type %d code %d len %d", src, dst, name, p.ICMPType, p.ICMPCode, p.Len())
	}
	return fmt.Sprintf("%s > %s proto %d len %d", src, dst, p.L4Proto, p.Len())
}

func tcpFlags(f uint8) string {
	s := ""
	for i, c := range "FSRPAUEC" {
		if f&(1<<i) != 0 {
			s += string(c)
		}
	}
	if s == "" {
		return "none"
	}
	return s
}
