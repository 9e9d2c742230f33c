package nlbatch

import (
	"encoding/binary"
	"runtime"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Rules are the bulk of a large batch: 10^5 rules are 10^5 NEWRULE
// messages. AddRule lays one out directly, with the bytes google/nftables'
// Conn.AddRule gives it (rule.go newRule: table, chain, expressions; the
// flags of an append) but without the Conn's copies, its per-rule attribute
// slices and its lock, and with each expression's bytes reused when an
// equal scalar expression (a payload or meta load, a counter, a verdict)
// was marshalled before: expr.Marshal is a pure function of the family and
// the expression. TestAddRuleBytes compares both paths byte for byte.

// ruleFlags are the flags google/nftables gives an appended rule.
const ruleFlags = netlink.Request | netlink.Acknowledge | netlink.Create | unix.NLM_F_ECHO | unix.NLM_F_APPEND

const newRuleType = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWRULE)

// exprMemo holds the bytes of expressions already marshalled, by family
// and value, for the types whose fields are all scalars. Typed maps: a key
// boxed in an interface would cost an allocation per lookup.
type exprMemo struct {
	n       int
	payload map[memoKey[expr.Payload]][]byte
	meta    map[memoKey[expr.Meta]][]byte
	counter map[memoKey[expr.Counter]][]byte
	verdict map[memoKey[expr.Verdict]][]byte
	ct      map[memoKey[expr.Ct]][]byte
}

type memoKey[T comparable] struct {
	fam byte
	e   T
}

// maxMemo bounds the reused expressions (verdicts name chains, so a
// ruleset of many chains has many).
const maxMemo = 4096

func lookup[T comparable](m *exprMemo, mp *map[memoKey[T]][]byte, fam byte, e *T, ae expr.Any) ([]byte, error) {
	k := memoKey[T]{fam, *e}
	if b, ok := (*mp)[k]; ok {
		return b, nil
	}
	b, err := expr.Marshal(fam, ae)
	if err == nil && m.n < maxMemo {
		if *mp == nil {
			*mp = map[memoKey[T]][]byte{}
		}
		(*mp)[k] = b
		m.n++
	}
	return b, err
}

// marshal returns e's bytes (expr.Marshal), reused when an equal
// expression was marshalled before.
func (m *exprMemo) marshal(fam byte, e expr.Any) ([]byte, error) {
	switch x := e.(type) {
	case *expr.Payload:
		return lookup(m, &m.payload, fam, x, e)
	case *expr.Meta:
		return lookup(m, &m.meta, fam, x, e)
	case *expr.Counter:
		return lookup(m, &m.counter, fam, x, e)
	case *expr.Verdict:
		return lookup(m, &m.verdict, fam, x, e)
	case *expr.Ct:
		return lookup(m, &m.ct, fam, x, e)
	}
	return expr.Marshal(fam, e)
}

// AddRule appends r to its chain, tagged tag. A rule google/nftables adds
// more to (a handle, a position, user data, flags, xt compat
// expressions) goes through its Conn instead.
func (b *Batch) AddRule(r *nftables.Rule, tag any) {
	if b.viaConn || r.Handle != 0 || r.Position != 0 || r.Flags != 0 || r.UserData != nil {
		b.rec.AddRule(r)
		b.Tag(tag)
		return
	}
	hasCt := false
	for _, e := range r.Exprs {
		switch e.(type) {
		case *expr.Match, *expr.Target:
			b.rec.AddRule(r)
			b.Tag(tag)
			return
		case *expr.Ct:
			hasCt = true
		}
	}
	if b.err != nil {
		return
	}
	b.capture() // what the Conn queued goes first
	// Laid out later, on every core, when the batch's messages are taken
	// (layoutPending): its place in the batch is kept now.
	b.pending = append(b.pending, pendingRule{at: len(b.msgs), r: r, hasCt: hasCt})
	b.msgs = append(b.msgs, netlink.Message{})
	b.tags = append(b.tags, tag)
}

// pendingRule is a rule AddRule took, to be laid out at msgs[at].
type pendingRule struct {
	at    int
	r     *nftables.Rule
	hasCt bool
}

// minPerWorker is the fewest rules worth a goroutine of their own.
const minPerWorker = 2048

// layoutPending lays out the rules AddRule took into their messages,
// splitting them over the cores (each worker with its own memo): at 10^5
// rules marshalling is a third of a second on one core. The first error,
// in batch order, fails the batch.
func (b *Batch) layoutPending() {
	p := b.pending
	b.pending = b.pending[:0]
	if len(p) == 0 || b.err != nil {
		return
	}
	// layout lays out a run of rules with one memo; an error ends it.
	layout := func(memo *exprMemo, scratch *[][]byte, run []pendingRule) error {
		for _, pr := range run {
			if err := b.layoutRule(memo, scratch, pr); err != nil {
				return err
			}
		}
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(p)/minPerWorker)
	if workers <= 1 {
		if err := layout(&b.memo, &b.scratch, p); err != nil {
			b.fail(err)
		}
		return
	}
	errs := make([]error, workers)
	per := (len(p) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		chunk := p[min(w*per, len(p)):min((w+1)*per, len(p))]
		memo, scratch := &exprMemo{}, &[][]byte{}
		if w == 0 {
			memo, scratch = &b.memo, &b.scratch
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = layout(memo, scratch, chunk)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.fail(err)
			return
		}
	}
}

// layoutRule lays out one rule's NEWRULE message at b.msgs[pr.at]. It
// only reads the batch's state (the object maps MarkObjMap noted), so
// workers run it side by side.
func (b *Batch) layoutRule(memo *exprMemo, scratch *[][]byte, pr pendingRule) error {
	r := pr.r
	fam := byte(r.Table.Family)
	// The expressions' bytes, then the message in one buffer.
	exprs := (*scratch)[:0]
	size := 4 + attrLen(len(r.Table.Name)+1) + attrLen(len(r.Chain.Name)+1) + 4
	for _, e := range r.Exprs {
		eb, err := memo.marshal(fam, e)
		if err != nil {
			return err
		}
		exprs = append(exprs, eb)
		size += attrLen(len(eb))
	}
	*scratch = exprs[:0]
	buf := make([]byte, 0, size)
	buf = append(buf, fam, unix.NFNETLINK_V0, 0, 0)
	buf = appendStrAttr(buf, unix.NFTA_RULE_TABLE, r.Table.Name)
	buf = appendStrAttr(buf, unix.NFTA_RULE_CHAIN, r.Chain.Name)
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0) // NFTA_RULE_EXPRESSIONS, its length below
	for _, eb := range exprs {
		buf = appendAttr(buf, unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, eb)
	}
	putAttrHeader(buf[start:], unix.NLA_F_NESTED|unix.NFTA_RULE_EXPRESSIONS, len(buf)-start)
	for i := range exprs {
		exprs[i] = nil
	}
	m := netlink.Message{Header: netlink.Header{Type: newRuleType, Flags: ruleFlags}, Data: buf}
	// The rewrites record() makes of a rule the Conn marshalled.
	if pr.hasCt {
		fixCtDirections(&m)
	}
	b.fixObjMaps(&m)
	fixShifts(&m)
	fixRawExprs(&m)
	b.msgs[pr.at] = m
	return nil
}

// attrLen is the aligned length of an attribute with n bytes of data.
func attrLen(n int) int { return nlmsgAlign(4 + n) }

func putAttrHeader(b []byte, typ uint16, l int) {
	binary.NativeEndian.PutUint16(b[0:], uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
}

// appendAttr appends one attribute, padded as netlink.MarshalAttributes
// pads it.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	var h [4]byte
	putAttrHeader(h[:], typ, 4+len(data))
	b = append(b, h[:]...)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendStrAttr(b []byte, typ uint16, s string) []byte {
	var h [4]byte
	putAttrHeader(h[:], typ, 4+len(s)+1)
	b = append(b, h[:]...)
	b = append(b, s...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
