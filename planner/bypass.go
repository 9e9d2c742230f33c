package planner

import (
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/rules"
)

// Flow bypass. When nfd accepts a packet with a rule after which nothing
// can change the verdict for the rest of its flow, it sets the chain's
// bypass bit in the packet's mark; a native chain right after (priority
// +1) copies the bit to the connection's mark (this kernel ignores a
// verdict's connmark), and a native rule just before the chain's queue
// rule accepts original-direction packets of marked connections. The flow
// then never leaves the kernel again; the native prefix of the chain still
// runs for every packet.
//
// Exactness: a flow is bypassed only when the deciding rule accepts and it
// and every userspace rule before it (from the chain's first queued rule)
// look only at flow-constant properties (addresses, ports, protocol,
// interfaces, the layer-7 name once the flow has it) with no statement but the
// verdict. Rules that look at per-packet properties (TCP flags, lengths,
// TTL, ICMP type, marks, conntrack state or direction), and counters, logs,
// limits, mark statements, jumps and maps before or in the deciding rule,
// keep a flow from being bypassed: their results could differ for later
// packets, or their counts must stay exact.

// BypassChainPrefix names the copy chain of a queued base chain.
const BypassChainPrefix = "nfd-bypass-"

// constantRule reports whether a rule's matches are all flow-constant and
// its only other statement is a plain verdict (accept, drop, reject).
func constantRule(r *parser.Rule) (ok bool, accepts bool) {
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *parser.Match:
			for _, k := range s.Keys {
				if !k.FlowConst() {
					return false, false
				}
			}
		case *parser.Verdict:
			switch s.Kind {
			case parser.VerdictAccept:
				accepts = true
			case parser.VerdictDrop:
			default:
				return false, false
			}
		case *parser.Reject:
		default:
			return false, false
		}
	}
	return true, accepts
}

// bypassRules marks, for a chain queued from rule start, the rules whose
// accept may bypass the flow, and for each the layer-7 names (a bitmask of
// 1<<conntrack.Name*) the rules from start up to it match: a flow is
// bypassed only once it has all of them (rules.Ctx.KnowsNames). Before
// its name arrives a name rule has not had its say: `tls sni "x" drop`
// followed by `tcp dport 443 accept` must not hand the flow to the kernel
// on its SYN, or the ClientHello would never be judged.
func bypassRules(c *parser.Chain, start int) (bypass []bool, names []uint8) {
	bypass, names = make([]bool, len(c.Rules)), make([]uint8, len(c.Rules))
	var need uint8
	for i := start; i < len(c.Rules); i++ {
		ok, accepts := constantRule(c.Rules[i])
		if !ok {
			break
		}
		need |= rules.NameKindsOf(c.Rules[i])
		bypass[i], names[i] = accepts, need
	}
	return bypass, names
}

// BypassAcceptExprs: ct direction original, ct mark & bit == bit, accept.
func BypassAcceptExprs(bit uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0}},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bit), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(bit)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// BypassCopyExprs: meta mark & bit == bit → ct mark set (ct mark & ^bit) ^ bit.
func BypassCopyExprs(bit uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bit), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(bit)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(^bit), Xor: binaryutil.NativeEndian.PutUint32(bit)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1, SourceRegister: true},
	}
}
