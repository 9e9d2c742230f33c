package conntrack

// Layer-7 names of a connection. nfd's `tls sni`, `http host` and
// `dns qname` matches are properties of the flow: the name is taken from
// the first packet of the connection that carries one (a ClientHello, a
// request, a query) and every later packet of the connection, in either
// direction, matches as that packet did. This is what makes the name
// flow-constant, so a flow accepted by its name can be handed to the
// kernel (flow bypass) without changing any verdict.

// Kinds of names, indexes into Names.
const (
	NameSNI   = 0 // TLS server name indication
	NameHost  = 1 // HTTP Host header
	NameQname = 2 // DNS query name
)

// Names holds a connection's names by kind; nil where none was seen. The
// byte slices are never written after SetName stored them.
type Names [3][]byte

// SetName records the connection's name of a kind, unless it already has
// one: the first name seen stays. It copies name (one allocation per
// named connection) and reports whether it stored it.
func (t *Table) SetName(key Tuple, kind int, name []byte) bool {
	if len(name) == 0 || kind < 0 || kind >= len(Names{}) {
		return false
	}
	s := t.shardOf(&key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || e.names&(1<<kind) != 0 {
		return false
	}
	if s.l7 == nil {
		s.l7 = map[Tuple]Names{}
	}
	n := s.l7[key]
	n[kind] = append([]byte(nil), name...)
	s.l7[key] = n
	e.names |= 1 << kind
	s.m[key] = e
	return true
}

// names reads the names of key under its shard's lock.
func (t *Table) names(key Tuple) Names {
	s := t.shardOf(&key)
	s.mu.Lock()
	n := s.l7[key]
	s.mu.Unlock()
	return n
}

// namesMask are the bits of entry.names that say which names s.l7 holds.
const namesMask = 1<<NameSNI | 1<<NameHost | 1<<NameQname

// remove deletes an entry, its names and any ClientHello being
// reassembled; called with s locked.
func (s *shard) remove(key Tuple, e *entry) {
	delete(s.m, key)
	if e.names&namesMask != 0 {
		delete(s.l7, key)
	}
	if e.names&namePending != 0 {
		delete(s.pending, key)
	}
}
