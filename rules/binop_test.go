package rules

import (
	"testing"

	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
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

// TestExthdrPastEnd: ipv6_find_hdr may point past a cut-off packet; the
// header is then present (`exthdr mh exists`) with no field to load, and
// nfd must neither panic nor load (a crafted packet, found by fuzzing).
func TestExthdrPastEnd(t *testing.T) {
	e := compile(t, `table ip6 f {
	chain in {
		type filter hook input priority 0; policy accept;
		mh type 1 drop comment "mh-type"
		exthdr mh exists counter comment "mh-exists"
	}
}`)
	b := []byte("000000+000000000000000000000000000000000\x87000")
	b[0] = 0x60 // version 6, as the fuzzer's bytes are not
	var p packet.Parsed
	p.Decode(b)
	var c Ctx
	c.Reset(&p, parser.HookInput)
	if d := e.Eval(&c); d.Verdict != Accept {
		t.Fatalf("verdict %s", d.Verdict)
	}
}
