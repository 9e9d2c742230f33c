package conntrack

import (
	"encoding/binary"

	"github.com/nfdproject/nfd/packet"
)

// SCTP chunk types (include/linux/sctp.h).
const (
	sctpInit         = 1
	sctpInitAck      = 2
	sctpHeartbeat    = 4
	sctpHeartbeatAck = 5
	sctpAbort        = 6
	sctpShutdown     = 7
	sctpShutdownAck  = 8
	sctpError        = 9
	sctpCookieEcho   = 10
	sctpCookieAck    = 11
	sctpShutdownComp = 14
)

// sctpNew reports whether an SCTP packet may open a connection, as
// nf_conntrack_sctp_packet() decides for a new entry: do_basic_checks()
// (at least one chunk, none of length 0; INIT, INIT ACK, SHUTDOWN
// COMPLETE, COOKIE ECHO and COOKIE ACK only as the first chunk, and the
// first three alone), no ABORT, SHUTDOWN COMPLETE or COOKIE ACK (out of
// the blue, RFC 4960 section 8.4), sctp_new() (every chunk one that moves
// a connection out of NONE: not DATA, SACK or an unknown type; an INIT
// with a zero verification tag and a whole INIT header), and the
// verification tag check (zero unless an INIT, SHUTDOWN ACK, HEARTBEAT or
// HEARTBEAT ACK is there). Checked against the kernel by
// rules.TestMeaningSCTPUDPLite. Later packets of the association are not
// run through the kernel's SCTP state machine: nfd tracks them as a
// generic protocol.
func sctpNew(p *packet.Parsed) bool {
	l4 := p.Transport()
	if len(l4) < 12 {
		return false
	}
	vtag := binary.BigEndian.Uint32(l4[4:])
	var seen [256]bool
	count := 0
	first := false // an INIT, INIT ACK or SHUTDOWN COMPLETE came first
	for off := 12; off+4 <= len(l4); count++ {
		typ, n := l4[off], int(binary.BigEndian.Uint16(l4[off+2:]))
		if typ == sctpInit || typ == sctpInitAck || typ == sctpShutdownComp {
			first = true
		}
		if ((typ == sctpCookieAck || typ == sctpCookieEcho || first) && count != 0) || n == 0 {
			return false
		}
		seen[typ] = true
		switch typ {
		case sctpInit:
			if vtag != 0 || off+4+16 > len(l4) { // struct sctp_inithdr
				return false
			}
		case sctpInitAck, sctpHeartbeat, sctpHeartbeatAck, sctpShutdown, sctpShutdownAck, sctpError, sctpCookieEcho:
		default:
			return false // stays in NONE (DATA, SACK, unknown), or out of the blue
		}
		off += (n + 3) &^ 3
	}
	if count == 0 {
		return false
	}
	return vtag == 0 || seen[sctpInit] || seen[sctpShutdownAck] || seen[sctpHeartbeat] || seen[sctpHeartbeatAck]
}
