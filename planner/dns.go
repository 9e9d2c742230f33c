package planner

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/parser"
)

// DNSChainPrefix names the chains that queue DNS messages to nfd in a
// table with sets filled from DNS answers (`dns names`).
const DNSChainPrefix = "nfd-dns-"

// DNSPlan is how a table sees DNS messages: the daemon sets Queue.
type DNSPlan struct {
	Queue uint16
}

// DNSChain is one of the chains that queue DNS messages. Answers are
// taken where they arrive, before any chain of the user's can drop them
// and before NAT rewrites their addresses back: prerouting (from the
// network) and output (the host's own resolver answering); queries where
// they leave, after source NAT: postrouting, and where they reach the
// host's own resolver: input. The priority is just after defragmentation
// (NF_IP_PRI_CONNTRACK_DEFRAG, -400), so the chains see whole datagrams,
// and postrouting's after source NAT (NF_IP_PRI_NAT_SRC, 100). The
// chains only queue, with the bypass flag, so DNS flows with nfd gone and
// an accept verdict goes on to the user's chains: they change no verdict.
type DNSChain struct {
	Name     string
	Hook     parser.Hook
	Priority int
	// Port is the transport header offset of the port compared with 53:
	// 0 (source port: answers) or 2 (destination port: queries).
	Port uint32
}

// DNSChains are the chains of a table with a DNSPlan.
func DNSChains() []DNSChain {
	return []DNSChain{
		{DNSChainPrefix + "prerouting", parser.HookPrerouting, -399, 0},
		{DNSChainPrefix + "output", parser.HookOutput, -399, 0},
		{DNSChainPrefix + "input", parser.HookInput, -399, 2},
		{DNSChainPrefix + "postrouting", parser.HookPostrouting, 399, 2},
	}
}

// Spec is the kernel chain (no table, no policy).
func (dc DNSChain) Spec() *nftables.Chain {
	return &nftables.Chain{Name: dc.Name, Type: nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookRef(nftables.ChainHook(dc.Hook)),
		Priority: nftables.ChainPriorityRef(nftables.ChainPriority(dc.Priority))}
}

// Matches are the matches of the chain's queue rules, one per transport
// protocol (`meta l4proto udp udp sport 53`, and tcp).
func (dc DNSChain) Matches() [][]expr.Any {
	var out [][]expr.Any
	for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
		out = append(out, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{proto}},
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: dc.Port, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0, 53}},
		})
	}
	return out
}

// dnsPlan returns a DNSPlan for a table with a set filled from DNS, or
// an error when one of the table's chains has the name of a DNS chain.
func dnsPlan(t *parser.Table) (*DNSPlan, error) {
	for _, s := range t.Sets {
		if s.DNS == nil {
			continue
		}
		for _, c := range t.Chains {
			for _, dc := range DNSChains() {
				if c.Name == dc.Name {
					return nil, errorf(c.Pos, "chain name `%s` is nfd's own in a table with a set filled from DNS answers (`dns names`); rename the chain", c.Name)
				}
			}
		}
		return &DNSPlan{}, nil
	}
	return nil, nil
}
