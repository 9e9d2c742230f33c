package parser

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Type is an nftables data type: how many bytes a value has, how it is
// written, and how it prints.
type Type struct {
	Name    string // as in `type ipv4_addr`
	Size    int    // bytes; 0 for variable-length strings
	Bitmask bool   // values are OR-able flags (ct state, tcp flags)
	Symbols []Symbol
	Hex     bool // print as 0x%08x (marks)
	// Bits is the value's width when it is not 8*Size (ip dscp: 6, tcp
	// doff: 4); values above 1<<Bits-1 are refused as nft refuses them.
	Bits int
	// Max, when set, is the largest valid value (meta day: 6).
	Max uint64
	// Interval types accept prefixes and ranges as literals.
	kind typeKind
}

type typeKind uint8

const (
	kInt typeKind = iota
	kIPv4
	kIPv6
	kIfname
	kHostname
	kVerdict
	kEther    // ether_addr: aa:bb:cc:dd:ee:ff
	kString   // a fixed-size, zero-padded string (osf name, iifkind)
	kTime     // meta time: a date, or nanoseconds
	kHour     // meta hour: seconds since midnight, written hh:mm[:ss]
	kDuration // ct expiration: "1m30s" or seconds, held in milliseconds
	kNamed    // an integer with names from a system file (uid, gid, devgroup, classid, cgroupv2)
	kIfindex  // an interface index; names resolve when the rules load (ifindex.go)
)

// Symbol is a named constant of a type.
type Symbol struct {
	Name  string
	Value uint64
}

func sym(pairs ...any) []Symbol {
	var out []Symbol
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Symbol{pairs[i].(string), uint64(pairs[i+1].(int))})
	}
	return out
}

// The types nfd knows. Names are those of nft.
var (
	TypeIPv4 = &Type{Name: "ipv4_addr", Size: 4, kind: kIPv4}
	TypeIPv6 = &Type{Name: "ipv6_addr", Size: 16, kind: kIPv6}
	// Service and protocol names come from /etc/services and
	// /etc/protocols, as nft's do (netdb.go); these are the fallback for a
	// host without those files.
	TypeService = &Type{Name: "inet_service", Size: 2, Symbols: sym(
		"ftp-data", 20, "ftp", 21, "ssh", 22, "telnet", 23, "smtp", 25, "domain", 53, "bootps", 67,
		"bootpc", 68, "tftp", 69, "http", 80, "kerberos", 88, "pop3", 110, "sunrpc", 111, "ntp", 123,
		"imap", 143, "snmp", 161, "snmp-trap", 162, "bgp", 179, "ldap", 389, "https", 443,
		"microsoft-ds", 445, "isakmp", 500, "submissions", 465, "syslog", 514, "submission", 587,
		"ldaps", 636, "rsync", 873, "imaps", 993, "pop3s", 995, "openvpn", 1194, "mysql", 3306,
		"ms-wbt-server", 3389, "ipsec-nat-t", 4500, "postgresql", 5432, "http-alt", 8080)}
	TypeProto = &Type{Name: "inet_proto", Size: 1, Symbols: sym(
		"icmp", 1, "igmp", 2, "tcp", 6, "udp", 17, "gre", 47, "esp", 50, "ah", 51, "ipv6-icmp", 58,
		"icmpv6", 58, "sctp", 132, "udplite", 136)}
	TypeIfname = &Type{Name: "ifname", Size: 16, kind: kIfname}
	// An interface index: names resolve when the rules load (ifindex.go).
	TypeIfindex   = &Type{Name: "iface_index", Size: 4, kind: kIfindex}
	TypeMark      = &Type{Name: "mark", Size: 4, Hex: true}
	TypeU8        = &Type{Name: "integer", Size: 1}
	TypeU16       = &Type{Name: "integer", Size: 2}
	TypeU32       = &Type{Name: "integer", Size: 4}
	TypeICMPType  = &Type{Name: "icmp_type", Size: 1, Symbols: sym("echo-reply", 0, "destination-unreachable", 3, "source-quench", 4, "redirect", 5, "echo-request", 8, "router-advertisement", 9, "router-solicitation", 10, "time-exceeded", 11, "parameter-problem", 12, "timestamp-request", 13, "timestamp-reply", 14, "info-request", 15, "info-reply", 16, "address-mask-request", 17, "address-mask-reply", 18)}
	TypeICMP6Type = &Type{Name: "icmpv6_type", Size: 1, Symbols: sym("destination-unreachable", 1, "packet-too-big", 2, "time-exceeded", 3, "parameter-problem", 4, "echo-request", 128, "echo-reply", 129, "mld-listener-query", 130, "mld-listener-report", 131, "mld-listener-done", 132, "mld-listener-reduction", 132, "nd-router-solicit", 133, "nd-router-advert", 134, "nd-neighbor-solicit", 135, "nd-neighbor-advert", 136, "nd-redirect", 137, "router-renumbering", 138, "ind-neighbor-solicit", 141, "ind-neighbor-advert", 142, "mld2-listener-report", 143)}
	TypeICMPCode  = &Type{Name: "icmp_code", Size: 1, Symbols: sym("net-unreachable", 0, "host-unreachable", 1, "prot-unreachable", 2, "port-unreachable", 3, "frag-needed", 4, "net-prohibited", 9, "host-prohibited", 10, "admin-prohibited", 13)}
	TypeICMP6Code = &Type{Name: "icmpv6_code", Size: 1, Symbols: sym("no-route", 0, "admin-prohibited", 1, "addr-unreachable", 3, "port-unreachable", 4, "policy-fail", 5, "reject-route", 6)}
	TypeICMPxCode = &Type{Name: "icmpx_code", Size: 1, Symbols: sym("no-route", 0, "port-unreachable", 1, "host-unreachable", 2, "admin-prohibited", 3)}
	// ct state bits are NF_CT_STATE_BIT(ctinfo) of the kernel.
	TypeCtState  = &Type{Name: "ct_state", Size: 4, Bitmask: true, Symbols: sym("invalid", 1, "established", 2, "related", 4, "new", 8, "untracked", 64)}
	TypeCtStatus = &Type{Name: "ct_status", Size: 4, Bitmask: true, Symbols: sym("expected", 1, "seen-reply", 2, "assured", 4, "confirmed", 8, "snat", 16, "dnat", 32, "dying", 512)}
	TypeCtDir    = &Type{Name: "ct_dir", Size: 1, Symbols: sym("original", 0, "reply", 1)}
	TypeTCPFlag  = &Type{Name: "tcp_flag", Size: 1, Bitmask: true, Symbols: sym("fin", 1, "syn", 2, "rst", 4, "psh", 8, "ack", 16, "urg", 32, "ecn", 64, "cwr", 128)}
	TypePktType  = &Type{Name: "pkt_type", Size: 1, Symbols: sym("host", 0, "unicast", 0, "broadcast", 1, "multicast", 2, "other", 3)}
	TypeNfProto  = &Type{Name: "nf_proto", Size: 1, Symbols: sym("ipv4", 2, "ipv6", 10)}
	TypeHostname = &Type{Name: "hostname", kind: kHostname}
	TypeVerdict  = &Type{Name: "verdict", kind: kVerdict}
)

// setTypes are the types a named set may be declared with (`type X`).
var setTypes = []*Type{TypeIPv4, TypeIPv6, TypeService, TypeProto, TypeIfname, TypeMark,
	TypeICMPType, TypeICMP6Type, TypeCtState, TypePktType, TypeNfProto, TypeHostname, TypeIfindex}

func setTypeNames() []string {
	var n []string
	for _, t := range setTypes {
		n = append(n, t.Name)
	}
	return n
}

func lookupSetType(name string) *Type {
	for _, t := range setTypes {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// IsInterval reports whether values of the type can be ranges.
func (t *Type) IsInterval() bool { return t.kind != kHostname && t.kind != kVerdict }

func (t *Type) symbolNames() []string {
	if t == TypeService || t == TypeProto {
		if n := currentNetDB().names(t); n != nil {
			return n
		}
	}
	var n []string
	for _, s := range t.Symbols {
		n = append(n, s.Name)
	}
	return n
}

// symbol resolves a name of the type: services and protocols through the
// system's databases (netdb.go), everything else through the type's own
// table, which is nft's.
func (t *Type) symbol(name string) (uint64, bool) {
	switch t {
	case TypeService:
		return currentNetDB().service(name)
	case TypeProto:
		return currentNetDB().protocol(name)
	}
	return t.embedded(name)
}

// embedded looks a name up in the type's own table.
func (t *Type) embedded(name string) (uint64, bool) {
	for _, s := range t.Symbols {
		if s.Name == name {
			return s.Value, true
		}
	}
	return 0, false
}

func (t *Type) maxValue() uint64 {
	if t.Max != 0 {
		return t.Max
	}
	if t.Bits > 0 && t.Bits < 64 {
		return 1<<t.Bits - 1
	}
	if t.Size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*t.Size) - 1
}

func putUint(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// Uint reads a big-endian value of up to 8 bytes.
func Uint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// parseScalar parses one literal (no range, no prefix) of the type.
func (t *Type) parseScalar(s string, quoted bool) ([]byte, error) {
	switch t.kind {
	case kIPv4, kIPv6:
		if t.kind == kIPv4 && (isDigits(s) || strings.HasPrefix(s, "0x")) {
			// nft resolves a lone number as getaddrinfo does: 80 is
			// 0.0.0.80, 4294967295 is 255.255.255.255.
			if v, err := parseNftUint(s, 32); err == nil {
				b := make([]byte, 4)
				putUint(b, v)
				return b, nil
			}
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			if t.kind == kIPv4 && strings.Contains(s, ":") {
				return nil, fmt.Errorf("`%s` is an IPv6 address, expected an IPv4 address", s)
			}
			return nil, fmt.Errorf("found `%s`, expected %s address", s, map[bool]string{true: "an IPv4", false: "an IPv6"}[t.kind == kIPv4])
		}
		if t.kind == kIPv4 && !a.Is4() {
			return nil, fmt.Errorf("`%s` is an IPv6 address, expected an IPv4 address", s)
		}
		if t.kind == kIPv6 && !a.Is6() {
			return nil, fmt.Errorf("`%s` is an IPv4 address, expected an IPv6 address", s)
		}
		return a.AsSlice(), nil
	case kIfname:
		// nft takes any 1 to 15 bytes (a name no interface can have, such
		// as "eth 0", loads and never matches).
		if len(s) == 0 || len(s) >= 16 {
			return nil, fmt.Errorf("interface name %q must be 1 to 15 characters", s)
		}
		b := make([]byte, 16)
		copy(b, s)
		return b, nil
	case kHostname:
		return nil, fmt.Errorf("internal: hostname parsed as scalar")
	case kEther:
		// six octets of one or two hex digits (nft takes 0:f:54:c:11:4)
		parts := strings.Split(s, ":")
		b := make([]byte, 0, 6)
		for _, x := range parts {
			v, err := strconv.ParseUint(x, 16, 8)
			if err != nil || len(x) == 0 || len(x) > 2 {
				b = nil
				break
			}
			b = append(b, byte(v))
		}
		if len(parts) != 6 || len(b) != 6 {
			return nil, fmt.Errorf("found `%s`, expected an Ethernet address such as 00:11:22:33:44:55", s)
		}
		return b, nil
	case kString:
		if s == "" {
			return nil, fmt.Errorf("empty string is not allowed")
		}
		if len(s) >= t.Size {
			return nil, fmt.Errorf("string %q is too long (at most %d characters)", s, t.Size-1)
		}
		b := make([]byte, t.Size)
		copy(b, s)
		return b, nil
	case kHour:
		return parseHour(s)
	case kTime:
		return parseTime(s, quoted)
	case kDuration:
		return parseDurationMs(s, t.Size)
	case kNamed:
		if v, ok, err := t.lookupName(s); ok || err != nil {
			if err != nil {
				return nil, err
			}
			b := make([]byte, t.Size)
			putUint(b, v)
			return b, nil
		}
	case kIfindex:
		b := make([]byte, 4)
		if i, ok := currentInterfaces().Index(s); ok {
			putUint(b, uint64(i))
			return b, nil
		}
		if !quoted {
			if v, err := parseNftUint(s, 32); err == nil {
				putUint(b, v)
				return b, nil
			}
		}
		return nil, fmt.Errorf("interface `%s` does not exist: nft resolves `iif`/`oif` names to interface indexes when it loads the rules (use `iifname`/`oifname` to match by name)", s)
	}
	if !quoted && (t == TypeService || t == TypeProto) && nftValueKeywords[s] {
		if v, ok := t.symbol(s); ok {
			return nil, fmt.Errorf("`%s` is an nft keyword, which nft does not take as a %s name here: write %d or \"%s\"", s, map[bool]string{true: "service", false: "protocol"}[t == TypeService], v, s)
		}
		return nil, fmt.Errorf("`%s` is an nft keyword, not a %s value", s, t.Name)
	}
	if v, ok := t.symbol(s); ok {
		b := make([]byte, t.Size)
		putUint(b, v)
		return b, nil
	}
	// nft resolves a quoted port or protocol with getaddrinfo and
	// getprotobyname, which take numbers too: "22" is port 22.
	if !quoted || ((t == TypeService || t == TypeProto) && isDigits(s)) {
		if v, err := parseNftUint(s, 64); err == nil {
			if v > t.maxValue() {
				return nil, fmt.Errorf("value %s out of range for %s (at most %d)", s, t.Name, t.maxValue())
			}
			b := make([]byte, t.Size)
			putUint(b, v)
			return b, nil
		} else if errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("value %s out of range for %s (at most %d)", s, t.Name, t.maxValue())
		}
	}
	what := t.Name
	if len(t.Symbols) > 0 {
		what = t.Name + " (a number or one of: " + strings.Join(firstN(t.symbolNames(), 8), ", ") + ")"
		if sg := suggest(s, t.symbolNames()); sg != "" {
			return nil, fmt.Errorf("unknown %s `%s`, did you mean `%s`?", t.Name, s, sg)
		}
	}
	return nil, fmt.Errorf("found `%s`, expected %s", s, what)
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseLiteral parses one literal of the type: a value, a range `a-b`, a
// prefix `a/n`, or a wildcard interface name `eth*`. It returns the interval.
func (t *Type) ParseLiteral(s string, quoted bool) (lo, hi []byte, err error) {
	if t.kind == kHostname {
		p, err := normalizeHostPattern(s)
		if err != nil {
			return nil, nil, err
		}
		b := []byte(p)
		return b, b, nil
	}
	if t.kind == kIfname {
		if strings.HasSuffix(s, "*") && !strings.HasSuffix(s, `\*`) {
			stem := strings.TrimSuffix(s, "*")
			if len(stem) >= 16 || strings.Contains(stem, "*") {
				return nil, nil, fmt.Errorf("bad interface wildcard %q", s)
			}
			if stem == "" {
				// nft: "All-wildcard strings are not supported".
				return nil, nil, fmt.Errorf("an interface wildcard needs a name before `*`: nft does not support %q (leave the match out to match every interface)", s)
			}
			if stem != "" {
				if _, err := t.parseScalar(stem, true); err != nil {
					return nil, nil, err
				}
			}
			lo = make([]byte, 16)
			hi = make([]byte, 16)
			copy(lo, stem)
			copy(hi, stem)
			for i := len(stem); i < 16; i++ {
				hi[i] = 0xff
			}
			return lo, hi, nil
		}
		// `eth\*` is the literal name "eth*" (nft drops the backslash).
		s = strings.TrimSuffix(s, `\*`) + map[bool]string{true: "*"}[strings.HasSuffix(s, `\*`)]
		b, err := t.parseScalar(s, quoted)
		return b, b, err
	}
	if !quoted && (t.kind == kIPv4 || t.kind == kIPv6) {
		if a, n, ok := strings.Cut(s, "/"); ok {
			bits, err := strconv.Atoi(n)
			base, err2 := t.parseScalar(a, false)
			if err2 != nil {
				return nil, nil, err2
			}
			if err != nil || bits < 0 || bits > 8*t.Size {
				return nil, nil, fmt.Errorf("bad prefix length in `%s`", s)
			}
			lo, hi = prefixRange(base, bits)
			return lo, hi, nil
		}
	}
	if !quoted {
		if a, b, ok := splitRange(s); ok {
			lo, err = t.parseScalar(a, false)
			if err != nil {
				return nil, nil, err
			}
			hi, err = t.parseScalar(b, false)
			if err != nil {
				return nil, nil, err
			}
			if string(lo) > string(hi) {
				return nil, nil, fmt.Errorf("range `%s` is empty: %s is greater than %s", s, a, b)
			}
			return lo, hi, nil
		}
	}
	b, err := t.parseScalar(s, quoted)
	return b, b, err
}

// splitRange splits "a-b" where both sides are non-empty and neither is a
// symbol containing '-' (so "echo-request" is not a range).
func splitRange(s string) (string, string, bool) {
	for i := 1; i < len(s)-1; i++ {
		if s[i] != '-' {
			continue
		}
		a, b := s[:i], s[i+1:]
		if startsValue(a) && startsValue(b) {
			return a, b, true
		}
	}
	return "", "", false
}

// startsValue reports whether s looks like a numeric or address literal.
func startsValue(s string) bool {
	if s == "" {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		return true
	}
	if strings.Contains(s, ":") {
		return true
	}
	return false
}

func prefixRange(base []byte, bits int) (lo, hi []byte) {
	lo = make([]byte, len(base))
	hi = make([]byte, len(base))
	for i := range base {
		m := byte(0)
		if bits >= 8*(i+1) {
			m = 0xff
		} else if bits > 8*i {
			m = byte(0xff << (8 - (bits - 8*i)))
		}
		lo[i] = base[i] & m
		hi[i] = base[i] | ^m
	}
	return lo, hi
}

// PrefixLen returns n when [lo,hi] is exactly a /n prefix, else -1.
func PrefixLen(lo, hi []byte) int {
	n := 0
	i := 0
	for ; i < len(lo); i++ {
		if lo[i] != hi[i] {
			break
		}
		n += 8
	}
	if i == len(lo) {
		return n
	}
	x := lo[i] ^ hi[i]
	// x must be 0...01...1 with lo having zeros and hi ones there.
	if x&(x+1) != 0 || lo[i]&x != 0 || hi[i]&x != x {
		return -1
	}
	for b := byte(0x80); b != 0 && x&b == 0; b >>= 1 {
		n++
	}
	for i++; i < len(lo); i++ {
		if lo[i] != 0 || hi[i] != 0xff {
			return -1
		}
	}
	return n
}

// FormatValue prints one value of the type as nft does.
func (t *Type) FormatValue(b []byte) string {
	switch t.kind {
	case kIPv4, kIPv6:
		a, _ := netip.AddrFromSlice(b)
		return a.String()
	case kIfname:
		n := strings.TrimRight(string(b), "\x00")
		if strings.HasSuffix(n, "*") {
			// a literal star, not a wildcard: nft writes it escaped
			return `"` + strings.TrimSuffix(n, "*") + `\*"`
		}
		return strconv.Quote(n)
	case kTime:
		return formatTime(b)
	case kHostname, kString:
		return strconv.Quote(strings.TrimRight(string(b), "\x00"))
	case kEther:
		return net.HardwareAddr(b).String()
	case kHour:
		return formatHour(b)
	case kDuration:
		return formatDurationMs(Uint(b))
	}
	if t == TypeCtLabel {
		var bits []string
		for i := 0; i < 128 && len(b) == 16; i++ {
			if b[15-i/8]&(1<<(i%8)) != 0 {
				bits = append(bits, strconv.Itoa(i))
			}
		}
		return strings.Join(bits, ",")
	}
	switch t.kind {
	case kIfindex:
		// As `nft list` prints it: the interface's name now, else the number.
		if n, ok := currentInterfaces().Name(uint32(Uint(b))); ok {
			return strconv.Quote(n)
		}
		return strconv.FormatUint(Uint(b), 10)
	}
	v := Uint(b)
	if t.Bitmask {
		if v == 0 {
			return "0x0"
		}
		var parts []string
		rest := v
		for _, s := range t.Symbols {
			if s.Value != 0 && rest&s.Value == s.Value {
				parts = append(parts, s.Name)
				rest &^= s.Value
			}
		}
		if rest != 0 {
			parts = append(parts, fmt.Sprintf("0x%x", rest))
		}
		return strings.Join(parts, ",")
	}
	for _, s := range t.Symbols {
		if s.Value == v && t != TypeService && t != TypeProto {
			return s.Name
		}
	}
	if t == TypeProto {
		if n := currentNetDB().protocolName(v); n != "" {
			return n
		}
	}
	if t.Hex {
		return fmt.Sprintf("0x%08x", v)
	}
	return strconv.FormatUint(v, 10)
}

// FormatInterval prints a value, prefix or range.
func (t *Type) FormatInterval(lo, hi []byte) string {
	if string(lo) == string(hi) {
		return t.FormatValue(lo)
	}
	switch t.kind {
	case kIPv4, kIPv6:
		if n := PrefixLen(lo, hi); n >= 0 {
			return t.FormatValue(lo) + "/" + strconv.Itoa(n)
		}
	case kIfname:
		stem := strings.TrimRight(string(lo), "\x00")
		return strconv.Quote(stem + "*")
	}
	if t == TypeProto || t.kind == kIfindex || (len(t.Symbols) > 0 && !t.Bitmask && t != TypeService) {
		// Symbol and interface names hold hyphens (ipv6-frag,
		// echo-request): a range of names would not read back. nft
		// prints such ranges as numbers.
		return strconv.FormatUint(Uint(lo), 10) + "-" + strconv.FormatUint(Uint(hi), 10)
	}
	return t.FormatValue(lo) + "-" + t.FormatValue(hi)
}

// normalizeHostPattern validates a host name or wildcard ("*.example.com")
// and folds it to lower case. DNS label rules: labels of 1 to 63 letters,
// digits, '-' or '_', at most 253 characters, a '*' only as the whole
// leftmost label.
func normalizeHostPattern(s string) (string, error) {
	p := strings.ToLower(strings.TrimSuffix(s, "."))
	if p == "" || len(p) > 253 {
		return "", fmt.Errorf("host name %q must be 1 to 253 characters", s)
	}
	labels := strings.Split(p, ".")
	for i, l := range labels {
		if l == "*" && i == 0 && len(labels) > 1 {
			continue
		}
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("host name %q has an empty or over-long label", s)
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				if c == '*' {
					return "", fmt.Errorf("host pattern %q: `*` may only be the whole leftmost label, as in \"*.example.com\"", s)
				}
				return "", fmt.Errorf("host name %q has invalid character %q", s, c)
			}
		}
	}
	return p, nil
}
