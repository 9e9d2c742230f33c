package conntrack

import (
	"github.com/nfdproject/nfd/packet"
)

// Reassembly of a name that spans TCP segments. A ClientHello with a
// post-quantum key share (X25519MLKEM768, the default of current
// browsers) is about 1.8 KB, more than one segment, and browsers shuffle
// their extensions, so the server name may sit in the second segment; an
// HTTP request with a long request line pushes its Host header there too
// (and a client that wants to slip past `http host` can do it on purpose).
// When a connection's payload starts such a message that the packet does
// not hold whole, and names nothing itself, the table keeps a copy of the
// bytes and appends the following in-order segments of the same direction;
// the segment that completes the name gives the connection its name
// (SetName), so that segment and every later packet match by it. The
// segments before it are judged without a name, like any packet before a
// flow's name arrives (and flow bypass waits for the name, see
// hooks/bypass.go).
//
// Bounds: a ClientHello record up to packet.MaxHelloRecord bytes, an HTTP
// request head up to packet.MaxHTTPHeader; at most maxPendingPerShard
// connections reassembling per shard (1,024 in all, at most 8 MiB), each
// for at most pendingTTL. An out-of-order segment, a truncated copy or a
// full shard ends the attempt: that connection gets no name;
// Stats.NamesAbandoned counts them.
const (
	maxPendingPerShard = 4
	pendingTTL         = 5e9 // nanoseconds
	// namePending, in entry.names, says s.pending holds a partial message.
	namePending = 1 << 7
)

// pendingName is one connection's partial ClientHello or request head.
type pendingName struct {
	data    []byte // the bytes so far; cap bounds the message
	next    uint32 // TCP sequence number of the next byte
	kind    uint8  // NameSNI or NameHost
	dir     uint8  // the direction the message travels
	started int64  // monotonic nanoseconds
}

// AssembleNames feeds p, a TCP packet of r's connection, to the
// reassembly of a ClientHello or HTTP request head that spans segments,
// for the kinds of names in kinds (1<<NameSNI, 1<<NameHost) the
// connection lacks. When p completes one that names a server, the
// connection gets the name and r.Names carries it.
func (t *Table) AssembleNames(p *packet.Parsed, r *Result, kinds uint8) {
	payload := p.Payload()
	if !r.Found || p.L4Proto != packet.ProtoTCP || len(payload) == 0 {
		return
	}
	helloLen := 0
	if kinds&(1<<NameSNI) != 0 && r.Names[NameSNI] == nil {
		helloLen = packet.TLSHelloRecordLen(payload)
	}
	tls := helloLen > len(payload)
	http := kinds&(1<<NameHost) != 0 && r.Names[NameHost] == nil && packet.HTTPRequestPending(payload)
	if !r.pending && !tls && !http {
		return // nothing held, and this packet starts no long message: no lock taken
	}
	key := r.Key
	s := t.shardOf(&key)
	s.mu.Lock()
	e, ok := s.m[key]
	if !ok {
		s.mu.Unlock()
		return
	}
	now := t.now()
	if e.names&namePending == 0 {
		var kind uint8
		var size int
		switch {
		case tls && packet.TLSServerName(payload) == nil:
			kind, size = NameSNI, helloLen
		case http && packet.HTTPHost(payload) == nil:
			kind, size = NameHost, packet.MaxHTTPHeader
		default:
			s.mu.Unlock()
			return // the packet names itself: the usual path (LearnNames) records it
		}
		if p.Flags&packet.Truncated != 0 || e.names&(1<<kind) != 0 {
			s.mu.Unlock()
			return
		}
		if !s.pendingRoom(now) {
			s.mu.Unlock()
			t.stats.pendingAbandoned.Add(1)
			return
		}
		if s.pending == nil {
			s.pending = map[Tuple]*pendingName{}
		}
		b := &pendingName{data: make([]byte, 0, size), next: p.Seq + uint32(len(payload)), kind: kind, dir: r.Dir, started: now}
		b.data = append(b.data, payload...)
		s.pending[key] = b
		e.names |= namePending
		s.m[key] = e
		s.mu.Unlock()
		return
	}
	b := s.pending[key]
	if b.dir != r.Dir {
		s.mu.Unlock()
		return // the other direction's packets do not interrupt it
	}
	if p.Seq != b.next {
		if int32(p.Seq+uint32(len(payload))-b.next) <= 0 {
			s.mu.Unlock()
			return // a retransmission of bytes already held
		}
		s.endPending(key, &e)
		s.mu.Unlock()
		t.stats.pendingAbandoned.Add(1)
		return
	}
	if p.Flags&packet.Truncated != 0 || now-b.started > pendingTTL {
		s.endPending(key, &e)
		s.mu.Unlock()
		t.stats.pendingAbandoned.Add(1)
		return
	}
	take := min(len(payload), cap(b.data)-len(b.data))
	b.data = append(b.data, payload[:take]...)
	b.next += uint32(len(payload))
	var name []byte
	switch b.kind {
	case NameSNI:
		if len(b.data) < cap(b.data) {
			s.mu.Unlock()
			return
		}
		name = packet.TLSServerName(b.data)
	case NameHost:
		if name = packet.HTTPHost(b.data); name == nil && packet.HTTPRequestPending(b.data) {
			s.mu.Unlock()
			return
		}
	}
	kind := int(b.kind)
	s.endPending(key, &e)
	s.mu.Unlock()
	if name != nil && t.SetName(key, kind, name) {
		r.Names = t.names(key)
	}
}

// pendingRoom makes room for one more reassembly in s, dropping expired
// ones; called with s locked.
func (s *shard) pendingRoom(now int64) bool {
	if len(s.pending) < maxPendingPerShard {
		return true
	}
	for k, b := range s.pending {
		if now-b.started > pendingTTL {
			if e, ok := s.m[k]; ok {
				s.endPending(k, &e)
			} else {
				delete(s.pending, k)
			}
		}
	}
	return len(s.pending) < maxPendingPerShard
}

// endPending drops key's reassembly; called with s locked.
func (s *shard) endPending(key Tuple, e *entry) {
	delete(s.pending, key)
	e.names &^= namePending
	s.m[key] = *e
}
