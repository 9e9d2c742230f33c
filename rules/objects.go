package rules

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/nfdproject/nfd/parser"
)

// Named counters and quotas: one state per object of a table, shared by
// every rule that names it (nft_objref), carried over a reload while the
// object keeps its name.

// objKey names an object across reloads.
func objKey(t *parser.Table, o *parser.Object) string {
	return t.Family.String() + "\x00" + t.Name + "\x00" + o.Kind + "\x00" + o.Name
}

// ObjectCounter returns the state of a named counter.
func (e *Engine) ObjectCounter(t *parser.Table, name string) *Counters {
	if o := t.Object("counter", name); o != nil {
		return e.objCounters[objKey(t, o)]
	}
	return nil
}

// ObjectQuotaUsed returns a named quota's used bytes, capped at the quota
// as the kernel lists them.
func (e *Engine) ObjectQuotaUsed(t *parser.Table, name string) (uint64, bool) {
	if o := t.Object("quota", name); o != nil {
		if q := e.objQuotas[objKey(t, o)]; q != nil {
			return min(q.consumed.Load(), q.bytes), true
		}
	}
	return 0, false
}

func (b *builder) compileObjRef(t *parser.Table, s *parser.ObjRef) (op, error) {
	if parser.KernelObjType(s.Kind) != 0 {
		// Runs only natively: the planner refuses any plan that would
		// have nfd evaluate this rule (planner.checkKernelOnly).
		return op{}, nil
	}
	if s.Map != nil {
		return b.compileObjMap(t, s)
	}
	o := t.Object(s.Kind, s.Name)
	if o == nil {
		return op{}, fmt.Errorf("undefined %s %s", s.Kind, s.Name)
	}
	return b.objOp(t, o)
}

// compileObjMap is `counter|quota|limit name KEY map { k : "obj", ... }`
// (nft_objref_map_eval): the object the key's element names counts or
// decides; a key no element holds breaks the rule.
func (b *builder) compileObjMap(t *parser.Table, s *parser.ObjRef) (op, error) {
	els, find, err := b.mapIndex(t, s.Map)
	if err != nil {
		return op{}, err
	}
	ops := make([]op, len(els))
	for i, e := range els {
		name := strings.TrimRight(string(e.Data), "\x00")
		o := t.Object(s.Kind, name)
		if o == nil {
			return op{}, fmt.Errorf("undefined %s %s", s.Kind, name)
		}
		if ops[i], err = b.objOp(t, o); err != nil {
			return op{}, err
		}
	}
	return op{match: func(c *Ctx) bool {
		i, ok := find(c)
		if !ok {
			return false
		}
		if o := ops[i]; o.match != nil {
			return o.match(c)
		}
		ops[i].exec(c)
		return true
	}}, nil
}

// objOp is what naming object o does: count in it, or ask it.
func (b *builder) objOp(t *parser.Table, o *parser.Object) (op, error) {
	k := objKey(t, o)
	switch o.Kind {
	case "counter":
		c := b.e.objCounters[k]
		if c == nil {
			if b.opts.Prev != nil {
				c = b.opts.Prev.objCounters[k]
			}
			if c == nil {
				c = &Counters{}
				c.Packets.Store(o.Counter.Packets)
				c.Bytes.Store(o.Counter.Bytes)
			}
			b.e.objCounters[k] = c
		}
		return op{exec: func(cx *Ctx) *verdict {
			c.Packets.Add(1)
			c.Bytes.Add(uint64(cx.P.Len()))
			return nil
		}}, nil
	case "quota":
		q := b.e.objQuotas[k]
		if q == nil {
			q = &quota{bytes: o.Quota.Bytes, over: o.Quota.Over}
			if b.opts.Prev != nil {
				if old := b.opts.Prev.objQuotas[k]; old != nil && old.bytes == q.bytes {
					q.consumed = old.consumed
				}
			}
			if q.consumed == nil {
				q.consumed = &atomic.Uint64{}
				q.consumed.Store(o.Quota.Used)
			}
			b.e.objQuotas[k] = q
		}
		return op{match: q.match}, nil
	case "limit":
		// One token bucket per object, shared by the rules naming it
		// (nft_limit_obj_eval). It starts full, and keeps its tokens
		// across a reload that keeps the object unchanged.
		l := b.e.objLimits[k]
		if l == nil {
			l = newLimiter(&o.Limit, b.opts.Now)
			if b.opts.Prev != nil {
				if old := b.opts.Prev.objLimits[k]; old != nil && old.sameBucket(l) {
					l = old
				}
			}
			b.e.objLimits[k] = l
		}
		return op{match: l.match}, nil
	}
	return op{}, fmt.Errorf("unsupported object %s", o.Kind)
}
