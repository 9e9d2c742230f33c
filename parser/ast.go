package parser

// The tree a rule file parses into. It holds values, not behaviour: rules/
// compiles it, hooks/ programs the kernel from it. Every value is kept as the
// big-endian bytes nftables itself compares (an IPv4 address is 4 bytes, a
// port 2, an interface name 16), so a match is a byte comparison wherever it
// runs.

import "net/netip"

// Family is an nftables table family nfd supports.
type Family uint8

const (
	FamilyIP Family = iota + 1
	FamilyIP6
	FamilyInet
)

func (f Family) String() string {
	switch f {
	case FamilyIP:
		return "ip"
	case FamilyIP6:
		return "ip6"
	case FamilyInet:
		return "inet"
	}
	return "?"
}

// Hook is a netfilter hook, numbered as the kernel numbers NF_INET_*.
type Hook uint8

const (
	HookPrerouting  Hook = 0
	HookInput       Hook = 1
	HookForward     Hook = 2
	HookOutput      Hook = 3
	HookPostrouting Hook = 4
)

// Hooks lists the five hooks in kernel order.
var Hooks = []Hook{HookPrerouting, HookInput, HookForward, HookOutput, HookPostrouting}

// NumHooks is the number of hooks: arrays indexed by Hook have this length.
const NumHooks = 5

var hookNames = [...]string{"prerouting", "input", "forward", "output", "postrouting"}

func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return "?"
}

// ParseHook maps a hook name to its number.
func ParseHook(s string) (Hook, bool) {
	for i, n := range hookNames {
		if n == s {
			return Hook(i), true
		}
	}
	return 0, false
}

// Ruleset is a whole loaded file, includes flattened and defines expanded.
type Ruleset struct {
	Tables []*Table
	Files  []string    // every file read, the main one first
	fields *fieldOwner // keeps the ruleset's dynamic fields (fieldlife.go)
	memo   *parseMemo  // for a later ParseWith (memo.go)
}

// Table is one nftables table.
type Table struct {
	Pos     Pos
	Family  Family
	Name    string
	Comment string
	Sets    []*Set
	Chains  []*Chain
	Objects []*Object // named stateful objects
	// Dormant is `flags dormant`: the table's base chains see no packets.
	Dormant bool
	fields  *fieldOwner
}

// Chain is a base chain (Base != nil) or a regular chain.
type Chain struct {
	Pos     Pos
	Name    string
	Base    *BaseSpec
	Comment string
	Rules   []*Rule
	// Bound is an anonymous chain a `jump { ... }` or `goto { ... }`
	// declares (a chain binding); it is named __chainN and printed inside
	// its verdict, never on its own.
	Bound  bool
	fields *fieldOwner
	// ctxs are the base-chain contexts the chain runs in (check.go).
	ctxs map[context]bool
}

// ChainType is the `type` of a base chain.
type ChainType uint8

const (
	ChainFilter ChainType = iota
	ChainNAT
	ChainRoute
)

func (t ChainType) String() string { return [...]string{"filter", "nat", "route"}[t] }

// BaseSpec is what makes a chain a base chain.
type BaseSpec struct {
	Pos      Pos
	Type     ChainType
	Hook     Hook
	Priority int
	Policy   VerdictKind // Accept or Drop
}

// Rule is one line of a chain: statements run in order.
type Rule struct {
	Pos     Pos
	Handle  int // per table, in file order, starting at 1
	Stmts   []Stmt
	Comment string
	// Key names the rule's meaning apart from its place (rulekey.go);
	// zero when unknown.
	Key    RuleKey
	fields *fieldOwner
	// What the parser knows of the rule's source (memo.go): src is
	// shared with the rules of later parses that reuse this one.
	src *ruleSrc
	// shared: the statements are Prev's (or copies of them); reused:
	// and Prev checked them; checked: this parse's checks ran on the rule.
	shared, reused, checked bool
}

// Set is a named set or map.
type Set struct {
	Pos    Pos
	Name   string
	Key    []*Type // concatenation of one or more types
	Typeof []Field // when declared with typeof (printed that way)
	IsMap  bool
	Data   *Type // map data type; TypeVerdict for verdict maps
	// DataCat is the data type of a map whose data is a concatenation
	// (`type inet_service : ipv4_addr . inet_service`); Data is then its
	// first type.
	DataCat  []*Type
	DataOf   Field // the typeof expression of the data, when declared so
	Flags    SetFlags
	Timeout  uint64 // seconds, 0 = none
	Size     uint32
	Comment  string
	Elems    []Elem
	AutoMerg bool
	// Counter is the set-level `counter`: every element counts the
	// packets and bytes its lookups find (NFT_SET_EXPR).
	Counter bool
	// CatchAll is the `*` element: it matches every key no other element
	// holds (NFT_SET_ELEM_CATCHALL); for maps it carries the value.
	CatchAll *Elem
	// DNS is nfd's `dns names` / `dns resolvers` option: a set nfd fills
	// from the DNS answers it sees (nil for none).
	DNS *SetDNS
	// ObjKind is the kind of object a named object map's elements name
	// (`type ipv4_addr : counter`): counter, quota, limit or synproxy;
	// Data is then typeObjName.
	ObjKind string
	fields  *fieldOwner

	// Packed holds the elements instead of Elems once the ruleset is
	// compiled and kept running (Ruleset.PackSets; read them with
	// NumElems, ElemAt, ElemKey).
	Packed *ElemPack
}

// SetDNS is a set filled from DNS answers: the addresses of Names (host
// patterns as `tls sni` takes them, lower case) go in with the answer's
// TTL; Resolvers, when set, are the servers whose answers count.
type SetDNS struct {
	Pos       Pos
	Names     []string
	Resolvers []netip.Addr
}

// SetFlags are the flags of a named set.
type SetFlags uint8

const (
	SetConstant SetFlags = 1 << iota
	SetInterval
	SetTimeout
	SetDynamic
)

// Elem is a set element: one value or an interval [Lo, Hi] per key field,
// laid out as the concatenation of the key types. For hostname keys Lo holds
// the lower-case pattern and Hi equals Lo.
type Elem struct {
	// CatchAll marks the `*` element while parsing; it is kept apart
	// (Set.CatchAll, Value.CatchAll), never among Elems.
	CatchAll bool
	Lo, Hi   []byte
	Verdict  *Verdict // for verdict maps
	Data     []byte   // for data maps (a concatenation: the fields' bytes joined)
	// DataHi is the end of a range or prefix given as the data of an
	// anonymous NAT map (`192.168.1.1-192.168.1.10`, `10.0.0.0/24`), nil
	// otherwise: nft's interval data, loaded as two registers.
	DataHi []byte

	// Element options, in named sets and maps only (nft's
	// set_elem_stmt_list and set_elem_expr_options).
	OptPos  Pos      // where the first option is, for errors
	Counter *Counter // `counter [packets N bytes M]`, with a set-level counter
	Timeout uint64   // seconds the element lives, 0 = the set's timeout
	Expires uint64   // seconds left of its life at load, 0 = all of it
	Comment string
}

// HasOptions reports whether the element carries any option.
func (e *Elem) HasOptions() bool {
	return e.Counter != nil || e.Timeout != 0 || e.Expires != 0 || e.Comment != ""
}

// Stmt is a match or a statement of a rule.
type Stmt interface{ StmtPos() Pos }

// Op is a relational operator.
type Op uint8

const (
	OpImplicit Op = iota // no operator written: == , or "any bit set" for flag types
	OpEq
	OpNe
	OpLt
	OpGt
	OpLe
	OpGe
	// OpNeg is nft's `!` before flags: none of these bits is set,
	// `(f & v) == 0`.
	OpNeg
)

var opNames = [...]string{"", "==", "!=", "<", ">", "<=", ">=", "!"}

func (o Op) String() string { return opNames[o] }

// Ordered reports whether o is <, >, <= or >=.
func (o Op) Ordered() bool { return o >= OpLt && o <= OpGe }

// Value is the right-hand side of a match: literal elements (one, or an
// anonymous set when Anon), or a reference to a named set.
type Value struct {
	Pos    Pos
	Anon   bool
	Elems  []Elem
	SetRef string
	// CatchAll is an anonymous set's or verdict map's `*` element, if any.
	CatchAll *Elem
}

// Match compares one field, or a concatenation of fields, with a value.
type Match struct {
	Pos  Pos
	Keys []Field
	// Mask and Xor: the left side's bitwise operations (`&`, `|`, `^`,
	// `and`, `or`, `xor`) folded into (field & Mask) ^ Xor, as the
	// kernel's nft_bitwise computes; single key only. Xor is nil when
	// zero, Mask nil when there is no operation.
	Mask []byte
	Xor  []byte
	// Merged: nft 1.0.6's merge of adjacent header matches (nftmerge.go):
	// Keys in header order, one concatenated value, Op == or !=.
	Merged bool
	Op     Op
	Val    Value
}

// VMap looks the key up in a verdict map and applies the verdict found.
type VMap struct {
	Pos  Pos
	Keys []Field
	Val  Value // Elems carry verdicts, or SetRef names a verdict map
}

// Counter counts packets and bytes.
type Counter struct {
	Pos     Pos
	Packets uint64
	Bytes   uint64
}

// Log logs the packet: to the kernel log (Level, Flags), or with Group to
// an nfnetlink_log group (Snaplen, QThreshold), as nft_log does.
type Log struct {
	Pos    Pos
	Prefix string
	Level  string // "" = default (warn)
	Flags  LogFlags

	HasGroup      bool
	Group         uint16
	HasSnaplen    bool
	Snaplen       uint32
	HasQThreshold bool
	QThreshold    uint16
}

// LogFlags are the NF_LOG_* flags of `log flags`.
type LogFlags uint8

const (
	LogTCPSeq  LogFlags = 0x01 // NF_LOG_TCPSEQ
	LogTCPOpt  LogFlags = 0x02 // NF_LOG_TCPOPT
	LogIPOpt   LogFlags = 0x04 // NF_LOG_IPOPT
	LogUID     LogFlags = 0x08 // NF_LOG_UID
	LogMACDec  LogFlags = 0x20 // NF_LOG_MACDECODE
	LogFlagAll LogFlags = 0x2f // NF_LOG_MASK
)

// Quota matches until (or, with Over, once) Bytes bytes have passed it,
// counting every packet that reaches it (nft_quota).
type Quota struct {
	Pos   Pos
	Over  bool
	Bytes uint64
	Used  uint64
}

// RateUnit is the time unit of a limit.
type RateUnit uint8

const (
	PerSecond RateUnit = iota
	PerMinute
	PerHour
	PerDay
	PerWeek
)

var rateUnitNames = [...]string{"second", "minute", "hour", "day", "week"}

// Seconds is the unit's length.
func (u RateUnit) Seconds() uint64 { return [...]uint64{1, 60, 3600, 86400, 604800}[u] }

func (u RateUnit) String() string { return rateUnitNames[u] }

// Limit is a token bucket; with Over it matches when the rate is exceeded.
type Limit struct {
	Pos   Pos
	Rate  uint64
	Unit  RateUnit
	Bytes bool // rate in bytes (Rate is bytes per unit)
	Over  bool
	Burst uint32 // packets, or bytes when Bytes; 0 = default
}

// MarkSet is `meta mark set` or `ct mark set`.
type MarkSet struct {
	Pos   Pos
	Ct    bool   // ct mark (else meta mark)
	Value uint32 // used when From == 0 and Map == nil
	// From is the field copied: meta mark, ct mark, or a numgen, jhash or
	// symhash field (kernel-only); 0 for a value or a map.
	From Field
	// Map: the mark is what the key maps to (`ip saddr map { ... }`).
	Map *DataMap
	// With Ops, the mark set is (From & Mask) ^ Xor, as nft folds `&`,
	// `|` and `xor` with a constant into one bitwise expression.
	Ops       bool
	Mask, Xor uint32
	// Shift (ShiftLeft, ShiftRight) moves From by ShiftBy bits before
	// Mask and Xor apply (nft_bitwise's shift operations).
	Shift   uint8
	ShiftBy uint32
}

// MarkSet shifts.
const (
	ShiftLeft  = 1 // NFT_BITWISE_LSHIFT
	ShiftRight = 2 // NFT_BITWISE_RSHIFT
)

// VerdictKind is an nftables verdict.
type VerdictKind uint8

const (
	VerdictAccept VerdictKind = iota + 1
	VerdictDrop
	VerdictContinue
	VerdictReturn
	VerdictJump
	VerdictGoto
)

var verdictNames = [...]string{"", "accept", "drop", "continue", "return", "jump", "goto"}

func (v VerdictKind) String() string { return verdictNames[v] }

// Verdict ends rule evaluation (jump and goto move to Target).
type Verdict struct {
	Pos    Pos
	Kind   VerdictKind
	Target string
	Bound  *Chain // the anonymous chain of `jump { ... }`, whose name Target is
}

// RejectKind says how a reject answers.
type RejectKind uint8

const (
	RejectDefault RejectKind = iota // ICMP port unreachable (ICMPv6 for IPv6), as nft does
	RejectTCPReset
	RejectICMP   // ICMP (IPv4) code
	RejectICMPv6 // ICMPv6 code
	RejectICMPx  // family-independent code
)

// Reject drops the packet and answers the sender.
type Reject struct {
	Pos  Pos
	Kind RejectKind
	Code uint8
}

// NATKind is a NAT statement; NAT only ever runs in the kernel.
type NATKind uint8

const (
	NATSnat NATKind = iota + 1
	NATDnat
	NATMasquerade
	NATRedirect
)

var natNames = [...]string{"", "snat", "dnat", "masquerade", "redirect"}

func (k NATKind) String() string { return natNames[k] }

// NAT rewrites addresses or ports.
type NAT struct {
	Pos            Pos
	Kind           NATKind
	Family         Family // FamilyIP or FamilyIP6 when written (`snat ip to`), else 0
	AddrFamily     Family // family of AddrLo/AddrHi or of AddrMap's data
	AddrLo, AddrHi []byte // nil when no address
	HasPort        bool   // a port (or port map) is given; `:0` is a port
	PortLo, PortHi uint16
	// AddrMap: the address (and, with concatenated data, the port) is
	// what a key maps to (`dnat to ip saddr map { ... }`); AddrLo is nil.
	AddrMap *DataMap
	// PortMap: the port is what a key maps to (`redirect to :tcp dport
	// map { ... }`).
	PortMap *DataMap
	// Prefix: `prefix to` (netmap, NF_NAT_RANGE_NETMAP): the address
	// range keeps the packet's host bits.
	Prefix bool
	Flags  []string
}

// DataMap is nft's map expression: the data a key maps to, `KEY map {
// k : v, ... }` or `KEY map @m`. Keys may be numgen, jhash or symhash
// fields.
type DataMap struct {
	Pos  Pos
	Keys []Field
	Val  Value   // anonymous elements carrying Data (DataHi), or SetRef
	Data []*Type // the data's type, a concatenation when more than one
	// Interval: the data are ranges (Elem.DataHi), nft's interval data.
	Interval bool
}

// Notrack exempts the packet from connection tracking.
type Notrack struct{ Pos Pos }

func (s *Match) StmtPos() Pos   { return s.Pos }
func (s *VMap) StmtPos() Pos    { return s.Pos }
func (s *Counter) StmtPos() Pos { return s.Pos }
func (s *Log) StmtPos() Pos     { return s.Pos }
func (s *Limit) StmtPos() Pos   { return s.Pos }
func (s *MarkSet) StmtPos() Pos { return s.Pos }
func (s *Verdict) StmtPos() Pos { return s.Pos }
func (s *Reject) StmtPos() Pos  { return s.Pos }
func (s *NAT) StmtPos() Pos     { return s.Pos }
func (s *Notrack) StmtPos() Pos { return s.Pos }
func (s *Quota) StmtPos() Pos   { return s.Pos }

// IsTerminal reports whether the statement ends the rule's evaluation
// whenever it is reached.
func IsTerminal(s Stmt) bool {
	switch s := s.(type) {
	case *Verdict:
		return true
	case *Reject:
		return true
	case *NAT:
		return s.Kind != 0
	}
	return false
}

// Table looks a table up by family and name.
func (rs *Ruleset) Table(f Family, name string) *Table {
	for _, t := range rs.Tables {
		if t.Family == f && t.Name == name {
			return t
		}
	}
	return nil
}

// Chain looks a chain up by name.
func (t *Table) Chain(name string) *Chain {
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Set looks a set or map up by name.
func (t *Table) Set(name string) *Set {
	for _, s := range t.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}
