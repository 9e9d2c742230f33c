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

// declName reads the name a table, chain, set, map, counter or quota is
// declared or referred to with (nft's `identifier`, a bare STRING token:
// declarations, `add`/`flush`/`delete` commands, `jump`/`goto` targets,
// `define` names) and refuses what nft refuses there: a quoted string, a
// keyword, a number, a wildcard, more than MaxNameLen characters.
func (p *parser) declName(what string) (token, bool) {
	return p.identName(what, nil)
}

// identName is declName where the scanner also reads the words of state
// as keywords (nft's start conditions: after `counter`, `name`, `packets`
// and `bytes` are keywords).
func (p *parser) identName(what string, state map[string]bool) (token, bool) {
	t, ok := p.name(what)
	if !ok {
		return t, false
	}
	switch {
	case t.kind == tString:
		// nft 1.0.6's identifier takes no quoted string (later nft
		// releases do); neither does nfd, so a file means the same to both.
		p.errorf(t.pos, "found a quoted %s; nft takes only a bare name here (a keyword cannot be a %s even quoted: rename it)", what, what)
		return t, false
	case nftNameKeywords[t.text] || state[t.text]:
		p.errorf(t.pos, "`%s` is an nft keyword and cannot be a %s (nft refuses it quoted too here: rename it)", t.text, what)
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

// Words nft's scanner reads as keywords only in a start condition
// (scanner.l), measured with nft -c like nftNameKeywords.
var (
	// after `@` (SCANSTATE_AT): the raw payload bases.
	atKeywords = map[string]bool{"ll": true, "nh": true}
	// after `counter` (SCANSTATE_COUNTER).
	counterKeywords = map[string]bool{"name": true, "packets": true, "bytes": true}
	// after `quota` (SCANSTATE_QUOTA).
	quotaKeywords = map[string]bool{"name": true, "bytes": true, "over": true, "until": true, "used": true}
)

// objKeywords are the start-condition keywords after an object's keyword.
func objKeywords(kind string) map[string]bool {
	if kind == "quota" {
		return quotaKeywords
	}
	return counterKeywords
}

// setRefOK refuses `@NAME` where nft's scanner reads NAME as a keyword:
// nft cannot refer to such a set (`@ll` is a raw payload base).
func (p *parser) setRefOK(t token) bool {
	if nftNameKeywords[t.text] || atKeywords[t.text] {
		p.errorf(t.pos, "`@%s`: `%s` is an nft keyword after `@`, so nft cannot refer to a set named so (rename the set)", t.text, t.text)
		return false
	}
	return true
}

// objRefName reads the object a `counter name` or `quota name` statement
// refers to: nft takes any string there, quoted too, but a bare keyword
// is a syntax error.
func (p *parser) objRefName(kind string) (token, bool) {
	t := p.peek()
	if t.kind != tWord && t.kind != tString {
		p.errorf(t.pos, "found %s, expected the name of a %s", t.describe(), kind)
		return t, false
	}
	if t.kind == tWord && (nftNameKeywords[t.text] || objKeywords(kind)[t.text]) {
		p.errorf(t.pos, "`%s` is an nft keyword here; quote it: \"%s\"", t.text, t.text)
		return t, false
	}
	return p.next(), true
}
