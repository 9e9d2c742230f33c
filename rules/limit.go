package rules

import (
	"sync"

	"github.com/nfdproject/nfd/parser"
)

// limiter is nft_limit's token bucket (net/netfilter/nft_limit.c): tokens
// are nanoseconds of credit, a packet costs unit/rate (a byte, unit/rate per
// byte), the bucket holds burst packets' worth. nft's default burst is 5
// packets for packet rates and 0 for byte rates.
type limiter struct {
	mu        sync.Mutex // guards tokens and last
	tokens    int64
	last      int64
	tokensMax int64
	nsecs     int64
	rate      int64
	bytes     bool
	over      bool
	now       func() int64
}

func newLimiter(l *parser.Limit, now func() int64) *limiter {
	burst := int64(l.Burst)
	if burst == 0 && !l.Bytes {
		burst = 5
	}
	lim := &limiter{nsecs: int64(l.Unit.Seconds()) * 1e9, rate: int64(l.Rate), bytes: l.Bytes, over: l.Over, now: now}
	if l.Bytes {
		lim.tokensMax = lim.nsecs * burst / lim.rate
	} else {
		lim.tokensMax = lim.nsecs / lim.rate * burst
	}
	lim.tokens = lim.tokensMax
	lim.last = now()
	return lim
}

// sameBucket reports whether o is a bucket of l's rate, burst and kind.
func (l *limiter) sameBucket(o *limiter) bool {
	return l.nsecs == o.nsecs && l.rate == o.rate && l.bytes == o.bytes && l.over == o.over && l.tokensMax == o.tokensMax
}

// match reports whether the limit statement lets the rule go on: under the
// rate for `limit rate`, over it for `limit rate over`.
func (l *limiter) match(c *Ctx) bool {
	cost := l.nsecs / l.rate
	if l.bytes {
		cost = l.nsecs * int64(c.P.Len()) / l.rate
	}
	now := l.now()
	l.mu.Lock()
	tokens := l.tokens + now - l.last
	if tokens > l.tokensMax {
		tokens = l.tokensMax
	}
	l.last = now
	delta := tokens - cost
	under := delta >= 0
	if under {
		l.tokens = delta
	} else {
		l.tokens = tokens
	}
	l.mu.Unlock()
	return under != l.over
}
