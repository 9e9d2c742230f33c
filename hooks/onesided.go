package hooks

import "github.com/nfdproject/nfd/parser"

// oneSided reports whether some connection can reach nfd's queues in one
// direction only, so that conntrack must ask the kernel what the other
// direction did (conntrack/onesided.go). A local connection's packets in
// (prerouting, input) and out (output, postrouting) take different hooks:
// with queued hooks on one of those sides and none on the other, nfd sees
// one direction of every such connection (an input chain without an
// output chain: the usual host firewall). Forwarded connections take
// prerouting, forward and postrouting both ways, so a forward chain alone
// sees both directions.
func oneSided(st *state) bool {
	for fi := range st.queued {
		q := &st.queued[fi]
		in := q[parser.HookPrerouting] || q[parser.HookInput]
		out := q[parser.HookOutput] || q[parser.HookPostrouting]
		if in != out {
			return true
		}
	}
	return false
}
