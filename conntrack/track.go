package conntrack

import "github.com/nfdproject/nfd/packet"

// Track is split as the kernel's nf_conntrack_in() is: find or create the
// entry (resolve_normal_ct(), with nfd's import and resync from the
// kernel's table), then hand the packet to its protocol's handler
// (nf_conntrack_handle_packet(): nf_conntrack_tcp_packet(),
// nf_conntrack_udp_packet(), nf_conntrack_icmp_packet(),
// generic_packet()). The shard's lock is taken and released in Track
// alone; the helpers run with it held (resync and adopt drop it around
// their netlink query) and say how Track is to fill the result.

// outcome is what a step of Track decided.
type outcome uint8

const (
	outNext    outcome = iota // go on: the protocol handler updated tr.e
	outEntry                  // tr.e is stored and counted: report it
	outInvalid                // the packet is invalid
	outSet                    // the result is already filled (newConn)
)

// tracking is one packet's way through Track.
type tracking struct {
	p       *packet.Parsed
	tup     Tuple
	key     Tuple
	swapped bool
	now     int64
	e       entry
	dir     uint8
	state   uint32
	reborn  bool // an expired or dying entry of the tuple was removed
	// overBudget: a resync was due but this second's budget was spent.
	overBudget bool
}

// Track is nf_conntrack_in() for one packet at the first hook nfd sees it
// (prerouting or output in the kernel): it classifies the packet and
// updates the connection. Later hooks of the same packet use Lookup. The
// packet is taken as conntrack sees it (packet.ConntrackView: an IPv6
// transport header behind AH is tracked as what it is).
func (t *Table) Track(p *packet.Parsed, r *Result) {
	var view packet.Parsed
	p = p.ConntrackView(&view)
	tr := tracking{p: p}
	if !t.classify(p, &tr.tup, r) {
		if r.State == StateInvalid {
			t.stats.invalid.Add(1)
		}
		return
	}
	tr.key, tr.swapped = tr.tup.canonical()
	tr.now = t.now()
	s := t.shardOf(&tr.key)
	s.mu.Lock()
	out := t.trackLocked(s, &tr, r)
	s.mu.Unlock()
	switch out {
	case outEntry:
		t.fill(r, &tr.e, tr.key, tr.dir, tr.state)
	case outInvalid:
		t.invalid(r)
	}
}

// trackLocked does Track's work with s locked.
func (t *Table) trackLocked(s *shard, tr *tracking, r *Result) outcome {
	ok := t.liveEntry(s, tr)
	if ok && tr.e.status&StatusConfirmed == 0 {
		// The first packet was accepted and left: the kernel confirmed
		// the entry then (see newConn).
		tr.e.status |= StatusConfirmed
		s.m[tr.key] = tr.e
	}
	if !ok && t.resolve != nil && !startsConn(tr.p) {
		if out, done := t.adopt(s, tr, r); done {
			return out
		}
		tr.e, ok = s.m[tr.key]
	}
	if !ok {
		t.newConn(s, tr.p, tr.key, tr.swapped, tr.now, r)
		if tr.reborn {
			t.markReborn(s, tr.key)
		}
		return outSet
	}
	tr.dir, tr.state = dirState(&tr.e, tr.tup, tr.swapped)
	if out := t.maybeResync(s, tr, r); out != outNext {
		return out
	}
	var out outcome
	switch tr.tup.Proto {
	case packet.ProtoTCP:
		out = t.tcpPacket(s, tr, r)
	case packet.ProtoUDP, packet.ProtoUDPLite:
		t.udpPacket(tr)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		tr.e.expires = tr.now + int64(t.timeouts.ICMP) // nf_conntrack_icmp_packet()
	default:
		tr.e.expires = tr.now + int64(t.timeouts.Generic) // generic_packet()
	}
	if out != outNext {
		return out
	}
	if tr.dir == DirReply {
		tr.e.status |= StatusSeenReply
	}
	t.countPacket(s, tr)
	return outEntry
}

// countPacket counts the packet in tr.e and stores it; s locked.
func (t *Table) countPacket(s *shard, tr *tracking) {
	tr.e.pkts[tr.dir]++
	tr.e.bytes[tr.dir] += uint64(tr.p.Len())
	s.m[tr.key] = tr.e
}

// liveEntry loads the entry of tr.key into tr.e, first removing one that
// has expired or died (nf_ct_is_expired(), nf_ct_is_dying()); s locked.
func (t *Table) liveEntry(s *shard, tr *tracking) bool {
	e, ok := s.m[tr.key]
	if ok && (e.expires <= tr.now || e.status&StatusDying != 0) {
		if e.status&StatusDying == 0 {
			t.stats.expired.Add(1)
		}
		s.remove(tr.key, &e)
		t.count.Add(-1)
		ok = false
		tr.reborn = true
	}
	tr.e = e
	return ok
}

// adopt asks the kernel about a packet that belongs to no entry and, when
// the kernel has seen the connection answered, imports it (nfd saw none of
// its earlier packets). done is false when the caller goes on as if the
// kernel had not been asked. s locked; unlocked around the query.
func (t *Table) adopt(s *shard, tr *tracking, r *Result) (out outcome, done bool) {
	s.mu.Unlock()
	ke, found := t.resolve(tr.tup)
	s.mu.Lock()
	// Only a connection the kernel has seen answered is worth taking
	// over: an unanswered one tells nothing this packet does not, and the
	// kernel's entry may already reflect packets still queued behind this
	// one.
	if !found || ke.Status&StatusSeenReply == 0 {
		return outNext, false
	}
	if _, raced := s.m[tr.key]; !raced {
		t.importEntry(s, tr.key, ke, tr.now)
	}
	e, imported := s.m[tr.key]
	if !imported {
		t.newConn(s, tr.p, tr.key, tr.swapped, tr.now, r)
		return outSet, true
	}
	tr.e = e
	tr.dir, tr.state = dirState(&tr.e, tr.tup, tr.swapped)
	t.countPacket(s, tr)
	return outEntry, true
}

// maybeResync brings tr.e up to date from the kernel's entry when nfd
// may lack packets of the connection: native rules hide some (resync.go,
// budgeted), or no queued hook sees the other direction (oneSided.go,
// asked whenever nfd's answer could differ from the kernel's). It returns
// outNext to go on with tr.e (resynced or not), or the outcome when it
// settled the packet. s locked.
func (t *Table) maybeResync(s *shard, tr *tracking, r *Result) outcome {
	if t.resolve == nil || tr.dir != DirOriginal {
		return outNext
	}
	next := tcpConntracks[tr.dir][tcpIndex(tr.p.TCPFlags)][tr.e.tcpState]
	var due bool
	switch {
	case t.oneSided.Load() && t.mayDiffer(&tr.e, tr.p, next):
		due = true // never budgeted: nfd cannot know the answer
	case t.resyncOn.Load() && !startsConn(tr.p):
		invalid := tr.tup.Proto == packet.ProtoTCP && next == sIV
		due = invalid || tr.e.status&StatusSeenReply == 0 && tr.now-tr.e.synced >= int64(resyncEvery)
		tr.overBudget = due && !t.resyncAllowed(tr.now)
		due = due && !tr.overBudget
	}
	if !due {
		return outNext
	}
	if e, dir, state, ok := t.resync(s, tr.key, tr.tup, tr.p, tr.now); ok {
		tr.e, tr.dir, tr.state = e, dir, state
		return outEntry
	}
	e, ok := s.m[tr.key]
	if !ok { // gone while the kernel was asked
		t.newConn(s, tr.p, tr.key, tr.swapped, tr.now, r)
		return outSet
	}
	tr.e = e
	tr.dir, tr.state = dirState(&tr.e, tr.tup, tr.swapped)
	return outNext
}

// udpPacket is nf_conntrack_udp_packet(): a replied flow gets the longer
// timeout, and is assured once it has lived past UDPStreamAt.
func (t *Table) udpPacket(tr *tracking) {
	e := &tr.e
	if e.status&StatusSeenReply == 0 {
		e.expires = tr.now + int64(t.timeouts.UDP)
		return
	}
	extra := t.timeouts.UDP
	if tr.now > e.created+int64(t.timeouts.UDPStreamAt) {
		extra = t.timeouts.UDPStream
		e.status |= StatusAssured
	}
	e.expires = tr.now + int64(extra)
}

// tcpPacket is nf_conntrack_tcp_packet()'s state machine (without the
// sequence-number window, see the package comment). s locked.
func (t *Table) tcpPacket(s *shard, tr *tracking, r *Result) outcome {
	e, p := &tr.e, tr.p
	seenReply := e.status&StatusSeenReply != 0
	idx := tcpIndex(p.TCPFlags)
	old := e.tcpState
	next := tcpConntracks[tr.dir][idx][old]
	if next == sIV && tr.overBudget && old == sSS && tr.dir == DirOriginal &&
		p.TCPFlags&(packet.TCPSyn|packet.TCPRst|packet.TCPFin|packet.TCPAck) == packet.TCPAck {
		// The client's handshake ACK with the SYN/ACK hidden by native
		// rules, and no kernel query left this second: a client
		// acknowledges only after the server's SYN/ACK, so take the
		// connection as answered rather than call every handshake invalid
		// under a burst of new connections (the kernel, which saw the
		// SYN/ACK, says established; nfd cannot check the sequence
		// numbers, see the package comment).
		e.status |= StatusSeenReply
		seenReply = true
		old, next = sSR, sES
		tr.dir, tr.state = dirState(e, tr.tup, tr.swapped)
	}
	switch {
	case next == sIV:
		return outInvalid
	case next == sSS && old >= sTW:
		// A SYN reopening a closed connection: the kernel kills the old
		// entry and the packet starts a new one (-NF_REPEAT).
		s.remove(tr.key, e)
		t.count.Add(-1)
		t.newConn(s, p, tr.key, tr.swapped, tr.now, r)
		t.markReborn(s, tr.key)
		return outSet
	case next == sIG && idx == tcpSynAckSet && e.lastIdx == tcpSynSet+1 && e.lastDir != tr.dir:
		// b) in nf_conntrack_tcp_packet()'s ignore case: a SYN/ACK
		// answering a SYN nfd ignored; client and server are in sync, so
		// nfd gets in sync (the kernel also checks the acknowledged
		// sequence number, which nfd does not track).
		old, next = sSS, sSR
	case next == sIG:
		e.lastIdx, e.lastDir = uint8(idx)+1, tr.dir
		if idx == tcpSynSet && tr.dir == DirOriginal {
			// a) A SYN in ORIGINAL: let through, state and timer left
			// alone; a SYN/ACK answering it resyncs (b).
			e.ignored = false
			t.countPacket(s, tr)
			return outEntry
		}
		// Any other ignored packet is invalid ("invalid packet ignored
		// in state ...").
		e.ignored = true
		s.m[tr.key] = *e
		return outInvalid
	}
	e.lastIdx, e.lastDir, e.ignored = uint8(idx)+1, tr.dir, false
	e.tcpState = next
	e.expires = tr.now + int64(t.timeouts.TCP[next])
	if !seenReply {
		if p.TCPFlags&packet.TCPRst != 0 {
			// "If only reply is a RST, we can consider ourselves not to
			// have an established connection": killed at once.
			e.status |= StatusDying
			e.expires = tr.now + int64(dyingLinger)
		}
	} else if e.status&StatusAssured == 0 && (old == sSR || old == sES) && next == sES {
		e.status |= StatusAssured
	}
	return outNext
}
