// Package nlbatch sends an nftables transaction of any size as one
// netlink batch, the way nft does (nftables src/mnl.c: mnl_batch_talk).
//
// google/nftables v0.3.0 builds the messages well but sends them badly for
// large rulesets: Conn.Flush writes the whole batch in one sendmsg without
// sizing the socket's send buffer (netlink_sendmsg refuses a message longer
// than sk_sndbuf - 32: EMSGSIZE at a few hundred rules), asks for an
// acknowledgement of every message (10^5 acks overflow any receive buffer:
// ENOBUFS, which then reads as a failure of a batch that committed) and
// puts all of a set's elements in one NEWSETELEM message, whose nested
// attribute length is a u16.
//
// Here a Batch records the messages google/nftables marshals (through a
// Conn whose netlink side is a recorder, nftables.WithTestDial), adds set
// elements in chunks, and Send writes them between one BATCH_BEGIN and one
// BATCH_END in a single sendmsg on a socket whose SO_SNDBUFFORCE fits the
// batch. nfnetlink_rcv_batch runs the whole batch inside that sendmsg:
// every message, then commit or abort, all or nothing, whatever its size.
// Only the last message asks for an acknowledgement; errors are reported
// whatever the flags (nfnetlink_rcv_batch: `if (nlh->nlmsg_flags &
// NLM_F_ACK || err)`), each carrying the sequence number of the message
// that failed, so Send names the failing message.
package nlbatch

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Batch is one transaction being built. Add messages through Conn (each
// google/nftables call that queues one message: AddTable, AddChain,
// AddRule, InsertRule, ReplaceRule, DelRule, DelSet, FlushTable, ...) and
// then call Tag once per message with what it is about; sets go through
// AddSet so their elements are chunked.
type Batch struct {
	rec  *nftables.Conn
	msgs []netlink.Message
	tags []any
	// queued counts the messages added through rec since the last capture.
	queued int
	err    error
	// hostSets are the IDs of sets whose keys are in host byte order
	// (see fixKeyByteOrder).
	hostSets map[uint32]bool
	// objMaps are the IDs of object maps and their object type (see
	// MarkObjMap).
	objMaps map[uint32]uint32
	// dormant are the tables to add dormant (see MarkDormant).
	dormant map[string]bool
	// memo and scratch serve AddRule (rule.go); pending are the rules it
	// took, laid out when the messages are taken (layoutPending).
	memo    exprMemo
	scratch [][]byte
	pending []pendingRule
	viaConn bool // AddRule through the Conn (NewViaConn)
}

// New returns an empty batch.
func New() *Batch {
	b := &Batch{}
	rec, err := nftables.New(nftables.WithTestDial(b.record), nftables.AsLasting())
	if err != nil {
		b.err = err
	}
	b.rec = rec
	return b
}

// NewViaConn returns an empty batch whose AddRule goes through
// google/nftables' Conn, as every rule did before AddRule: the reference
// the direct path is compared with.
func NewViaConn() *Batch {
	b := New()
	b.viaConn = true
	return b
}

// Conn is where messages are added; nothing is sent until Send.
func (b *Batch) Conn() *nftables.Conn { return b.rec }

// Tag names the next message added through Conn (for errors).
func (b *Batch) Tag(t any) {
	b.tags = append(b.tags, t)
	b.queued++
}

// record is the fake netlink: a batch written by Flush is kept (without
// its begin and end), and every read answers with an acknowledgement.
func (b *Batch) record(req []netlink.Message) ([]netlink.Message, error) {
	if req == nil {
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 20)}}, nil
	}
	if len(req) >= 2 {
		for i := 1; i < len(req)-1; i++ {
			fixCtDirections(&req[i])
			b.fixKeyByteOrder(&req[i])
			b.fixObjMaps(&req[i])
			fixShifts(&req[i])
			fixRawExprs(&req[i])
			fixMapData(&req[i])
			b.fixDormant(&req[i])
		}
		b.msgs = append(b.msgs, req[1:len(req)-1]...)
	}
	return nil, nil
}

// capture moves what Conn has queued into the batch.
func (b *Batch) capture() {
	if b.err != nil || b.queued == 0 {
		return
	}
	before := len(b.msgs)
	if err := b.rec.Flush(); err != nil {
		b.err = fmt.Errorf("marshalling the nftables batch: %w", err)
		return
	}
	if got := len(b.msgs) - before; got != b.queued {
		b.err = fmt.Errorf("nlbatch: %d messages tagged, %d marshalled", b.queued, got)
	}
	b.queued = 0
}

// maxElemBytes bounds the elements of one NEWSETELEM message: their
// nested attribute's length is a u16 (nla_len), so nft splits elements
// over several messages of the same batch.
const maxElemBytes = 48 << 10

// elemSize over-estimates the bytes an element takes in a NEWSETELEM
// message (google/nftables set.go makeElemList).
func elemSize(e *nftables.SetElement) int {
	n := 64 + len(e.Key) + len(e.KeyEnd) + len(e.Val) + len(e.Comment)
	if e.VerdictData != nil {
		n += 32 + len(e.VerdictData.Chain)
	}
	return n
}

// AddSet adds a set and its elements, the elements in as many messages as
// they need; tag names every one of them.
func (b *Batch) AddSet(s *nftables.Set, elems []nftables.SetElement, tag any) {
	if s.KeyByteOrder == binaryutil.NativeEndian {
		if b.hostSets == nil {
			b.hostSets = map[uint32]bool{}
		}
		b.hostSets[s.ID] = true
	}
	total := 0
	for i := range elems {
		total += elemSize(&elems[i])
	}
	if total <= maxElemBytes {
		if err := b.rec.AddSet(s, elems); err != nil {
			b.fail(err)
			return
		}
		b.Tag(tag)
		if len(elems) > 0 {
			b.Tag(tag)
		}
		return
	}
	if err := b.rec.AddSet(s, nil); err != nil {
		b.fail(err)
		return
	}
	b.Tag(tag)
	b.AddElements(s, elems, tag)
}

// AddElements adds elements to a set of this batch or of the kernel, in
// chunks. An anonymous set takes elements until a rule binds it
// (nf_tables_newsetelem refuses them once bound), so they go right after
// its AddSet.
func (b *Batch) AddElements(s *nftables.Set, elems []nftables.SetElement, tag any) {
	b.elems(s, elems, tag, false)
}

// DeleteElements removes elements from a set, in chunks.
func (b *Batch) DeleteElements(s *nftables.Set, elems []nftables.SetElement, tag any) {
	b.elems(s, elems, tag, true)
}

// DestroyElements removes elements from a set of the kernel, in chunks,
// as NFT_MSG_DESTROYSETELEM (Linux 6.3): an element that is no longer
// there (timed out, or deleted by a rule's `delete @set`) is no error
// (nf_tables_delsetelem ignores ENOENT for it), where DeleteElements
// would fail the whole batch.
func (b *Batch) DestroyElements(s *nftables.Set, elems []nftables.SetElement, tag any) {
	b.capture()
	start := len(b.msgs)
	b.elems(s, elems, tag, true)
	b.capture()
	for i := start; i < len(b.msgs); i++ {
		b.msgs[i].Header.Type = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msgDestroySetElem)
	}
}

// msgDestroySetElem is NFT_MSG_DESTROYSETELEM (x/sys lacks it).
const msgDestroySetElem = 30

func (b *Batch) elems(s *nftables.Set, elems []nftables.SetElement, tag any, del bool) {
	// SetAddElements refuses anonymous sets; the kernel finds one by
	// NFTA_SET_ELEM_LIST_SET_ID when its name ("__set%d") is not found
	// (nft_set_lookup_global).
	named := *s
	named.Anonymous = false
	for len(elems) > 0 {
		n, size := 0, 0
		for n < len(elems) && (n == 0 || size+elemSize(&elems[n]) <= maxElemBytes) {
			size += elemSize(&elems[n])
			n++
		}
		var err error
		if del {
			err = b.rec.SetDeleteElements(&named, elems[:n])
		} else {
			err = b.rec.SetAddElements(&named, elems[:n])
		}
		if err != nil {
			b.fail(err)
			return
		}
		b.Tag(tag)
		elems = elems[n:]
		if b.queued >= 4096 {
			b.capture()
		}
	}
}

func (b *Batch) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// Messages returns the batch's messages and their tags.
func (b *Batch) Messages() ([]netlink.Message, []any, error) {
	b.capture()
	b.layoutPending()
	return b.msgs, b.tags, b.err
}

// Len is the number of messages in the batch.
func (b *Batch) Len() int { return len(b.msgs) + b.queued }
