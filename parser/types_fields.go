package parser

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Data types of the fields beyond the first few, with nft's names, widths
// and symbolic constants (checked against `nft describe` by
// TestFieldsDescribe).
var (
	TypeDSCP = &Type{Name: "dscp", Size: 1, Bits: 6, Symbols: sym("cs0", 0x00, "cs1", 0x08, "cs2", 0x10, "cs3", 0x18,
		"cs4", 0x20, "cs5", 0x28, "cs6", 0x30, "cs7", 0x38, "df", 0x00, "be", 0x00, "lephb", 0x01, "af11", 0x0a,
		"af12", 0x0c, "af13", 0x0e, "af21", 0x12, "af22", 0x14, "af23", 0x16, "af31", 0x1a, "af32", 0x1c,
		"af33", 0x1e, "af41", 0x22, "af42", 0x24, "af43", 0x26, "va", 0x2c, "ef", 0x2e)}
	TypeECN       = &Type{Name: "ecn", Size: 1, Bits: 2, Symbols: sym("not-ect", 0, "ect1", 1, "ect0", 2, "ce", 3)}
	TypeEtherType = &Type{Name: "ether_type", Size: 2, Symbols: sym("ip", 0x0800, "arp", 0x0806, "ip6", 0x86dd,
		"8021q", 0x8100, "8021ad", 0x88a8, "vlan", 0x8100)}
	TypeEther    = &Type{Name: "ether_addr", Size: 6, kind: kEther}
	TypeIGMPType = &Type{Name: "igmp_type", Size: 1, Symbols: sym("membership-query", 17, "membership-report-v1", 18, "membership-report-v2", 22, "membership-report-v3", 34, "leave-group", 23)}
	TypeDCCPType = &Type{Name: "dccp_pkttype", Size: 1, Bits: 4, Symbols: sym("request", 0, "response", 1, "data", 2, "ack", 3, "dataack", 4, "closereq", 5, "close", 6, "reset", 7, "sync", 8, "syncack", 9)}
	TypeIfType   = &Type{Name: "iface_type", Size: 2, Symbols: sym("ether", 1, "ppp", 0x200, "ipip", 0x300, "ipip6", 0x301, "loopback", 0x304, "sit", 0x308, "ipgre", 0x30a)}
	TypeFibAddr  = &Type{Name: "fib_addrtype", Size: 4, Symbols: sym("unspec", 0, "unicast", 1, "local", 2, "broadcast", 3, "anycast", 4, "multicast", 5, "blackhole", 6, "unreachable", 7, "prohibit", 8)}
	TypeDay      = &Type{Name: "day", Size: 1, Max: 6, Symbols: sym("Sunday", 0, "Monday", 1, "Tuesday", 2, "Wednesday", 3, "Thursday", 4, "Friday", 5, "Saturday", 6)}
	TypeHour     = &Type{Name: "hour", Size: 4, kind: kHour}
	TypeTime     = &Type{Name: "time", Size: 8, kind: kTime}
	TypeCtTime   = &Type{Name: "time", Size: 4} // ct expiration, in milliseconds
	TypeMHType   = &Type{Name: "mh_type", Size: 1, Symbols: sym("binding-refresh-request", 0, "home-test-init", 1, "careof-test-init", 2, "home-test", 3, "careof-test", 4, "binding-update", 5, "binding-acknowledgement", 6, "binding-error", 7, "fast-binding-update", 8, "fast-binding-acknowledgement", 9, "fast-binding-advertisement", 10, "experimental-mobility-header", 11, "home-agent-switch-message", 12)}
	TypeBool     = &Type{Name: "boolean", Size: 1, Symbols: sym("exists", 1, "missing", 0)}
	TypeUID      = &Type{Name: "uid", Size: 4}
	TypeGID      = &Type{Name: "gid", Size: 4}
	TypeRealm    = &Type{Name: "realm", Size: 4}
	TypeDevgroup = &Type{Name: "devgroup", Size: 4}
	TypeClassid  = &Type{Name: "classid", Size: 4}
	TypeIfindexN = &Type{Name: "iface_index", Size: 4} // an index, as fib and sdif return it
	TypeString16 = &Type{Name: "string", Size: 16, kind: kString}
	TypeCtLabel  = &Type{Name: "ct_label", Size: 16, Bitmask: true}
	TypeBitmask8 = &Type{Name: "bitmask", Size: 1, Bitmask: true}
	TypeCgroupv2 = &Type{Name: "cgroupsv2", Size: 8}
	TypeU64      = &Type{Name: "integer", Size: 8}
)

var (
	intTypesMu sync.Mutex
	intTypes   = map[int]*Type{8: TypeU8, 16: TypeU16, 32: TypeU32, 64: TypeU64}
)

// intBits is nft's `integer` of a width in bits.
func intBits(bits int) *Type {
	intTypesMu.Lock()
	defer intTypesMu.Unlock()
	if t := intTypes[bits]; t != nil {
		return t
	}
	t := &Type{Name: "integer", Size: (bits + 7) / 8, Bits: bits}
	if bits%8 == 0 {
		t.Bits = 0
	}
	intTypes[bits] = t
	return t
}

// parseHour reads nft's hour type, "hh:mm" or "hh:mm:ss" in local time,
// into seconds since midnight UTC, as nft's hour_type_parse does (the
// kernel compares with the packet's UTC time of day).
func parseHour(s string) ([]byte, error) {
	var h, m, sec int
	n, err := fmt.Sscanf(s, "%d:%d:%d", &h, &m, &sec)
	if err != nil && n < 2 {
		return nil, fmt.Errorf("found `%s`, expected an hour such as 17:30 or 17:30:05", s)
	}
	if h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59 || strings.Count(s, ":") > 2 {
		return nil, fmt.Errorf("`%s` is not a valid hour (00:00 to 23:59:59)", s)
	}
	_, off := time.Now().Zone()
	v := ((h*3600+m*60+sec-off)%86400 + 86400) % 86400
	b := make([]byte, 4)
	putUint(b, uint64(v))
	return b, nil
}

func formatHour(b []byte) string {
	_, off := time.Now().Zone()
	v := (int(Uint(b))+off)%86400 + 86400
	v %= 86400
	if v%60 != 0 {
		return fmt.Sprintf("\"%02d:%02d:%02d\"", v/3600, v/60%60, v%60)
	}
	return fmt.Sprintf("\"%02d:%02d\"", v/3600, v/60%60)
}

// parseTime reads nft's time type for `meta time`: a date "2019-06-06
// 17:00[:00]" in local time, or a number of seconds, into nanoseconds since
// the epoch.
func parseTime(s string, quoted bool) ([]byte, error) {
	var t time.Time
	var err error
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err = time.ParseInLocation(layout, s, time.Local); err == nil {
			break
		}
	}
	if err != nil {
		v, err2 := strconv.ParseUint(s, 10, 64)
		if err2 != nil || quoted {
			return nil, fmt.Errorf("found `%s`, expected a date such as \"2019-06-06 17:00\"", s)
		}
		t = time.Unix(int64(v), 0)
	}
	b := make([]byte, 8)
	putUint(b, uint64(t.UnixNano()))
	return b, nil
}
