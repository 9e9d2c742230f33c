package rules

import (
	"testing"

	"github.com/nfdproject/nfd/packet"
)

// TestBinops: the left side's &, |, ^ fold into (f & mask) ^ xor, and `!`
// before flags means none of them set.
func TestBinops(t *testing.T) {
	e := compile(t, `table inet f {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport 81 tcp window ^ 0xfff0 == 0xf drop comment "xor"
		tcp dport 82 meta mark | 0x3 == 0x13 drop comment "or"
		tcp dport 83 tcp flags ! syn drop comment "neg"
		tcp dport 84 meta mark and 0xff00 or 0x1 == 0x101 drop comment "and-or"
	}
}`)
	out := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: tcpP, dport: 81, flags: packet.TCPSyn, hook: 3}
	expect(t, e, out, Drop, "xor")
	out.dport, out.mark = 82, 0x10
	expect(t, e, out, Drop, "or")
	out.mark = 0x20
	expect(t, e, out, Accept, "")
	out.dport = 83
	expect(t, e, out, Accept, "")
	out.flags = packet.TCPAck
	expect(t, e, out, Drop, "neg")
	out.dport, out.mark = 84, 0x1ff
	expect(t, e, out, Drop, "and-or")
}

// TestICMPOtherFamily: in an ip6 table `icmp type` depends only on the
// transport protocol (nft adds no family dependency outside inet), so an
// ICMPv4 message carried by IPv6 matches; in inet it does not.
func TestICMPOtherFamily(t *testing.T) {
	for _, tc := range []struct {
		fam  string
		want Verdict
	}{{"ip6", Drop}, {"inet", Accept}} {
		e := compile(t, `table `+tc.fam+` f {
	chain in {
		type filter hook input priority 0; policy accept;
		icmp type echo-request drop comment "icmp"
	}
}`)
		rule := map[Verdict]string{Drop: "icmp", Accept: ""}[tc.want]
		expect(t, e, pk{src: "fd00::1", dst: "fd00::2", proto: icmpP, icmpType: 8, hook: input}, tc.want, rule)
	}
}
