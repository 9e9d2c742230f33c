package parser

// Field is what a match looks at: a header field, packet metadata, conntrack
// state, or one of nfd's own layer-7 names.
type Field uint8

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
	numFields
)

// Proto is the header a field lives in, for dependency and conflict checks.
type Proto uint8

const (
	ProtoNone Proto = iota
	ProtoIP
	ProtoIP6
	ProtoTCP
	ProtoUDP
	ProtoTH // tcp, udp, udplite, sctp, dccp
	ProtoICMP
	ProtoICMP6
)

var protoNames = [...]string{"", "ip", "ip6", "tcp", "udp", "th", "icmp", "icmpv6"}

func (p Proto) String() string { return protoNames[p] }

// FieldInfo describes a field.
type FieldInfo struct {
	Name      string // as printed: "ip saddr", "meta mark", "iif"
	Type      *Type
	Proto     Proto
	Userspace bool // only nfd can evaluate it (layer 7)
}

var fieldInfo = [numFields]FieldInfo{
	FieldIPSaddr:     {"ip saddr", TypeIPv4, ProtoIP, false},
	FieldIPDaddr:     {"ip daddr", TypeIPv4, ProtoIP, false},
	FieldIPProtocol:  {"ip protocol", TypeProto, ProtoIP, false},
	FieldIPTTL:       {"ip ttl", TypeU8, ProtoIP, false},
	FieldIPLength:    {"ip length", TypeU16, ProtoIP, false},
	FieldIP6Saddr:    {"ip6 saddr", TypeIPv6, ProtoIP6, false},
	FieldIP6Daddr:    {"ip6 daddr", TypeIPv6, ProtoIP6, false},
	FieldIP6Nexthdr:  {"ip6 nexthdr", TypeProto, ProtoIP6, false},
	FieldIP6Hoplimit: {"ip6 hoplimit", TypeU8, ProtoIP6, false},
	FieldTCPSport:    {"tcp sport", TypeService, ProtoTCP, false},
	FieldTCPDport:    {"tcp dport", TypeService, ProtoTCP, false},
	FieldTCPFlags:    {"tcp flags", TypeTCPFlag, ProtoTCP, false},
	FieldUDPSport:    {"udp sport", TypeService, ProtoUDP, false},
	FieldUDPDport:    {"udp dport", TypeService, ProtoUDP, false},
	FieldTHSport:     {"th sport", TypeService, ProtoTH, false},
	FieldTHDport:     {"th dport", TypeService, ProtoTH, false},
	FieldICMPType:    {"icmp type", TypeICMPType, ProtoICMP, false},
	FieldICMPCode:    {"icmp code", TypeICMPCode, ProtoICMP, false},
	FieldICMP6Type:   {"icmpv6 type", TypeICMP6Type, ProtoICMP6, false},
	FieldICMP6Code:   {"icmpv6 code", TypeICMP6Code, ProtoICMP6, false},
	FieldMetaL4proto: {"meta l4proto", TypeProto, ProtoNone, false},
	FieldMetaNfproto: {"meta nfproto", TypeNfProto, ProtoNone, false},
	FieldMetaIif:     {"iif", TypeIfindex, ProtoNone, false},
	FieldMetaOif:     {"oif", TypeIfindex, ProtoNone, false},
	FieldMetaIifname: {"iifname", TypeIfname, ProtoNone, false},
	FieldMetaOifname: {"oifname", TypeIfname, ProtoNone, false},
	FieldMetaMark:    {"meta mark", TypeMark, ProtoNone, false},
	FieldMetaLength:  {"meta length", TypeU32, ProtoNone, false},
	FieldMetaPkttype: {"meta pkttype", TypePktType, ProtoNone, false},
	FieldCtState:     {"ct state", TypeCtState, ProtoNone, false},
	FieldCtStatus:    {"ct status", TypeCtStatus, ProtoNone, false},
	FieldCtMark:      {"ct mark", TypeMark, ProtoNone, false},
	FieldCtDirection: {"ct direction", TypeCtDir, ProtoNone, false},
	FieldTLSSNI:      {"tls sni", TypeHostname, ProtoTCP, true},
	FieldHTTPHost:    {"http host", TypeHostname, ProtoTCP, true},
	FieldDNSQname:    {"dns qname", TypeHostname, ProtoUDP, true},
}

// Info returns the field's description.
func (f Field) Info() FieldInfo { return fieldInfo[f] }

func (f Field) String() string { return fieldInfo[f].Name }

// Type is the field's data type.
func (f Field) Type() *Type { return fieldInfo[f].Type }

// Userspace reports whether only nfd can evaluate the field.
func (f Field) Userspace() bool { return fieldInfo[f].Userspace }

// selectors maps "protocol" → "field" → Field, for parsing.
var selectors = map[string]map[string]Field{
	"ip":     {"saddr": FieldIPSaddr, "daddr": FieldIPDaddr, "protocol": FieldIPProtocol, "ttl": FieldIPTTL, "length": FieldIPLength},
	"ip6":    {"saddr": FieldIP6Saddr, "daddr": FieldIP6Daddr, "nexthdr": FieldIP6Nexthdr, "hoplimit": FieldIP6Hoplimit},
	"tcp":    {"sport": FieldTCPSport, "dport": FieldTCPDport, "flags": FieldTCPFlags},
	"udp":    {"sport": FieldUDPSport, "dport": FieldUDPDport},
	"th":     {"sport": FieldTHSport, "dport": FieldTHDport},
	"icmp":   {"type": FieldICMPType, "code": FieldICMPCode},
	"icmpv6": {"type": FieldICMP6Type, "code": FieldICMP6Code},
	"meta": {"l4proto": FieldMetaL4proto, "nfproto": FieldMetaNfproto, "iif": FieldMetaIif, "oif": FieldMetaOif,
		"iifname": FieldMetaIifname, "oifname": FieldMetaOifname, "mark": FieldMetaMark, "length": FieldMetaLength,
		"pkttype": FieldMetaPkttype},
	"ct":   {"state": FieldCtState, "status": FieldCtStatus, "mark": FieldCtMark, "direction": FieldCtDirection},
	"tls":  {"sni": FieldTLSSNI},
	"http": {"host": FieldHTTPHost},
	"dns":  {"qname": FieldDNSQname},
}

// shorthand selectors: one word standing for a meta field.
var shorthands = map[string]Field{
	"iif": FieldMetaIif, "oif": FieldMetaOif, "iifname": FieldMetaIifname, "oifname": FieldMetaOifname,
	"mark": FieldMetaMark, "l4proto": FieldMetaL4proto,
}

// FieldByName finds a field by its printed name ("ip saddr", "iif").
func FieldByName(s string) Field {
	for f := Field(1); f < numFields; f++ {
		if fieldInfo[f].Name == s {
			return f
		}
	}
	return FieldNone
}
