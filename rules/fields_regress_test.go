package rules

import (
	"encoding/binary"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/packet/checksum"
	"github.com/nfdproject/nfd/parser"
)

// Minimal cases for each difference TestFieldsKernelOracle found between
// the kernel and the engine, checked against the kernel the same way.

// rgTCP is an IPv4 (or IPv6) TCP packet whose header carries opts.
func rgTCP(v6 bool, opts []byte) []byte {
	src, dst := m4src, m4dst
	if v6 {
		src, dst = m6src, m6dst
	}
	b := pktgen.Build(pktgen.Opts{Src: src, Dst: dst, Proto: 6, Sport: 1000, Dport: 80, TCPFlags: 2, Payload: opts})
	l4 := 20
	if v6 {
		l4 = 40
	}
	b[l4+12] = byte((20+len(opts))/4) << 4
	return b
}

// rgIPOpts is an IPv4 UDP packet with the option area opts (a multiple
// of 4 bytes).
func rgIPOpts(opts []byte) []byte {
	b := pktgen.Build(pktgen.Opts{Src: m4src, Dst: m4dst, Proto: 17, Sport: 1000, Dport: 53, IPOptions: len(opts)})
	copy(b[20:], opts)
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], checksum.Checksum(0, b[:20+len(opts)]))
	return b
}

func rgRaw(v6 bool, proto uint8, ext []uint8, payload []byte, o pktgen.Opts) []byte {
	o.Src, o.Dst, o.Proto, o.Ext6, o.Payload = m4src, m4dst, proto, ext, payload
	if v6 {
		o.Src, o.Dst = m6src, m6dst
	}
	return pktgen.Build(o)
}

func rgCheck(t *testing.T, tag string, rules []string, pkts [][]byte) {
	t.Helper()
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, tag, "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	ofWarm(t, inj, k)
	diffs, refused := ofRun(t, inj, k, map[string][]string{"inet": rules}, pkts, make([]string, len(pkts)))
	for _, r := range refused {
		t.Errorf("nft refuses: %s", r)
	}
	for _, d := range diffs {
		t.Errorf("%s", d)
	}
}

// TestFieldsRegressTCPOption: an option whose length runs past the
// header is not found, and the search stops there (nft_exthdr_tcp_eval's
// `i + optl > tcphdr_len`); a field past the option's own length does not
// load; `missing` matches packets of other protocols (nft adds no
// dependency).
func TestFieldsRegressTCPOption(t *testing.T) {
	rules := []string{
		"tcp option maxseg exists",
		"tcp option maxseg missing",
		"tcp option maxseg size 1460",
		"tcp option maxseg size != 1",
		"tcp option sack exists",
		"tcp option sack left 0",
		"tcp option window count 7",
		"tcp option sack-perm missing",
		"sctp chunk data missing",
		"sctp chunk init exists",
	}
	pkts := [][]byte{
		rgTCP(false, []byte{2, 4, 5, 0xb4}),                           // MSS 1460
		rgTCP(false, []byte{2, 42, 5, 0xb4}),                          // MSS claiming 42 bytes
		rgTCP(true, []byte{1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 5, 0xb4}),    // MSS ending exactly at the header's end
		rgTCP(true, []byte{5, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),      // SACK claiming 50 bytes
		rgTCP(false, []byte{3, 2, 7, 0}),                              // window scale with length 2: count is past it
		rgTCP(false, []byte{2, 0, 2, 4, 5, 0xb4, 0, 0}),               // zero length counts one byte
		rgRaw(false, 17, nil, make([]byte, 8), pktgen.Opts{Sport: 1}), // UDP: no TCP option, no chunk
	}
	rgCheck(t, "rt", rules, pkts)
}

// TestFieldsRegressIPOption: `ip option` fields are evaluated
// (ipv4_find_option): options that fail __ip_options_compile hide them
// all; a router alert counts only with value 0.
func TestFieldsRegressIPOption(t *testing.T) {
	rules := []string{
		"ip option rr exists",
		"ip option rr missing",
		"ip option rr ptr 4",
		"ip option rr addr 1",
		"ip option ra exists",
		"ip option ra value 0",
		"ip option lsrr exists",
		"ip option ssrr exists",
		"ip option lsrr addr 0x0a000001",
	}
	pkts := [][]byte{
		rgIPOpts([]byte{7, 7, 4, 0, 0, 0, 1, 0}),                         // record route
		rgIPOpts([]byte{148, 4, 0, 0}),                                   // router alert
		rgIPOpts([]byte{148, 4, 0, 1}),                                   // router alert, value 1: not one
		rgIPOpts([]byte{131, 7, 4, 10, 0, 0, 1, 0}),                      // loose source route
		rgIPOpts([]byte{137, 7, 4, 10, 0, 0, 1, 0}),                      // strict source route
		rgIPOpts([]byte{131, 7, 8, 10, 0, 0, 1, 0}),                      // source route, pointer 8: refused
		rgIPOpts([]byte{7, 7, 4, 0, 0, 0, 1, 7, 7, 4, 0, 0, 0, 1, 0, 0}), // two record routes
		rgIPOpts([]byte{1, 1, 1, 1}),                                     // no option
	}
	rgCheck(t, "ri", rules, pkts)
}

// TestFieldsRegressPayloadPaths: on a later fragment the kernel loads
// 1-, 2- and 4-byte aligned transport fields (nft_payload_fast_eval) but
// not others (nft_payload_eval checks fragoff); ICMP fields only some
// messages have carry nft's type dependency; comp flags compares with ==;
// a 1-byte ICMPv6 header has a type and a 3-byte UDP header a source
// port; an MH header announced past the end exists and loads nothing
// (the engine panicked there); an anonymous set of one tcp_flag value is
// that value without an operator: any of its bits.
func TestFieldsRegressPayloadPaths(t *testing.T) {
	rules := []string{
		"tcp sequence 7",
		"tcp ackseq != 1",
		"@th,40,16 != 1",
		"tcp doff 5",
		"icmp id 5",
		"icmp mtu 5",
		"icmpv6 mtu 1280",
		"icmpv6 id 5",
		"comp flags 0xc3",
		"comp flags 0x83",
		"tcp flags { 0x2f }",
		"tcp flags { syn }",
		"tcp flags != { syn }",
		"udp sport 1000",
		"icmpv6 type echo-request",
		"exthdr mh exists",
		"mh type 0",
	}
	echoLike := func(typ uint8, v6 bool, id uint16) []byte {
		p := rgRaw(v6, map[bool]uint8{false: 1, true: 58}[v6], nil, nil, pktgen.Opts{ICMPType: typ, ICMPID: id})
		return p
	}
	ptb := rgRaw(true, 58, nil, nil, pktgen.Opts{ICMPType: 2})
	binary.BigEndian.PutUint32(ptb[44:], 1280)
	pkts := [][]byte{
		rgRaw(false, 6, nil, nil, pktgen.Opts{Sport: 1, Dport: 2, Seq: 7, FragOff: 3}),
		rgRaw(true, 6, []uint8{44}, nil, pktgen.Opts{Sport: 1, Dport: 2, Seq: 7, FragOff: 3}),
		echoLike(8, false, 5), echoLike(3, false, 5), echoLike(3, false, 0),
		// a later fragment whose data starts like an echo request: the
		// type dependency is a fast-path load too
		rgRaw(false, 1, nil, nil, pktgen.Opts{ICMPType: 8, ICMPID: 5, FragOff: 3}),
		rgRaw(true, 58, []uint8{44}, nil, pktgen.Opts{ICMPType: 128, ICMPID: 5, FragOff: 3}),
		ptb, echoLike(128, true, 5), echoLike(1, true, 5),
		rgRaw(false, 108, nil, []byte{6, 0x83, 0, 1}, pktgen.Opts{}),
		rgRaw(false, 17, nil, nil, pktgen.Opts{Sport: 1000, Dport: 53, Cut: 5}),
		rgRaw(true, 58, nil, nil, pktgen.Opts{ICMPType: 128, Cut: 7}),
		rgRaw(true, 135, []uint8{60}, nil, pktgen.Opts{}),
		rgRaw(true, 135, nil, []byte{59, 0, 0, 0, 0, 0, 0, 0}, pktgen.Opts{}),
		rgRaw(false, 6, nil, nil, pktgen.Opts{Sport: 1, Dport: 2, TCPFlags: 0x12}),
		rgRaw(true, 6, nil, nil, pktgen.Opts{Sport: 1, Dport: 2, TCPFlags: 0x10}),
	}
	rgCheck(t, "rp", rules, pkts)
}

// TestFieldsRegressNoPanic: the engine on packets whose headers are
// announced but missing, without a kernel.
func TestFieldsRegressNoPanic(t *testing.T) {
	src := "table inet t {\n\tchain c {\n\t\ttype filter hook prerouting priority 0;\n" +
		"\t\texthdr mh exists counter\n\t\tmh type 0 counter\n\t\tip option rr addr 1 counter\n" +
		"\t\ttcp option sack3 right 1 counter\n\t\tsctp chunk data tsn 1 counter\n\t}\n}\n"
	rs, err := parser.Parse("t.nft", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pkts := [][]byte{
		rgRaw(true, 135, []uint8{60}, nil, pktgen.Opts{}),
		rgRaw(true, 135, []uint8{60, 0}, nil, pktgen.Opts{Cut: 4}),
		rgIPOpts([]byte{7, 40, 4, 0}),
		rgTCP(false, []byte{5, 34, 0, 0}),
		rgRaw(false, 132, nil, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200}, pktgen.Opts{}),
	}
	for _, b := range pkts {
		var p packet.Parsed
		c := &Ctx{}
		ofCtx(b, &p, c)
		e.Eval(c)
	}
	ours := ourCounters(rs, e)["inet/t/c"]
	if ours[0][0] != 2 {
		t.Errorf("exthdr mh exists counted %d packets, want 2 (announced past the end)", ours[0][0])
	}
	for i := 1; i < len(ours); i++ {
		if ours[i][0] != 0 {
			t.Errorf("rule %d counted %d, want 0 (nothing to load)", i, ours[i][0])
		}
	}
}
