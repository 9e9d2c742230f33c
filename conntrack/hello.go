package conntrack

import (
	"github.com/nfdproject/nfd/packet"
)

// Reassembly of a ClientHello that spans TCP segments. A ClientHello
// with a post-quantum key share (X25519MLKEM768, the default of current
// browsers) is about 1.8 KB, more than one segment, and browsers shuffle
// their extensions, so the server name may sit in the second segment.
// When the first segment of a connection's payload starts a ClientHello
// record that it does not hold whole, and names no server itself, the
// table keeps a copy of the record's bytes and appends the following
// in-order segments of the same direction; the segment that completes the
// record gives the connection its name (SetName), so that segment and every
// later packet match `tls sni` by it. The segments before it are judged
// without a name, like any packet before a flow's name arrives (and flow
// bypass waits for the name, see hooks/bypass.go).
//
// Bounds: records up to packet.MaxHelloRecord bytes, at most
// maxHellosPerShard connections reassembling per shard (1,024 in all, at
// most 8 MiB), each for at most helloTTL. An out-of-order segment, a
// truncated copy or a full shard ends the attempt: that connection gets no
// name, as before reassembly existed; Stats.HelloAbandoned counts them.
const (
	maxHellosPerShard = 4
	helloTTL          = 5e9 // nanoseconds
	// helloPending, in entry.names, says s.hello holds a partial record.
	helloPending = 1 << 7
)

// helloBuf is one connection's partial ClientHello record.
type helloBuf struct {
	data    []byte // the record's bytes so far; cap is the record's length
	next    uint32 // TCP sequence number of the next byte
	dir     uint8  // the direction the record travels
	started int64  // monotonic nanoseconds
}

// AssembleHello feeds p, a packet of r's connection, to the reassembly of
// a ClientHello that spans segments. When p completes one that names a
// server, the connection gets the name and r.Names carries it.
// Called for TCP packets with payload of connections without a TLS name.
func (t *Table) AssembleHello(p *packet.Parsed, r *Result) {
	payload := p.Payload()
	if !r.Found || r.Names[NameSNI] != nil || p.L4Proto != packet.ProtoTCP || len(payload) == 0 {
		return
	}
	if !r.hello && packet.TLSHelloRecordLen(payload) <= len(payload) {
		return // nothing held, and this packet starts no long ClientHello: no lock taken
	}
	key := r.Key
	s := t.shardOf(&key)
	s.mu.Lock()
	e, ok := s.m[key]
	if !ok || e.names&(1<<NameSNI) != 0 {
		s.mu.Unlock()
		return
	}
	now := t.now()
	if e.names&helloPending == 0 {
		n := packet.TLSHelloRecordLen(payload)
		if n <= len(payload) || p.Flags&packet.Truncated != 0 || packet.TLSServerName(payload) != nil {
			s.mu.Unlock()
			return // whole in this packet (or not a ClientHello): the usual path names it
		}
		if !s.helloRoom(now) {
			s.mu.Unlock()
			t.stats.helloAbandoned.Add(1)
			return
		}
		if s.hello == nil {
			s.hello = map[Tuple]*helloBuf{}
		}
		b := &helloBuf{data: make([]byte, 0, n), next: p.Seq + uint32(len(payload)), dir: r.Dir, started: now}
		b.data = append(b.data, payload...)
		s.hello[key] = b
		e.names |= helloPending
		s.m[key] = e
		s.mu.Unlock()
		return
	}
	b := s.hello[key]
	if b.dir != r.Dir {
		s.mu.Unlock()
		return // the other direction's packets do not interrupt it
	}
	if p.Seq != b.next {
		if int32(p.Seq+uint32(len(payload))-b.next) <= 0 {
			s.mu.Unlock()
			return // a retransmission of bytes already held
		}
		s.endHello(key, &e)
		s.mu.Unlock()
		t.stats.helloAbandoned.Add(1)
		return
	}
	if p.Flags&packet.Truncated != 0 || now-b.started > helloTTL {
		s.endHello(key, &e)
		s.mu.Unlock()
		t.stats.helloAbandoned.Add(1)
		return
	}
	take := min(len(payload), cap(b.data)-len(b.data))
	b.data = append(b.data, payload[:take]...)
	b.next += uint32(len(payload))
	if len(b.data) < cap(b.data) {
		s.mu.Unlock()
		return
	}
	rec := b.data
	s.endHello(key, &e)
	s.mu.Unlock()
	if name := packet.TLSServerName(rec); name != nil && t.SetName(key, NameSNI, name) {
		r.Names = t.names(key)
	}
}

// helloRoom makes room for one more reassembly in s, dropping expired
// ones; called with s locked.
func (s *shard) helloRoom(now int64) bool {
	if len(s.hello) < maxHellosPerShard {
		return true
	}
	for k, b := range s.hello {
		if now-b.started > helloTTL {
			if e, ok := s.m[k]; ok {
				s.endHello(k, &e)
			} else {
				delete(s.hello, k)
			}
		}
	}
	return len(s.hello) < maxHellosPerShard
}

// endHello drops key's reassembly; called with s locked.
func (s *shard) endHello(key Tuple, e *entry) {
	delete(s.hello, key)
	e.names &^= helloPending
	s.m[key] = *e
}
