package kernel

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/planner"
)

// dnsChains lays out the chains that queue a table's DNS messages
// (planner.DNSChains): each queues UDP and TCP messages of port 53 to the
// DNS queue with the bypass flag (with nfd gone, DNS keeps flowing) and
// accepts the rest, which goes on to the user's chains.
func dnsChains(mode QueueMode, tp *planner.TablePlan) []*wantChain {
	var out []*wantChain
	for _, dc := range planner.DNSChains() {
		policy := nftables.ChainPolicyAccept
		spec := dc.Spec()
		spec.Table, spec.Policy = tp.Kernel, &policy
		wc := &wantChain{spec: spec, tag: batchTag{tp: tp, chain: dc.Name, what: "DNS chain"}}
		for _, m := range dc.Matches() {
			exprs := append(append(m, &expr.Counter{}), queueExprs(mode, tp.DNS.Queue, 1, true)...)
			wc.rules = append(wc.rules, wantRule{exprs: exprs, tag: batchTag{tp: tp, chain: dc.Name, what: "DNS queue rule"}})
		}
		out = append(out, wc)
	}
	return out
}

// SetElems are elements for one kernel set.
type SetElems struct {
	Set   *nftables.Set
	Elems []nftables.SetElement
}

// AddElements adds elements to sets nfd programmed, as one transaction in
// the network namespace netnsFd (0: the current one). It returns once the
// kernel acknowledged the batch: the elements are then in the sets.
func AddElements(netnsFd int, adds []SetElems) error {
	b := nlbatch.New()
	for _, a := range adds {
		b.AddElements(a.Set, a.Elems, batchTag{set: a.Set.Name, what: "learned elements"})
	}
	msgs, tags, err := b.Messages()
	if err != nil {
		return err
	}
	return nlbatch.Send(netnsFd, msgs, tags)
}

// ElemWriter adds learned elements over one long-lived socket: the DNS
// reader's latency path (an answer waits for its transaction).
type ElemWriter struct{ s *nlbatch.Sender }

// NewElemWriter opens the writer's socket in the network namespace
// netnsFd (0: the current one).
func NewElemWriter(netnsFd int) (*ElemWriter, error) {
	s, err := nlbatch.NewSender(netnsFd)
	if err != nil {
		return nil, err
	}
	return &ElemWriter{s: s}, nil
}

// Add adds elements as one transaction and returns once the kernel
// acknowledged it.
func (w *ElemWriter) Add(adds []SetElems) error {
	b := w.s.Batch()
	for _, a := range adds {
		b.AddElements(a.Set, a.Elems, batchTag{set: a.Set.Name, what: "learned elements"})
	}
	return w.s.Send(b)
}

// Close closes the socket.
func (w *ElemWriter) Close() { _ = w.s.Close() }
