package conntrack

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfdproject/nfd/packet"
)

// ct state bits as nftables sees them (NF_CT_STATE_BIT(ctinfo)); the same
// values as the parser's ct_state type.
const (
	StateInvalid     uint32 = 1
	StateEstablished uint32 = 2
	StateRelated     uint32 = 4
	StateNew         uint32 = 8
	StateUntracked   uint32 = 64
)

// ct status bits (enum ip_conntrack_status), as the parser's ct_status.
const (
	StatusSeenReply uint32 = 2
	StatusAssured   uint32 = 4
	StatusConfirmed uint32 = 8
	StatusDying     uint32 = 512
)

// Directions.
const (
	DirOriginal uint8 = 0
	DirReply    uint8 = 1
)

// DefaultMax is the default entry limit: the kernel's nf_conntrack_max on
// a machine with 4 GiB or more (nf_conntrack_htable_size 262144, max = size).
const DefaultMax = 262144

const (
	numShards = 256
	// evictionRange is NF_CT_EVICTION_RANGE: how many entries early drop
	// looks at for a victim.
	evictionRange = 8
	// dyingLinger keeps a killed entry visible to later hooks of the same
	// packet (never to Track or List).
	dyingLinger = 2 * time.Second
)

// entry is the value stored per connection. It holds no pointers, so a
// million of them cost the garbage collector nothing to scan.
type entry struct {
	expires  int64 // clock nanoseconds
	created  int64
	pkts     [2]uint64
	bytes    [2]uint64
	mark     uint32
	status   uint32
	swapped  bool // the original direction is the reverse of the key
	tcpState TCPState
	icmpType uint8
	icmpCode uint8
	names    uint8 // which layer-7 names the shard's l7 map holds (1<<Name*)
	synced   int64 // clock nanoseconds of the last resync with the kernel's entry
	reborn   bool  // replaced a connection of the same tuple (see kernelDestroyed)
	lastIdx  uint8 // TCP: packet class+1 of the last valid or ignored packet (last_index), 0 none
	lastDir  uint8 // TCP: its direction (last_dir)
	ignored  bool  // TCP: Track judged the last packet invalid-but-ignored (for Lookup)
}

type shard struct {
	mu sync.Mutex // guards m, l7 and pending
	m  map[Tuple]entry
	// l7 holds the layer-7 names of the few connections that have one;
	// kept apart so that entry stays pointer-free.
	l7 map[Tuple]Names
	// pending holds names being reassembled across segments (reassembly.go).
	pending map[Tuple]*pendingName
	_       [32]byte // keep shards on separate cache lines
}

// KernelEntry is what the kernel's own table says about a connection, for
// importing flows whose first packets nfd did not see (they took a hook
// nfd does not queue).
type KernelEntry struct {
	Orig     Tuple // the kernel's original direction
	TCPState uint8 // enum tcp_conntrack
	Status   uint32
	Mark     uint32
	Timeout  time.Duration
}

// Resolver asks the kernel's conntrack table about tup (either direction).
type Resolver func(tup Tuple) (KernelEntry, bool)

// Config sets up a table.
type Config struct {
	// Resolve, when set, is asked once when a packet belongs to no entry:
	// if the kernel already tracks the connection (nfd saw none of its
	// earlier packets), its state is imported instead of starting anew.
	Resolve  Resolver
	Max      int          // entry limit; 0 means DefaultMax
	Timeouts *Timeouts    // nil means DefaultTimeouts()
	Loose    *bool        // nf_conntrack_tcp_loose: pick up mid-stream TCP (default true)
	Now      func() int64 // clock in nanoseconds; nil means a monotonic clock
}

// Table is the connection table. All methods are safe for concurrent use
// by any number of goroutines: each shard has its own mutex, taken for the
// few hundred nanoseconds one lookup-and-update needs.
type Table struct {
	shards   [numShards]shard
	max      int64
	timeouts Timeouts
	loose    bool
	now      func() int64
	resolve  Resolver

	count    atomic.Int64
	reapAt   atomic.Uint32 // next shard the reaper visits
	resyncOn atomic.Bool   // see resync.go and SetResync
	oneSided atomic.Bool   // see onesided.go and SetOneSided
	own      ownReplies    // see attach.go
	stats    counters
}

type counters struct {
	inserts, evictions, drops, invalid, expired, kernelDeleted, related, imported, resynced, pendingAbandoned atomic.Uint64
	resyncWindow                                                                                              atomic.Int64 // second of the resync budget
	resyncCount                                                                                               atomic.Int64
}

// Stats is a snapshot of the table's counters.
type Stats struct {
	Entries       int64
	Max           int64
	Inserts       uint64 // connections created
	Evictions     uint64 // non-assured entries dropped early to make room
	Drops         uint64 // new connections refused: table full, nothing evictable
	Invalid       uint64 // packets judged invalid
	Expired       uint64 // entries whose timeout ran out
	KernelDeleted uint64 // entries removed because the kernel ended them
	Related       uint64 // ICMP errors matched to a tracked connection
	Imported      uint64 // connections taken over from the kernel's table
	Resynced      uint64 // entries brought up to date from the kernel's table
	// NamesAbandoned are ClientHellos and HTTP request heads spanning
	// segments that were not reassembled (out of order, too slow, too many
	// at once): those connections have no name of that kind.
	NamesAbandoned uint64
}

var monoStart = time.Now()

func monotonic() int64 { return int64(time.Since(monoStart)) }

// New makes a table.
func New(cfg Config) *Table {
	t := &Table{max: int64(cfg.Max), loose: true, now: cfg.Now}
	if t.max <= 0 {
		t.max = DefaultMax
	}
	if cfg.Timeouts != nil {
		t.timeouts = *cfg.Timeouts
	} else {
		t.timeouts = DefaultTimeouts()
	}
	if cfg.Loose != nil {
		t.loose = *cfg.Loose
	}
	if t.now == nil {
		t.now = monotonic
	}
	t.resolve = cfg.Resolve
	for i := range t.shards {
		t.shards[i].m = make(map[Tuple]entry)
	}
	return t
}

// Result is what the table says about one packet.
type Result struct {
	State   uint32 // one of the State* bits
	Status  uint32 // Status* bits of the entry, after this packet
	Dir     uint8
	Mark    uint32
	Key     Tuple // the entry's key, for SetMark and Forget
	Found   bool  // an entry backs this result
	Created bool  // this packet created the entry
	Dropped bool  // table full: the kernel would drop this packet
	NoEntry bool  // Lookup found no entry for a trackable packet
	Names   Names // the connection's layer-7 names, as SetName recorded them
	// pending: a name of the connection is being reassembled (reassembly.go).
	pending bool
}

func (t *Table) shardOf(k *Tuple) *shard { return &t.shards[k.hash()%numShards] }

func shardIndex(k *Tuple) int { return int(k.hash() % numShards) }

// fill reports entry e; called without the shard's lock.
func (t *Table) fill(r *Result, e *entry, key Tuple, dir uint8, state uint32) {
	*r = Result{State: state, Status: e.status, Dir: dir, Mark: e.mark, Key: key, Found: true, pending: e.names&namePending != 0}
	if e.names&namesMask != 0 {
		r.Names = t.names(key)
	}
}

func (t *Table) invalid(r *Result) {
	t.stats.invalid.Add(1)
	*r = Result{State: StateInvalid}
}

// newConn creates the entry for the first packet of a connection, called
// with s locked. It follows the protocols' new() checks: a TCP packet must
// be a SYN (or, with loose pickup, an ACK); ICMP must be a request.
func (t *Table) newConn(s *shard, p *packet.Parsed, key Tuple, swapped bool, now int64, r *Result) {
	// Not confirmed: the kernel confirms the entry only when its first
	// packet leaves the last hook (nf_conntrack_confirm()), so every rule
	// that packet meets sees it unconfirmed; Track confirms it at the
	// next packet (a first packet that is not accepted forgets it).
	e := entry{created: now, synced: now, swapped: swapped}
	switch key.Proto {
	case packet.ProtoTCP:
		st := tcpConntracks[0][tcpIndex(p.TCPFlags)][sNO]
		if st == sIV || (st == sES && !t.loose) {
			t.invalid(r)
			return
		}
		e.tcpState = st
		e.expires = now + int64(t.timeouts.TCP[st])
	case packet.ProtoUDP, packet.ProtoUDPLite:
		e.expires = now + int64(t.timeouts.UDP)
	case packet.ProtoSCTP:
		if !sctpNew(p) {
			t.invalid(r)
			return
		}
		e.expires = now + int64(t.timeouts.Generic)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		if !icmpNew(key.Family, p.ICMPType) {
			t.invalid(r)
			return
		}
		e.icmpType, e.icmpCode = p.ICMPType, p.ICMPCode
		e.expires = now + int64(t.timeouts.ICMP)
	default:
		e.expires = now + int64(t.timeouts.Generic)
	}
	if t.count.Load() >= t.max && !t.earlyDrop(shardIndex(&key)) {
		t.stats.drops.Add(1)
		*r = Result{State: StateInvalid, Dropped: true}
		return
	}
	e.pkts[0] = 1
	e.bytes[0] = uint64(p.Len())
	s.m[key] = e
	t.count.Add(1)
	t.stats.inserts.Add(1)
	*r = Result{State: StateNew, Status: e.status, Key: key, Found: true, Created: true}
}

// importEntry adds a connection the kernel already tracks, with the
// kernel's state (the packet at hand already counted there). Called with s
// locked.
func (t *Table) importEntry(s *shard, key Tuple, ke KernelEntry, now int64) {
	_, swapped := ke.Orig.canonical()
	e := entry{created: now, swapped: swapped, status: ke.Status | StatusConfirmed, mark: ke.Mark,
		tcpState: TCPState(ke.TCPState), expires: now + int64(ke.Timeout)}
	if e.tcpState > sS2 {
		e.tcpState = sES
	}
	if ke.Timeout <= 0 {
		e.expires = now + int64(t.timeouts.Generic)
	}
	if t.count.Load() >= t.max && !t.earlyDrop(shardIndex(&key)) {
		t.stats.drops.Add(1)
		return
	}
	s.m[key] = e
	t.count.Add(1)
	t.stats.inserts.Add(1)
	t.stats.imported.Add(1)
}

// earlyDrop frees one slot as early_drop() does: it evicts a connection
// that is not assured, looking at up to evictionRange entries, starting in
// the new one's shard and going on through the next ones. Called with s
// locked (index start); other shards are only tried (TryLock), never waited for.
func (t *Table) earlyDrop(start int) bool {
	seen := 0
	scan := func(x *shard) bool {
		for k, e := range x.m {
			if seen++; seen > evictionRange {
				return false
			}
			if e.status&StatusAssured == 0 {
				x.remove(k, &e)
				t.count.Add(-1)
				t.stats.evictions.Add(1)
				return true
			}
		}
		return false
	}
	if scan(&t.shards[start]) {
		return true
	}
	for i := 1; i < numShards && seen < evictionRange; i++ {
		x := &t.shards[(start+i)%numShards]
		if !x.mu.TryLock() {
			continue
		}
		ok := scan(x)
		x.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// peek copies an entry out under its shard's lock.
func (t *Table) peek(key Tuple) (entry, bool) {
	s := t.shardOf(&key)
	s.mu.Lock()
	e, ok := s.m[key]
	s.mu.Unlock()
	return e, ok
}

// related handles an ICMP error: it is RELATED when the packet it quotes
// belongs to a tracked connection (nf_conntrack_inet_error()), else invalid.
func (t *Table) related(p *packet.Parsed, r *Result) {
	var q packet.Parsed
	var inner Tuple
	if !p.DecodeInner(&q) || !tupleFromPacket(&q, &inner) {
		*r = Result{State: StateInvalid}
		return
	}
	key, swapped := inner.canonical()
	e, ok := t.peek(key)
	if !ok || e.expires <= t.now() || e.status&StatusDying != 0 {
		*r = Result{State: StateInvalid}
		return
	}
	// The error travels against the quoted packet.
	dir := DirReply
	if swapped != e.swapped {
		dir = DirOriginal
	}
	t.stats.related.Add(1)
	t.fill(r, &e, key, dir, StateRelated)
}

// dirState says which direction a packet of tup travels in entry e, and
// its ct state: reply packets, and packets of a connection that has seen a
// reply, are established; the rest new (resolve_normal_ct()).
func dirState(e *entry, tup Tuple, swapped bool) (uint8, uint32) {
	dir := DirOriginal
	if swapped != e.swapped && tup != tup.Reply() {
		dir = DirReply
	}
	if dir == DirReply || e.status&StatusSeenReply != 0 {
		return dir, StateEstablished
	}
	return dir, StateNew
}

// classify does what Track and Lookup share before touching the table: it
// fills tup and returns true for a packet that belongs to a connection;
// otherwise it sets r (invalid, untracked, or related for ICMP errors) and
// returns false.
func (t *Table) classify(p *packet.Parsed, tup *Tuple, r *Result) bool {
	*r = Result{}
	switch {
	case t.ownReply(p, r):
		// nfd's own RST or ICMP error: it carries the rejected packet's
		// connection, as the kernel's (attach.go).
	case !tupleFromPacket(p, tup):
		r.State = StateInvalid
	case p.Flags&packet.BadChecksum != 0:
		r.State = StateInvalid // tcp_error(), udp_error(), icmp_error(): nf_checksum() failed
	case p.IsICMPError():
		t.related(p, r)
	case untracked(p):
		r.State = StateUntracked
	case tup.Proto == packet.ProtoTCP && (!p.HasTransport(packet.TCPMinSize) || p.PayloadOff == 0 || !tcpFlagsValid(p.TCPFlags)):
		r.State = StateInvalid // tcp_error(): short header, bad data offset, bad flags
	case (tup.Proto == packet.ProtoUDP || tup.Proto == packet.ProtoUDPLite) && !udpLengthValid(p):
		r.State = StateInvalid // udp_error(): truncated or malformed
	case tup.Proto == packet.ProtoSCTP && !p.HasTransport(12):
		r.State = StateInvalid // sctp_error(): shorter than the common header
	default:
		return true
	}
	return false
}

// Lookup classifies a packet the table has already tracked, at a later
// hook of its path (input, forward, postrouting), without changing
// anything. It gives the same answer Track gave, except that a packet
// which created no entry is reported invalid.
func (t *Table) Lookup(p *packet.Parsed, r *Result) {
	var view packet.Parsed
	p = p.ConntrackView(&view)
	var tup Tuple
	if !t.classify(p, &tup, r) {
		return
	}
	key, swapped := tup.canonical()
	e, ok := t.peek(key)
	if !ok || e.expires <= t.now() && e.status&StatusDying == 0 {
		*r = Result{State: StateInvalid, NoEntry: true}
		return
	}
	dir, state := dirState(&e, tup, swapped)
	if next := tcpConntracks[dir][tcpIndex(p.TCPFlags)][e.tcpState]; tup.Proto == packet.ProtoTCP && (next == sIV || next == sIG && e.ignored) {
		*r = Result{State: StateInvalid}
		return
	}
	t.fill(r, &e, key, dir, state)
}

// untracked reports the ICMPv6 neighbour discovery and MLD messages the
// kernel never tracks (noct_valid_new[] in nf_conntrack_proto_icmpv6.c):
// they carry ct state untracked.
func untracked(p *packet.Parsed) bool {
	if p.Family != 6 || p.L4Proto != packet.ProtoICMPv6 || !p.HasTransport(1) {
		return false
	}
	switch p.ICMPType {
	case 130, 131, 132, 133, 134, 135, 136, 143, 151, 152: // MLD, ND, MLDv2, multicast router discovery
		return true
	}
	return false
}

// SetMark sets the connection's mark (`ct mark set`).
func (t *Table) SetMark(key Tuple, mark uint32) {
	s := t.shardOf(&key)
	s.mu.Lock()
	if e, ok := s.m[key]; ok {
		e.mark = mark
		s.m[key] = e
	}
	s.mu.Unlock()
}

// Forget removes an entry that its first packet created when that packet
// was then dropped: the kernel never confirms such a connection. A
// confirmed entry stays (a packet looped back through lo was confirmed at
// postrouting before it met the rule that dropped it).
func (t *Table) Forget(key Tuple) {
	s := t.shardOf(&key)
	s.mu.Lock()
	if e, ok := s.m[key]; ok && e.pkts[0]+e.pkts[1] <= 1 && e.status&StatusConfirmed == 0 {
		s.remove(key, &e)
		t.count.Add(-1)
	}
	s.mu.Unlock()
}

// Confirm confirms the connection r reports, as nf_conntrack_confirm()
// does when a connection's first packet leaves postrouting: for a packet
// looped back through lo, which the host's prerouting and input hooks see
// after that. r's status follows.
func (t *Table) Confirm(r *Result) {
	if !r.Found {
		return
	}
	s := t.shardOf(&r.Key)
	s.mu.Lock()
	if e, ok := s.m[r.Key]; ok {
		e.status |= StatusConfirmed
		s.m[r.Key] = e
		r.Status = e.status
	}
	s.mu.Unlock()
}

// Delete removes the connection of tuple (either direction), as when the
// kernel reports it destroyed. It reports whether there was one.
func (t *Table) Delete(tup Tuple) bool {
	key, _ := tup.canonical()
	s := t.shardOf(&key)
	s.mu.Lock()
	e, ok := s.m[key]
	if ok {
		s.remove(key, &e)
		t.count.Add(-1)
	}
	s.mu.Unlock()
	return ok
}

// Flush removes every entry.
func (t *Table) Flush() {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		t.count.Add(-int64(len(s.m)))
		s.m = make(map[Tuple]entry)
		s.l7, s.pending = nil, nil
		s.mu.Unlock()
	}
}

// Len is the number of entries.
func (t *Table) Len() int64 { return t.count.Load() }

// Stats returns the counters.
func (t *Table) Stats() Stats {
	return Stats{
		Entries: t.count.Load(), Max: t.max,
		Inserts: t.stats.inserts.Load(), Evictions: t.stats.evictions.Load(), Drops: t.stats.drops.Load(),
		Invalid: t.stats.invalid.Load(), Expired: t.stats.expired.Load(), KernelDeleted: t.stats.kernelDeleted.Load(),
		Related: t.stats.related.Load(), Imported: t.stats.imported.Load(), Resynced: t.stats.resynced.Load(), NamesAbandoned: t.stats.pendingAbandoned.Load(),
	}
}

// ReapShards removes expired entries from the next n shards, round robin,
// and returns how many it removed. Each shard is locked only while it is
// swept, so expiry never stops the world.
func (t *Table) ReapShards(n int) int {
	removed := 0
	now := t.now()
	for i := 0; i < n; i++ {
		s := &t.shards[t.reapAt.Add(1)%numShards]
		gone := 0
		s.mu.Lock()
		for k, e := range s.m {
			if e.expires <= now {
				s.remove(k, &e)
				if e.status&StatusDying == 0 {
					t.stats.expired.Add(1)
				}
				gone++
			}
		}
		t.count.Add(-int64(gone))
		s.mu.Unlock()
		removed += gone
	}
	return removed
}

// RunReaper sweeps one shard every period/numShards until stop is closed,
// so every entry is looked at once per period. The caller owns the
// goroutine that runs it.
func (t *Table) RunReaper(stop <-chan struct{}, period time.Duration) {
	tick := time.NewTicker(max(period/numShards, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			t.ReapShards(1)
		}
	}
}

// udpLengthValid is udp_error()'s length check: the UDP header's length
// must cover the header and fit in the packet (for UDP-Lite, the checksum
// coverage: 0 means all, else at least the header and within the packet;
// and udplite_error() wants a checksum).
func udpLengthValid(p *packet.Parsed) bool {
	l4 := p.Transport()
	if len(l4) < packet.UDPSize {
		return false
	}
	n := int(binary.BigEndian.Uint16(l4[4:]))
	wire := p.WireLen - p.L4Off // skb->len - dataoff, captured or not
	if p.L4Proto == packet.ProtoUDPLite {
		// udplite_error(): n is the checksum coverage; the checksum is
		// mandatory.
		return (n == 0 || (n >= packet.UDPSize && n <= wire)) && (l4[6] != 0 || l4[7] != 0)
	}
	return n >= packet.UDPSize && n <= wire
}

// markReborn flags the entry at key as a new connection on the tuple of
// one nfd has just ended; called with s locked.
func (t *Table) markReborn(s *shard, key Tuple) {
	if e, ok := s.m[key]; ok {
		e.reborn = true
		s.m[key] = e
	}
}

// rebornGrace is how long after nfd replaced a connection a kernel destroy
// event for its tuple is taken to be about the old one.
const rebornGrace = time.Second

// kernelDestroyed removes the connection of tup because the kernel ended
// it. The kernel's event for a connection that nfd has already ended and
// replaced (a RST before any reply, a SYN reopening a closed connection:
// both sides kill the old one at the same packet) arrives after nfd has
// tracked the next packet of the tuple, and must not remove the new
// connection; within rebornGrace of its creation it is ignored.
func (t *Table) kernelDestroyed(tup Tuple) bool {
	key, _ := tup.canonical()
	s := t.shardOf(&key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || (e.reborn && t.now()-e.created < int64(rebornGrace)) {
		return false
	}
	s.remove(key, &e)
	t.count.Add(-1)
	return true
}

// startsConn reports a packet that opens a connection by itself (a TCP
// SYN, an ICMP echo request): the kernel's entry for it is not confirmed
// yet when nfd sees it, so there is nothing to import and no need to ask.
func startsConn(p *packet.Parsed) bool {
	switch p.L4Proto {
	case packet.ProtoTCP:
		return p.TCPFlags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn
	case packet.ProtoICMP:
		return p.ICMPType == 8
	case packet.ProtoICMPv6:
		return p.ICMPType == 128
	}
	return false
}
