package parser

import (
	"sort"
	"strings"
)

// Field is what a match looks at: a header field, packet metadata,
// conntrack state, a routing or socket lookup, or one of nfd's own layer-7
// names. It indexes the field table (fieldtable.go): every part of nfd —
// parser, checker, userspace evaluator, kernel translator, flow-bypass
// analysis — reads the same FieldInfo, as nft's proto.c templates and the
// kernel's nft_payload/nft_exthdr/nft_meta/nft_ct expressions describe a
// field by data (base, offset, length, type, dependency).
type Field uint16

// The fields nfd's own code names. Every other field lives only in the
// table and is found by name.
const (
	FieldNone Field = iota
	FieldIPSaddr
	FieldIPDaddr
	FieldIPProtocol
	FieldIPTTL
	FieldIPLength
	FieldIP6Saddr
	FieldIP6Daddr
	FieldIP6Nexthdr
	FieldIP6Hoplimit
	FieldTCPSport
	FieldTCPDport
	FieldTCPFlags
	FieldUDPSport
	FieldUDPDport
	FieldTHSport
	FieldTHDport
	FieldICMPType
	FieldICMPCode
	FieldICMP6Type
	FieldICMP6Code
	FieldMetaL4proto
	FieldMetaNfproto
	FieldMetaIif
	FieldMetaOif
	FieldMetaIifname
	FieldMetaOifname
	FieldMetaMark
	FieldMetaLength
	FieldMetaPkttype
	FieldCtState
	FieldCtStatus
	FieldCtMark
	FieldCtDirection
	FieldTLSSNI
	FieldHTTPHost
	FieldDNSQname
	numNamedFields
)

// Proto is the header a field lives in, for dependency and conflict checks.
type Proto uint8

const (
	ProtoNone Proto = iota
	ProtoIP
	ProtoIP6
	ProtoTCP
	ProtoUDP
	ProtoTH // any transport header: tcp, udp, udplite, sctp, dccp
	ProtoICMP
	ProtoICMP6
	ProtoUDPLite
	ProtoSCTP
	ProtoDCCP
	ProtoAH
	ProtoESP
	ProtoComp
	ProtoIGMP
	ProtoEther // the link layer
	ProtoVLAN
	ProtoIPAny // either IPv4 or IPv6 (ipsec, rt ip/ip6 are per-family fields)
)

type protoInfo struct {
	name    string
	family  uint8 // 4 or 6 when the header implies the network family
	l4      uint8 // IPPROTO_* of a transport header (meta l4proto dependency)
	network bool  // a network header
}

var protos = [...]protoInfo{
	ProtoNone:    {name: ""},
	ProtoIP:      {name: "ip", family: 4, network: true},
	ProtoIP6:     {name: "ip6", family: 6, network: true},
	ProtoTCP:     {name: "tcp", l4: 6},
	ProtoUDP:     {name: "udp", l4: 17},
	ProtoTH:      {name: "th"},
	ProtoICMP:    {name: "icmp", family: 4, l4: 1},
	ProtoICMP6:   {name: "icmpv6", family: 6, l4: 58},
	ProtoUDPLite: {name: "udplite", l4: 136},
	ProtoSCTP:    {name: "sctp", l4: 132},
	ProtoDCCP:    {name: "dccp", l4: 33},
	ProtoAH:      {name: "ah", l4: 51},
	ProtoESP:     {name: "esp", l4: 50},
	ProtoComp:    {name: "comp", l4: 108},
	ProtoIGMP:    {name: "igmp", family: 4, l4: 2},
	ProtoEther:   {name: "ether"},
	ProtoVLAN:    {name: "vlan"},
	ProtoIPAny:   {name: "ip"},
}

func (p Proto) String() string { return protos[p].name }

// Family is 4 or 6 when the header belongs to one network family.
func (p Proto) Family() uint8 { return protos[p].family }

// L4 is the IP protocol number a transport header implies (0 for none).
func (p Proto) L4() uint8 { return protos[p].l4 }

// IsTransport reports whether p is a transport header (th included).
func (p Proto) IsTransport() bool { return protos[p].l4 != 0 || p == ProtoTH }

// protoByL4 maps an IP protocol number to the transport header nft knows.
func protoByL4(n uint8) Proto {
	for p := range protos {
		if protos[p].l4 == n && n != 0 {
			return Proto(p)
		}
	}
	return ProtoNone
}

// Base is where a field's bytes come from: the kernel expression that
// loads it, and the locator nfd's evaluator uses.
type Base uint8

const (
	BaseNone   Base = iota
	BaseLL          // link-layer header (nft_payload NFT_PAYLOAD_LL_HEADER)
	BaseNH          // network header
	BaseTH          // transport header
	BaseIH          // inner header
	BaseIP6Ext      // an IPv6 extension header (nft_exthdr NFT_EXTHDR_OP_IPV6), Key = its type
	BaseTCPOpt      // a TCP option (NFT_EXTHDR_OP_TCPOPT), Key = its kind
	BaseIPOpt       // an IPv4 option (NFT_EXTHDR_OP_IPV4), Key = its type
	BaseSCTP        // an SCTP chunk (NFT_EXTHDR_OP_SCTP), Key = its type
	BaseMeta        // nft_meta, Key = NFT_META_*
	BaseCt          // nft_ct, Key = NFT_CT_*, Dir = 0 none, 1 original, 2 reply
	BaseFib         // nft_fib, Key = NFT_FIB_RESULT_*, Flags = NFTA_FIB_F_*
	BaseRt          // nft_rt, Key = NFT_RT_*
	BaseSocket      // nft_socket, Key = NFT_SOCKET_*, Level for cgroupv2
	BaseOsf         // nft_osf, Flags = NFT_OSF_F_VERSION, Key = ttl mode
	BaseXfrm        // nft_xfrm (ipsec), Key = NFT_XFRM_KEY_*, Dir, Level = spnum
	BaseNumgen      // nft_numgen, Key = type, Level = modulus, Off = offset
	BaseHash        // nft_hash, Key 0 jhash / 1 symhash, Level = modulus, Off = offset, Flags = seed
	BaseL7          // nfd's own: tls sni, http host, dns qname
)

// FieldInfo describes a field: where its bits are, what they mean, what
// they depend on, and who can evaluate it.
type FieldInfo struct {
	Name  string // as printed: "ip saddr", "tcp option maxseg size", "iif"
	Type  *Type
	Proto Proto // the header it lives in: dependency and conflicts
	Base  Base
	Key   uint32 // the base's selector (meta key, option kind, ...)
	Off   uint32 // bit offset in the header (payload, exthdr)
	Len   uint32 // bit length (payload, exthdr); 0: the Type's size
	Flags uint32 // kernel expression flags (exthdr present, fib flags)
	Dir   uint8  // ct and ipsec direction: 0 none, 1 original/in, 2 reply/out
	Level uint32 // socket cgroupv2 level, ipsec spnum, numgen modulus
	// Host: the kernel register holds the value in host byte order
	// (meta and ct integers).
	Host bool
	// Exists: the field is the presence of a header or option (nft's
	// NFT_EXTHDR_F_PRESENT): 1 or 0, never a failed load.
	Exists bool
	// FlowConst: equal for every packet of a connection in one
	// direction (addresses, ports, protocols, interfaces, names).
	FlowConst bool
	// KernelOnly says why nfd cannot know the field in userspace ("" if
	// it can): a rule reading it must run natively.
	KernelOnly string
	// Userspace: only nfd can evaluate it (layer-7 names).
	Userspace bool
	// Hooks: the hooks the kernel's expression validates for (a bitmask
	// of 1<<Hook; 0: any), as nft_fib_validate, nft_xfrm_validate do.
	Hooks uint8
	// Families the kernel accepts it in (a bitmask of 1<<Family; 0: any).
	Families uint8
	// Refuse: nft refuses (or aborts on) every use of this field; the
	// message says why. Parsed so the error is precise.
	Refuse string
	// NoFamilyDep: an ICMP/ICMPv6/IGMP field in an ip or ip6 table,
	// where nft's only dependency is the transport protocol (`icmpv6
	// type` in an ip table matches ICMPv6 carried by IPv4); in inet
	// tables nft also requires the family.
	NoFamilyDep bool
	// TypeDep: the ICMP/ICMPv6 message types the field belongs to, as
	// bytes (icmp id: echo-request, echo-reply); nft adds a hidden
	// `icmp type` dependency for such fields, so other messages never
	// match. Empty: any type.
	TypeDep string
	// NftAbortsEqProto: nft aborts on `==` (or a set) against a protocol
	// it knows (ah nexthdr, comp nexthdr); nfd refuses those forms.
	NftAbortsEqProto bool
}

// Deps is the protocol dependency nft adds for the field
// (payload_gen_dependency): the network family (4 or 6) for network and
// transport header payloads and IPv6/IPv4 option headers — none for an
// ICMP field outside inet tables (NoFamilyDep) — and the transport
// protocol for transport payloads. TCP option and SCTP chunk loads check
// the protocol themselves (nft_exthdr_tcp_eval, nft_exthdr_sctp_eval: a
// `missing` option matches a UDP packet), so nft adds none; nor for ct,
// rt and fib keys, whose expressions check the family.
func (fi *FieldInfo) Deps() (family, l4 uint8) {
	switch fi.Base {
	case BaseNH, BaseTH, BaseIP6Ext, BaseIPOpt:
		if !fi.NoFamilyDep {
			family = fi.Proto.Family()
		}
	}
	if fi.Base == BaseTH {
		l4 = fi.Proto.L4()
	}
	return family, l4
}

// Bits is the field's width in bits.
func (fi *FieldInfo) Bits() uint32 {
	if fi.Len != 0 {
		return fi.Len
	}
	if fi.Type.Bits != 0 {
		return uint32(fi.Type.Bits)
	}
	return uint32(8 * fi.Type.Size)
}

// Info returns the field's description.
func (f Field) Info() *FieldInfo { return &fieldTab[f] }

func (f Field) String() string { return fieldTab[f].Name }

// Type is the field's data type.
func (f Field) Type() *Type { return fieldTab[f].Type }

// Userspace reports whether only nfd can evaluate the field.
func (f Field) Userspace() bool { return fieldTab[f].Userspace }

// KernelOnly says why only the kernel can evaluate the field, or "".
func (f Field) KernelOnly() string { return fieldTab[f].KernelOnly }

// FlowConst reports whether the field is equal for every packet of a
// connection in one direction.
func (f Field) FlowConst() bool { return fieldTab[f].FlowConst }

// FieldByName finds a field by its printed name ("ip saddr", "iif").
func FieldByName(s string) Field {
	fieldMu.Lock()
	defer fieldMu.Unlock()
	return byName[s]
}

// NamedFields lists the fields of the table (not those a ruleset made up),
// for tests and generators.
func NamedFields() []Field {
	fieldMu.Lock()
	defer fieldMu.Unlock()
	out := make([]Field, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// selectors maps a first word to its second words: "tcp" → "dport" → Field.
// Built from the table; the multi-word forms (tcp option, ct original, ...)
// are parsed in fieldparse.go.
var selectors = map[string]map[string]Field{}

// shorthands: one word standing for a meta field (`iif`, `mark`, ...).
var shorthands = map[string]Field{}

func registerNamed(f Field) {
	fi := &fieldTab[f]
	byName[fi.Name] = f
	if sel, rest, ok := strings.Cut(fi.Name, " "); ok && !strings.Contains(rest, " ") {
		if selectors[sel] == nil {
			selectors[sel] = map[string]Field{}
		}
		selectors[sel][rest] = f
	}
}
