// Package dnsfill keeps the sets a ruleset fills from DNS answers (the
// `dns names` set option): it remembers the queries nfd saw leave, matches
// each answer to one (id, addresses and port, question), follows the
// answer's CNAME chain, and tells which addresses to add to which sets,
// for how long. It keeps its own copy of every learned element, with its
// expiry, for the rule engine (sets used by rules nfd runs), for `nfd
// rules`, for reloads and for the metrics. It makes no system calls: the
// daemon (hooks/) queues the packets and programs the kernel.
package dnsfill

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// Config bounds what answers can do.
type Config struct {
	// TTLMin and TTLMax clamp an address's lifetime (its record's TTL).
	TTLMin, TTLMax time.Duration
	// MaxElems bounds a set without a `size`.
	MaxElems int
	// Budget is the most kernel updates (new or extended addresses) per
	// set per second.
	Budget int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Defaults.
const (
	DefaultTTLMin   = 30 * time.Second
	DefaultTTLMax   = 24 * time.Hour
	DefaultMaxElems = 65536
	DefaultBudget   = 2000
	// queryLife is how long a query waits for its answer (a resolver
	// gives up after a few seconds), and how long an answered query
	// stays, so the same answer seen again at another hook is known.
	queryLife = 10 * time.Second
	// maxQueries bounds the queries remembered.
	maxQueries = 65536
)

// Set is one set filled from DNS answers.
type Set struct {
	Family    parser.Family // of its table
	Table     string
	Name      string
	V6        bool // ipv6_addr, else ipv4_addr
	Names     []string
	Resolvers []netip.Addr
	Limit     int

	now    func() time.Time
	mu     sync.RWMutex
	elems  map[[16]byte]Elem
	tokens float64
	refill time.Time

	Answers   atomic.Uint64 // answers whose names matched this set
	Added     atomic.Uint64 // addresses added (new ones)
	Refreshed atomic.Uint64 // addresses whose lifetime an answer extended
	Expired   atomic.Uint64 // addresses whose lifetime ended
	Limited   atomic.Uint64 // addresses refused: the set was full
	Budgeted  atomic.Uint64 // addresses refused: over the per-second budget
}

// Elem is a learned address.
type Elem struct {
	Expires time.Time
	Name    string // the question's name
}

// Add is one kernel update: addr into Set for Timeout, Name as comment.
type Add struct {
	Set     *Set
	Addr    netip.Addr
	Timeout time.Duration
	Name    string
}

// Contains reports whether the set holds the address (a key128 of rules/:
// the address's 16 bytes big-endian, an IPv4 address in lo's low 4 bytes)
// and it has not expired. It allocates nothing.
func (s *Set) Contains(hi, lo uint64) bool {
	var k [16]byte
	if s.V6 {
		putU64(k[:8], hi)
		putU64(k[8:], lo)
	} else {
		k[0], k[1], k[2], k[3] = byte(lo>>24), byte(lo>>16), byte(lo>>8), byte(lo)
	}
	s.mu.RLock()
	e, ok := s.elems[k]
	s.mu.RUnlock()
	return ok && s.now().Before(e.Expires)
}

func putU64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func (s *Set) key(a netip.Addr) [16]byte {
	var k [16]byte
	if s.V6 {
		k = a.As16()
	} else {
		v := a.As4()
		copy(k[:], v[:])
	}
	return k
}

func (s *Set) addr(k [16]byte) netip.Addr {
	if s.V6 {
		return netip.AddrFrom16(k)
	}
	return netip.AddrFrom4([4]byte(k[:4]))
}

// Learned is one element for listing.
type Learned struct {
	Addr      netip.Addr
	Name      string
	Remaining time.Duration
}

// Elements lists the set's live elements, by address.
func (s *Set) Elements(now time.Time) []Learned {
	s.mu.RLock()
	out := make([]Learned, 0, len(s.elems))
	for k, e := range s.elems {
		if r := e.Expires.Sub(now); r > 0 {
			out = append(out, Learned{Addr: s.addr(k), Name: e.Name, Remaining: r})
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

// Live counts the elements that have not expired.
func (s *Set) Live(now time.Time) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, e := range s.elems {
		if now.Before(e.Expires) {
			n++
		}
	}
	return n
}

// Len is the number of elements held (expired ones until swept).
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.elems)
}

// matches reports whether name is one of the set's names or patterns.
func (s *Set) matches(name []byte) bool {
	for _, p := range s.Names {
		if packet.HostMatch(p, name) {
			return true
		}
	}
	return false
}

// resolverOK reports whether answers from a count for the set.
func (s *Set) resolverOK(a netip.Addr) bool {
	if len(s.Resolvers) == 0 {
		return true
	}
	for _, r := range s.Resolvers {
		if r == a {
			return true
		}
	}
	return false
}

// queryKey names a query as its answer will name it back.
type queryKey struct {
	client netip.AddrPort
	server netip.Addr
	id     uint16
	tcp    bool
}

type query struct {
	name     string
	qtype    uint16
	at       time.Time
	answered bool
}

// Stats are the filler's counters of answers and queries.
type Stats struct {
	Queries     uint64 `json:"queries"`
	Answers     uint64 `json:"answers"`
	Unsolicited uint64 `json:"unsolicited"`     // answers to no query nfd saw (or a different question)
	Malformed   uint64 `json:"malformed"`       // answers skipped: truncated, loops, huge counts
	Repeated    uint64 `json:"repeated"`        // the same answer seen again at another hook
	QueriesLost uint64 `json:"queries_dropped"` // queries not remembered: too many waiting
}

// Filler holds the sets of a ruleset and the queries seen.
type Filler struct {
	cfg  Config
	Sets []*Set

	mu      sync.Mutex
	queries map[queryKey]*query

	queriesN, answers, unsolicited, malformed, repeated, lost atomic.Uint64

	ans   packet.DNSAnswer // used under mu
	qname [packet.MaxNameLen + 2]byte
}

// New returns a filler for the sets of rs that have a `dns names` option.
// Sets of prev whose table, name, type and option are unchanged carry
// their learned elements and counters over (a reload keeps them).
func New(cfg Config, rs *parser.Ruleset, prev *Filler) *Filler {
	if cfg.TTLMin <= 0 {
		cfg.TTLMin = DefaultTTLMin
	}
	if cfg.TTLMax <= 0 {
		cfg.TTLMax = DefaultTTLMax
	}
	if cfg.TTLMax < cfg.TTLMin {
		cfg.TTLMax = cfg.TTLMin
	}
	if cfg.MaxElems <= 0 {
		cfg.MaxElems = DefaultMaxElems
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Filler{cfg: cfg, queries: map[queryKey]*query{}}
	if prev != nil {
		prev.mu.Lock()
		for k, q := range prev.queries {
			c := *q
			f.queries[k] = &c
		}
		prev.mu.Unlock()
		f.queriesN.Store(prev.queriesN.Load())
		f.answers.Store(prev.answers.Load())
		f.unsolicited.Store(prev.unsolicited.Load())
		f.malformed.Store(prev.malformed.Load())
		f.repeated.Store(prev.repeated.Load())
		f.lost.Store(prev.lost.Load())
	}
	for _, t := range rs.Tables {
		for _, ps := range t.Sets {
			if ps.DNS == nil || len(ps.Key) != 1 {
				continue
			}
			s := &Set{Family: t.Family, Table: t.Name, Name: ps.Name, V6: ps.Key[0] == parser.TypeIPv6,
				Names: ps.DNS.Names, Resolvers: ps.DNS.Resolvers, Limit: cfg.MaxElems, elems: map[[16]byte]Elem{}, now: cfg.Now,
				tokens: float64(cfg.Budget), refill: cfg.Now()}
			if ps.Size > 0 {
				s.Limit = int(ps.Size)
			}
			if old := prev.find(s); old != nil {
				old.mu.Lock()
				for k, e := range old.elems {
					s.elems[k] = e
				}
				old.mu.Unlock()
				for _, c := range [][2]*atomic.Uint64{{&s.Answers, &old.Answers}, {&s.Added, &old.Added}, {&s.Refreshed, &old.Refreshed},
					{&s.Expired, &old.Expired}, {&s.Limited, &old.Limited}, {&s.Budgeted, &old.Budgeted}} {
					c[0].Store(c[1].Load())
				}
			}
			f.Sets = append(f.Sets, s)
		}
	}
	return f
}

// find returns the set of f that s continues: same table, name, type,
// names and resolvers.
func (f *Filler) find(s *Set) *Set {
	if f == nil {
		return nil
	}
	for _, o := range f.Sets {
		if o.Family == s.Family && o.Table == s.Table && o.Name == s.Name && o.V6 == s.V6 &&
			(&parser.SetDNS{Names: o.Names, Resolvers: o.Resolvers}).Equal(&parser.SetDNS{Names: s.Names, Resolvers: s.Resolvers}) {
			return o
		}
	}
	return nil
}

// Set returns the set of a table, or nil.
func (f *Filler) Set(fam parser.Family, table, name string) *Set {
	for _, s := range f.Sets {
		if s.Family == fam && s.Table == table && s.Name == name {
			return s
		}
	}
	return nil
}

// Stats reports the filler's counters.
func (f *Filler) Stats() Stats {
	return Stats{Queries: f.queriesN.Load(), Answers: f.answers.Load(), Unsolicited: f.unsolicited.Load(),
		Malformed: f.malformed.Load(), Repeated: f.repeated.Load(), QueriesLost: f.lost.Load()}
}

// Message handles one DNS message seen in a packet from src to dst (a UDP
// payload, or a TCP payload holding the 2-byte length and a whole
// message): a query is remembered, an answer to a remembered query gives
// the kernel updates to make, appended to adds. Anything else is ignored.
func (f *Filler) Message(src, dst netip.AddrPort, tcp bool, msg []byte, adds []Add) []Add {
	if tcp {
		if len(msg) < 2 || int(msg[0])<<8|int(msg[1]) != len(msg)-2 {
			if len(msg) >= 2+12 && msg[2+2]&0x80 != 0 {
				f.malformed.Add(1) // an answer split over segments: not read
			}
			return adds
		}
		msg = msg[2:]
	}
	if len(msg) < 12 {
		return adds
	}
	if msg[2]&0x80 == 0 {
		f.query(src, dst, tcp, msg)
		return adds
	}
	return f.answer(src, dst, tcp, msg, adds)
}

func (f *Filler) query(src, dst netip.AddrPort, tcp bool, msg []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, name, qtype, ok := packet.DNSQuestion(msg, &f.qname)
	if !ok {
		return
	}
	f.queriesN.Add(1)
	k := queryKey{client: unmap(src), server: dst.Addr().Unmap(), id: id, tcp: tcp}
	if q := f.queries[k]; q != nil && !q.answered && q.name == string(name) && q.qtype == qtype {
		return // the same query at another hook
	}
	if len(f.queries) >= maxQueries {
		f.sweepQueries(f.cfg.Now())
		if len(f.queries) >= maxQueries {
			f.lost.Add(1)
			return
		}
	}
	f.queries[k] = &query{name: string(name), qtype: qtype, at: f.cfg.Now()}
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

func (f *Filler) answer(src, dst netip.AddrPort, tcp bool, msg []byte, adds []Add) []Add {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := &f.ans
	if err := packet.ParseDNSAnswer(msg, a); err != nil {
		f.malformed.Add(1)
		return adds
	}
	k := queryKey{client: unmap(dst), server: src.Addr().Unmap(), id: a.ID, tcp: tcp}
	q := f.queries[k]
	if q == nil || q.qtype != a.QType || q.name != string(a.QName(&f.qname)) {
		f.unsolicited.Add(1)
		return adds
	}
	if q.answered {
		f.repeated.Add(1)
		return adds
	}
	q.answered = true
	q.at = f.cfg.Now()
	f.answers.Add(1)
	if a.RCode != 0 {
		return adds
	}
	// Which sets the chain's names select.
	var small [64]bool
	sets, hit := f.Sets, small[:]
	if len(sets) > len(small) {
		hit = make([]bool, len(sets))
	}
	a.Resolve(func(name []byte) {
		for i, s := range sets {
			if !hit[i] && s.matches(name) && s.resolverOK(k.server) {
				hit[i] = true
			}
		}
	}, func(d packet.DNSAddr) {
		now := f.cfg.Now()
		ttl := min(max(time.Duration(d.TTL)*time.Second, f.cfg.TTLMin), f.cfg.TTLMax)
		addr, _ := netip.AddrFromSlice(d.Addr[:d.AddrLen])
		for i, s := range sets {
			if !hit[i] || s.V6 != (d.AddrLen == 16) {
				continue
			}
			if add, ok := s.learn(addr, q.name, now, ttl, f.cfg.Budget); ok {
				adds = append(adds, add)
			}
		}
	})
	for i, s := range sets {
		if hit[i] {
			s.Answers.Add(1)
		}
	}
	return adds
}

// learn records addr for ttl and says whether the kernel must be told:
// a new address, or one whose new expiry is later than the kernel's by
// more than a second. Bounded by the set's limit and budget.
func (s *Set) learn(addr netip.Addr, name string, now time.Time, ttl time.Duration, budget int) (Add, bool) {
	k := s.key(addr)
	exp := now.Add(ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.elems[k]
	had = had && now.Before(old.Expires)
	if had && exp.Sub(old.Expires) < time.Second {
		return Add{}, false
	}
	if !had && len(s.elems) >= s.Limit {
		s.sweep(now)
		if len(s.elems) >= s.Limit {
			s.Limited.Add(1)
			return Add{}, false
		}
	}
	// token bucket: budget per second, burst of one second's worth
	s.tokens = min(float64(budget), s.tokens+now.Sub(s.refill).Seconds()*float64(budget))
	s.refill = now
	if s.tokens < 1 {
		s.Budgeted.Add(1)
		return Add{}, false
	}
	s.tokens--
	if had {
		s.Refreshed.Add(1)
		name = old.Name
	} else {
		s.Added.Add(1)
	}
	s.elems[k] = Elem{Expires: exp, Name: name}
	return Add{Set: s, Addr: addr, Timeout: ttl, Name: name}, true
}

// Forget takes back updates the kernel refused: their addresses are not
// in the kernel set, so they leave the copy too.
func (f *Filler) Forget(adds []Add) {
	for _, a := range adds {
		a.Set.mu.Lock()
		delete(a.Set.elems, a.Set.key(a.Addr))
		a.Set.mu.Unlock()
	}
}

// sweep removes expired elements, counting them. Called with s.mu held.
func (s *Set) sweep(now time.Time) {
	for k, e := range s.elems {
		if !now.Before(e.Expires) {
			delete(s.elems, k)
			s.Expired.Add(1)
		}
	}
}

func (f *Filler) sweepQueries(now time.Time) {
	for k, q := range f.queries {
		if now.Sub(q.at) > queryLife {
			delete(f.queries, k)
		}
	}
}

// Sweep removes expired elements and stale queries; run it every second
// or so.
func (f *Filler) Sweep() {
	now := f.cfg.Now()
	for _, s := range f.Sets {
		s.mu.Lock()
		s.sweep(now)
		s.mu.Unlock()
	}
	f.mu.Lock()
	f.sweepQueries(now)
	f.mu.Unlock()
}
