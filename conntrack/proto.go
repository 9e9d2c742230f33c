package conntrack

import (
	"time"

	"github.com/nfdproject/nfd/packet"
)

// TCPState is a TCP conntrack state, numbered as enum tcp_conntrack in
// include/uapi/linux/netfilter/nf_conntrack_tcp.h.
type TCPState uint8

const (
	sNO TCPState = iota // TCP_CONNTRACK_NONE
	sSS                 // SYN_SENT
	sSR                 // SYN_RECV
	sES                 // ESTABLISHED
	sFW                 // FIN_WAIT
	sCW                 // CLOSE_WAIT
	sLA                 // LAST_ACK
	sTW                 // TIME_WAIT
	sCL                 // CLOSE
	sS2                 // SYN_SENT2
	sIV                 // TCP_CONNTRACK_MAX: invalid
	sIG                 // TCP_CONNTRACK_IGNORE
)

var tcpStateNames = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2", "INVALID", "IGNORE"}

func (s TCPState) String() string { return tcpStateNames[s] }

// Packet classes, as enum tcp_bit_set.
const (
	tcpSynSet = iota
	tcpSynAckSet
	tcpFinSet
	tcpAckSet
	tcpRstSet
	tcpNoneSet
)

// tcpIndex is get_conntrack_index() of nf_conntrack_proto_tcp.c.
func tcpIndex(flags uint8) int {
	switch {
	case flags&packet.TCPRst != 0:
		return tcpRstSet
	case flags&packet.TCPSyn != 0:
		if flags&packet.TCPAck != 0 {
			return tcpSynAckSet
		}
		return tcpSynSet
	case flags&packet.TCPFin != 0:
		return tcpFinSet
	case flags&packet.TCPAck != 0:
		return tcpAckSet
	}
	return tcpNoneSet
}

// tcpConntracks is tcp_conntracks[2][6][TCP_CONNTRACK_MAX] of
// net/netfilter/nf_conntrack_proto_tcp.c: [direction][packet class][state].
var tcpConntracks = [2][6][10]TCPState{
	{ // ORIGINAL
		/*           sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
		/*syn*/ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		/*synack*/ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		/*fin*/ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/*ack*/ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		/*rst*/ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	{ // REPLY
		/*           sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
		/*syn*/ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		/*synack*/ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		/*fin*/ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/*ack*/ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		/*rst*/ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// tcpValidFlags is tcp_valid_flags[] of tcp_error(): the flag combinations
// (without ECE, CWR and PSH) a TCP packet may carry. Any other combination
// (SYN|FIN, a bare FIN, no flags at all, ...) makes the packet invalid.
var tcpValidFlags = func() (v [64]bool) {
	const fin, syn, rst, ack, urg = packet.TCPFin, packet.TCPSyn, packet.TCPRst, packet.TCPAck, packet.TCPUrg
	for _, f := range []uint8{syn, syn | urg, syn | ack, rst, rst | ack, fin | ack, fin | ack | urg, ack, ack | urg} {
		v[f] = true
	}
	return v
}()

func tcpFlagsValid(flags uint8) bool {
	return tcpValidFlags[flags&^(packet.TCPEce|packet.TCPCwr|packet.TCPPsh)&0x3f]
}

// Timeouts are the kernel's defaults; each names its sysctl under
// net.netfilter.
type Timeouts struct {
	TCP         [10]time.Duration // per TCPState
	UDP         time.Duration     // nf_conntrack_udp_timeout
	UDPStream   time.Duration     // nf_conntrack_udp_timeout_stream
	ICMP        time.Duration     // nf_conntrack_icmp_timeout (and icmpv6_timeout)
	Generic     time.Duration     // nf_conntrack_generic_timeout
	UDPStreamAt time.Duration     // a replied UDP flow older than this is a stream (2 s, fixed)
}

// DefaultTimeouts are those of Linux 6.x.
func DefaultTimeouts() Timeouts {
	var t Timeouts
	t.TCP[sSS] = 120 * time.Second    // nf_conntrack_tcp_timeout_syn_sent
	t.TCP[sSR] = 60 * time.Second     // nf_conntrack_tcp_timeout_syn_recv
	t.TCP[sES] = 432000 * time.Second // nf_conntrack_tcp_timeout_established (5 days)
	t.TCP[sFW] = 120 * time.Second    // nf_conntrack_tcp_timeout_fin_wait
	t.TCP[sCW] = 60 * time.Second     // nf_conntrack_tcp_timeout_close_wait
	t.TCP[sLA] = 30 * time.Second     // nf_conntrack_tcp_timeout_last_ack
	t.TCP[sTW] = 120 * time.Second    // nf_conntrack_tcp_timeout_time_wait
	t.TCP[sCL] = 10 * time.Second     // nf_conntrack_tcp_timeout_close
	t.TCP[sS2] = 120 * time.Second    // SYN_SENT2 shares syn_sent's value
	t.UDP = 30 * time.Second          // nf_conntrack_udp_timeout
	t.UDPStream = 120 * time.Second   // nf_conntrack_udp_timeout_stream
	t.ICMP = 30 * time.Second         // nf_conntrack_icmp_timeout
	t.Generic = 600 * time.Second     // nf_conntrack_generic_timeout
	t.UDPStreamAt = 2 * time.Second   // nf_conntrack_udp_packet(): stream_ts
	return t
}

// icmpNewTypes are the ICMP types that may open a connection: the requests
// of icmp_new()/icmpv6_new() (valid_new[]).
func icmpNew(fam uint8, typ uint8) bool {
	if fam == 4 {
		switch typ {
		case 8, 13, 15, 17: // echo, timestamp, info, address mask requests
			return true
		}
		return false
	}
	switch typ {
	case 128, 139: // echo request, node information query
		return true
	}
	return false
}
