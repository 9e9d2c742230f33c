package rules

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
)

// logger writes `log` statements to structured logs, rate-limited so that
// a flood of logged packets cannot fill a disk: at most logRate lines a
// second with bursts of logBurst; what is suppressed is counted.
type logger struct {
	l   *slog.Logger
	now func() int64

	mu     sync.Mutex // guards tokens and last
	tokens float64
	last   int64

	Suppressed atomic.Uint64
}

const (
	logRate  = 50
	logBurst = 200
)

func newLogger(l *slog.Logger, now func() int64) *logger {
	return &logger{l: l, now: now, tokens: logBurst, last: now()}
}

func (g *logger) allow() bool {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tokens += float64(now-g.last) / 1e9 * logRate
	if g.tokens > logBurst {
		g.tokens = logBurst
	}
	g.last = now
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}

var levels = map[string]slog.Level{"emerg": slog.LevelError + 4, "alert": slog.LevelError + 3, "crit": slog.LevelError + 2,
	"err": slog.LevelError, "warn": slog.LevelWarn, "": slog.LevelWarn, "notice": slog.LevelInfo + 2,
	"info": slog.LevelInfo, "debug": slog.LevelDebug, "audit": slog.LevelWarn}

func (g *logger) log(c *Ctx, prefix, level string) {
	if !g.allow() {
		g.Suppressed.Add(1)
		return
	}
	p := c.P
	var src, dst netip.Addr
	if p.Family == 4 {
		src, dst = netip.AddrFrom4([4]byte(p.Src[:4])), netip.AddrFrom4([4]byte(p.Dst[:4]))
	} else if p.Family == 6 {
		src, dst = netip.AddrFrom16(p.Src), netip.AddrFrom16(p.Dst)
	}
	attrs := []slog.Attr{slog.String("prefix", prefix), slog.String("hook", c.Hook.String()),
		slog.String("src", src.String()), slog.String("dst", dst.String()), slog.Int("proto", int(p.L4Proto)), slog.Int("len", p.Len())}
	if p.Sport != 0 || p.Dport != 0 {
		attrs = append(attrs, slog.Int("sport", int(p.Sport)), slog.Int("dport", int(p.Dport)))
	}
	if c.HasIif {
		attrs = append(attrs, slog.String("iif", cstr(c.IifName[:])))
	}
	if c.HasOif {
		attrs = append(attrs, slog.String("oif", cstr(c.OifName[:])))
	}
	g.l.LogAttrs(context.Background(), levels[level], "packet", attrs...)
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
