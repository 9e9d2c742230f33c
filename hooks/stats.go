package hooks

import (
	"sync/atomic"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/rules"
)

// Stats are the daemon's per-hook counters, bumped with atomics on the hot
// path and read at scrape time.
type Stats struct {
	Packets  [2][parser.NumHooks][rules.NumVerdicts]atomic.Uint64 // [IPv4, IPv6][hook][verdict]
	Bytes    [2][parser.NumHooks]atomic.Uint64
	Errors   atomic.Uint64 // queue receive errors
	Bypassed atomic.Uint64 // flows handed to the kernel by flow bypass
	Restores atomic.Uint64 // times nfd restored tables another tool removed
	Verdict  atomic.Uint64 // failed verdict sends
	// Unreadable are packets dropped because their transport header lay
	// beyond the bytes the queue copies (IPv6 extension-header chains
	// over headerCopy bytes).
	Unreadable atomic.Uint64
	// Continued are packets handed back to the kernel at a rule only it
	// can evaluate (NF_REPEAT to a continuation chain); ContMissing those
	// dropped because their point had no id (a bug).
	Continued   atomic.Uint64
	ContMissing atomic.Uint64
	// RejectedInKernel are packets nfd rejected and handed back to the
	// kernel, whose nft_reject sends the reply (planner/rejectcont.go).
	RejectedInKernel atomic.Uint64
}

// HookTotals are the decisions nfd made at one hook.
type HookTotals struct {
	Accept, Drop, Reject, Bytes uint64
}

// Packets is every packet decided.
func (t HookTotals) Packets() uint64 { return t.Accept + t.Drop + t.Reject }

// Add sums two totals (of both families, say).
func (t HookTotals) Add(o HookTotals) HookTotals {
	return HookTotals{t.Accept + o.Accept, t.Drop + o.Drop, t.Reject + o.Reject, t.Bytes + o.Bytes}
}

// Totals reads the counters of family index fi (0 IPv4, 1 IPv6) at hook h.
func (s *Stats) Totals(fi int, h parser.Hook) HookTotals {
	p := &s.Packets[fi][h]
	return HookTotals{Accept: p[rules.Accept].Load(), Drop: p[rules.Drop].Load(), Reject: p[rules.Reject].Load(), Bytes: s.Bytes[fi][h].Load()}
}

// Decided is every packet nfd answered, at every hook: decided, or
// handed back to the kernel at a continuation point.
func (s *Stats) Decided() uint64 {
	var n uint64
	for fi := range s.Packets {
		for _, h := range parser.Hooks {
			n += s.Totals(fi, h).Packets() + s.Packets[fi][h][rules.Continue].Load()
		}
	}
	return n
}
