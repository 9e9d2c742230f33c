package rules

import (
	"strconv"
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
// the previous engine when the same rule is still there.
func (b *builder) newQuota(key string, s *parser.Quota) *quota {
	q := &quota{bytes: s.Bytes, over: s.Over}
	if b.opts.Prev != nil {
		if old := b.opts.Prev.stmtQuotas[key]; old != nil {
			q.consumed = old.consumed
		}
	}
	if q.consumed == nil {
		q.consumed = &atomic.Uint64{}
		q.consumed.Store(s.Used)
	}
	b.e.stmtQuotas[key] = q
	return q
}

// StmtQuotaUsed returns the bytes the i-th statement of a rule, a quota,
// has consumed, capped at the quota as the kernel lists them
// (nft_quota_do_dump) (false if that statement is no quota).
func (e *Engine) StmtQuotaUsed(r *RuleInfo, i int) (uint64, bool) {
	for k, v := range e.ruleKeys {
		if v == r {
			if q := e.stmtQuotas[k+"\x00"+strconv.Itoa(i)]; q != nil {
				return min(q.consumed.Load(), q.bytes), true
			}
		}
	}
	return 0, false
}
