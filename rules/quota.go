package rules

import (
	"sync/atomic"

	"github.com/nfdproject/nfd/parser"
)

// quota is nft_quota (net/netfilter/nft_quota.c): every packet that reaches
// it adds its length to the bytes consumed, then nft_overquota() tells
// whether the consumed bytes are now above the quota; `quota N` lets the
// rule go on while they are not, `quota over N` once they are.
type quota struct {
	bytes    uint64
	over     bool
	consumed *atomic.Uint64
}

func (q *quota) match(c *Ctx) bool {
	consumed := q.consumed.Add(uint64(c.P.Len()))
	return (consumed > q.bytes) == q.over
}

// newQuota builds a quota statement; its consumed bytes carry over from
// old, the same statement of the previous engine's same rule, if any.
func newQuota(old *quota, s *parser.Quota) *quota {
	q := &quota{bytes: s.Bytes, over: s.Over}
	if old != nil {
		q.consumed = old.consumed
	} else {
		q.consumed = &atomic.Uint64{}
		q.consumed.Store(s.Used)
	}
	return q
}
