package planner

import (
	"fmt"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// translateOne translates the single rule of an inet forward chain.
func translateOne(t *testing.T, rule string) []expr.Any {
	t.Helper()
	src := "table inet t {\n chain c { type filter hook forward priority 0;\n " + rule + "\n }\n}\n"
	rs, err := parser.Parse("t.nft", []byte(src))
	if err != nil {
		t.Fatalf("%s: %v", rule, err)
	}
	tb := rs.Tables[0]
	tr := &translator{t: tb, kt: &nftables.Table{Name: "t"}, sets: map[string]*nftables.Set{}, native: map[string]bool{}}
	out, err := tr.rule(tb.Chains[0].Rules[0])
	if err != nil {
		t.Fatalf("%s: %v", rule, err)
	}
	return out
}

// TestPayloadSetBytecode: payload statements translate to the bytecode
// nft 1.0.6 generates (`nft --debug=netlink`, recorded here).
func TestPayloadSetBytecode(t *testing.T) {
	nf4 := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{2}}}
	nf6 := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10}}}
	l4 := func(p byte) []expr.Any {
		return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}}}
	}
	load := func(base expr.PayloadBase, off, n uint32) expr.Any {
		return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: base, Offset: off, Len: n}
	}
	bw := func(mask, xor []byte) expr.Any {
		return &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(mask)), Mask: mask, Xor: xor}
	}
	write := func(base expr.PayloadBase, off, n uint32, ct expr.PayloadCsumType, co, fl uint32) expr.Any {
		return &expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: base, Offset: off, Len: n, CsumType: ct, CsumOffset: co, CsumFlags: fl}
	}
	imm := func(b ...byte) expr.Any { return &expr.Immediate{Register: 1, Data: b} }
	cat := func(parts ...any) []expr.Any {
		var out []expr.Any
		for _, p := range parts {
			switch p := p.(type) {
			case []expr.Any:
				out = append(out, p...)
			case expr.Any:
				out = append(out, p)
			}
		}
		return out
	}
	nhB, thB := expr.PayloadBaseNetworkHeader, expr.PayloadBaseTransportHeader
	inet := expr.CsumTypeInet
	for _, tc := range []struct {
		rule string
		want []expr.Any
	}{
		// [ payload load 2b @ network header + 0 => reg 1 ]
		// [ bitwise reg 1 = ( reg 1 & 0x000003ff ) ^ 0x00002000 ]
		// [ payload write reg 1 => 2b @ network header + 0 csum_type 1 csum_off 10 csum_flags 0x0 ]
		{"ip dscp set cs1", cat(nf4, load(nhB, 0, 2), bw([]byte{0xff, 0x03}, []byte{0, 0x20}), write(nhB, 0, 2, inet, 10, 0))},
		{"ip ttl set 64", cat(nf4, load(nhB, 8, 2), bw([]byte{0x00, 0xff}, []byte{0x40, 0}), write(nhB, 8, 2, inet, 10, 0))},
		{"ip saddr set 1.2.3.4", cat(nf4, imm(1, 2, 3, 4), write(nhB, 12, 4, inet, 10, 1))},
		{"tcp dport set 80", cat(l4(6), imm(0, 80), write(thB, 2, 2, inet, 16, 0))},
		{"udp sport set 53", cat(l4(17), imm(0, 53), write(thB, 0, 2, inet, 6, 0))},
		{"ip6 hoplimit set 1", cat(nf6, imm(1), write(nhB, 7, 1, expr.CsumTypeNone, 0, 0))},
		{"ip6 dscp set cs1", cat(nf6, load(nhB, 0, 2), bw([]byte{0xf0, 0x3f}, []byte{0x02, 0}), write(nhB, 0, 2, expr.CsumTypeNone, 0, 0))},
		{"ip6 daddr set ::1", cat(nf6, imm(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), write(nhB, 24, 16, expr.CsumTypeNone, 0, 1))},
		{"ip ecn set ce", cat(nf4, load(nhB, 0, 2), bw([]byte{0xff, 0xfc}, []byte{0, 0x03}), write(nhB, 0, 2, inet, 10, 0))},
		{"tcp flags set syn", cat(l4(6), load(thB, 12, 2), bw([]byte{0xff, 0}, []byte{0, 0x02}), write(thB, 12, 2, inet, 16, 0))},
		{"ip id set 1", cat(nf4, imm(0, 1), write(nhB, 4, 2, inet, 10, 0))},
		{"ip6 flowlabel set 1", cat(nf6, load(nhB, 1, 3), bw([]byte{0xf0, 0, 0}, []byte{0, 0, 1}), write(nhB, 1, 3, expr.CsumTypeNone, 0, 0))},
		{"icmp type set 8", cat(nf4, l4(1), load(thB, 0, 2), bw([]byte{0, 0xff}, []byte{8, 0}), write(thB, 0, 2, inet, 2, 0))},
		{"th dport set 1", cat(imm(0, 1), write(thB, 2, 2, expr.CsumTypeNone, 0, 0))},
		// [ immediate reg 1 0x00005005 ]  [ exthdr write tcpopt reg 1 => 2b @ 2 + 2 ]
		{"tcp option maxseg size set 1360", cat(imm(0x05, 0x50), &expr.Exthdr{SourceRegister: 1, Op: expr.ExthdrOpTcpopt, Type: 2, Offset: 2, Len: 2})},
		// [ rt load tcpmss => reg 1 ] [ byteorder reg 1 = hton(reg 1, 2, 2) ] [ exthdr write ... ]
		{"tcp option maxseg size set rt mtu", cat(&expr.Rt{Register: 1, Key: expr.RtTCPMSS},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 2, Size: 2},
			&expr.Exthdr{SourceRegister: 1, Op: expr.ExthdrOpTcpopt, Type: 2, Offset: 2, Len: 2})},
	} {
		got := translateOne(t, tc.rule)
		if fmt.Sprintf("%#v", deref(got)) != fmt.Sprintf("%#v", deref(tc.want)) {
			t.Errorf("%s:\n got  %#v\n want %#v", tc.rule, deref(got), deref(tc.want))
		}
	}
}

func deref(es []expr.Any) []any {
	var out []any
	for _, e := range es {
		out = append(out, fmt.Sprintf("%T%+v", e, e))
	}
	return out
}

// TestHashBytecode: jhash and symhash as nft 1.0.6 generates them:
//
//	[ payload load 4b @ network header + 12 => reg 2 ]
//	[ payload load 2b @ transport header + 2 => reg 13 ]
//	[ hash reg 1 = jhash(reg 2, 8, 0xdead) % mod 2 offset 100 ]
//	[ cmp eq reg 1 0x00000000 ]
func TestHashBytecode(t *testing.T) {
	got := translateOne(t, "jhash ip saddr . tcp dport mod 2 seed 0xdead offset 100 0")
	want := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{2}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}},
		&expr.Payload{DestRegister: 12, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Payload{DestRegister: 13, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Hash{SourceRegister: 12, DestRegister: 1, Length: 8, Modulus: 2, Seed: 0xdead, Offset: 100, Type: expr.HashTypeJenkins},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
	if fmt.Sprint(deref(got)) != fmt.Sprint(deref(want)) {
		t.Errorf("jhash:\n got  %v\n want %v", deref(got), deref(want))
	}
	got = translateOne(t, "symhash mod 2 1")
	want = []expr.Any{&expr.Hash{DestRegister: 1, Modulus: 2, Type: expr.HashTypeSym},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1, 0, 0, 0}}}
	if fmt.Sprint(deref(got)) != fmt.Sprint(deref(want)) {
		t.Errorf("symhash:\n got  %v\n want %v", deref(got), deref(want))
	}
}

// TestNftMergeBytecode: adjacent header matches merge as nft 1.0.6 merges
// them (payload_do_merge), recorded with `nft --debug=netlink`:
//
//	tcp sport != 22 tcp dport != 80  ->  load 4b @ th + 0; cmp neq 0x50001600
//	ip ttl 4 counter ip protocol 6 counter -> counter; load 2b @ nh + 8; cmp eq; counter
func TestNftMergeBytecode(t *testing.T) {
	l4 := []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}}}
	got := translateOne(t, "tcp sport != 22 tcp dport != 80")
	want := append(append([]expr.Any(nil), l4...), &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 4},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 22, 0, 80}})
	if fmt.Sprint(deref(got)) != fmt.Sprint(deref(want)) {
		t.Errorf("sport/dport:\n got  %v\n want %v", deref(got), deref(want))
	}
	got = translateOne(t, "ip ttl 4 counter ip protocol 6 counter")
	nf4 := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{2}}}
	want = append(append([]expr.Any{&expr.Counter{}}, nf4...), &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{4, 6}}, &expr.Counter{})
	if fmt.Sprint(deref(got)) != fmt.Sprint(deref(want)) {
		t.Errorf("ttl/protocol:\n got  %v\n want %v", deref(got), deref(want))
	}
	// not merged: different operators, addresses (over 32 bits)
	for _, r := range []string{"tcp sport != 22 tcp dport 80", "ip saddr 1.1.1.1 ip daddr 2.2.2.2"} {
		if n := len(translateOne(t, r)); n < 6 {
			t.Errorf("%s merged (%d expressions)", r, n)
		}
	}
}

// TestHostOrderIntervalSet: an interval set of a host-order key holds
// big-endian elements and the rule converts first, as nft does:
//
//	[ meta load skuid => reg 1 ]
//	[ byteorder reg 1 = hton(reg 1, 4, 4) ]
//	[ lookup reg 1 set __set0 0x0 ]   elements e8030000 (1000) ...
func TestHostOrderIntervalSet(t *testing.T) {
	src := "table inet t {\n chain c { type filter hook output priority 0;\n meta skuid { 1000-2000, 3000 }\n }\n}\n"
	rs, err := parser.Parse("t.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tb := rs.Tables[0]
	tr := &translator{t: tb, kt: &nftables.Table{Name: "t"}, sets: map[string]*nftables.Set{}, native: map[string]bool{}}
	got, err := tr.rule(tb.Chains[0].Rules[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %v", deref(got))
	}
	if bo, ok := got[1].(*expr.Byteorder); !ok || bo.Op != expr.ByteorderHton || bo.Len != 4 {
		t.Errorf("no hton before the lookup: %v", deref(got))
	}
	els := tr.pending[0].Elems
	if fmt.Sprintf("%x", els[0].Key) != "000003e8" {
		t.Errorf("first element %x, want big-endian 1000", els[0].Key)
	}
}

// TestOneFlagSet: nft turns a one-value anonymous set of flags into the
// plain value, which for a flag type means "any of these bits": `tcp
// flags { syn }` matches SYN|ACK in the kernel (found by the field oracle).
func TestOneFlagSet(t *testing.T) {
	got := deref(translateOne(t, "tcp flags { syn }"))
	want := deref(translateOne(t, "tcp flags syn"))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tcp flags { syn }:\n got  %v\n want %v", got, want)
	}
}
