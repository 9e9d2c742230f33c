package parser

import "strings"

// nftNameKeywords are the words nft 1.0.6's scanner turns into keywords where
// a table, chain or set name is expected, so they cannot name one there
// (`chain accept { }` is "syntax error, unexpected accept, expecting
// string"). The list is measured, not copied: every word of nft(8) and of
// the acceptance corpus was tried as a chain name with `nft -c`, and these
// are the ones refused.
var nftNameKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`accept add ah all and arp auto-merge bridge cgroup chain comment comp
		constant continue counter cpu create ct day dccp define delete describe device devices dnat drop
		dst dup dynamic ecn element elements eq esp ether exists expires export exthdr fib flags flow
		flowtable flush frag fwd gc-interval ge get goto gt handle hbh hook hour ibriport ibrname icmp
		icmpv6 igmp iif iifgroup iifname iiftype import include index inet insert interval ip ip6 ipsec
		jhash jump le limit list log lshift lt map mark masquerade meta meter mh missing monitor ne netdev
		nftrace not notrack numgen obriport obrname offload oif oifgroup oifname oiftype or osf pkttype
		policy position priority queue quota random redefine redirect reject rename replace reset return
		rshift rt rt0 rt2 rtclassid rule ruleset sctp secmark set size skgid skuid snat socket srh symhash
		synproxy table tcp th time timeout tproxy type typeof udp udplite undefine update vlan vmap xor xt`) {
		m[w] = true
	}
	return m
}()

// MaxNameLen is the longest table, chain or set name the kernel takes
// (NFT_NAME_MAXLEN 256, with its terminating NUL).
const MaxNameLen = 255

// declName reads the name a table, chain or set is declared with and
// refuses what nft refuses there: a quoted string, a keyword, a number, a
// wildcard, more than MaxNameLen characters.
func (p *parser) declName(what string) (token, bool) {
	t, ok := p.name(what)
	if !ok {
		return t, false
	}
	switch {
	case t.kind == tString:
		p.errorf(t.pos, "found a quoted %s; nft takes only a bare name here", what)
		return t, false
	case nftNameKeywords[t.text]:
		p.errorf(t.pos, "`%s` is an nft keyword and cannot be a %s", t.text, what)
		return t, false
	case t.text[0] >= '0' && t.text[0] <= '9':
		p.errorf(t.pos, "found `%s`, a %s must not start with a digit", t.text, what)
		return t, false
	case strings.Contains(t.text, "*"):
		p.errorf(t.pos, "found `%s`, a %s cannot hold `*`", t.text, what)
		return t, false
	case len(t.text) > MaxNameLen:
		p.errorf(t.pos, "%s is %d characters long; the kernel takes at most %d", what, len(t.text), MaxNameLen)
		return t, false
	}
	return t, true
}
