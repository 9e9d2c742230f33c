package parser

import (
	"fmt"
	"os"
	"os/user"

	"golang.org/x/sys/unix"
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
	TypeCtTime   = &Type{Name: "time", Size: 4, kind: kDuration} // ct expiration, in milliseconds
	TypeMHType   = &Type{Name: "mh_type", Size: 1, Symbols: sym("binding-refresh-request", 0, "home-test-init", 1, "careof-test-init", 2, "home-test", 3, "careof-test", 4, "binding-update", 5, "binding-acknowledgement", 6, "binding-error", 7, "fast-binding-update", 8, "fast-binding-acknowledgement", 9, "fast-binding-advertisement", 10, "experimental-mobility-header", 11, "home-agent-switch-message", 12)}
	TypeBool     = &Type{Name: "boolean", Size: 1, Symbols: sym("exists", 1, "missing", 0)}
	TypeUID      = &Type{Name: "uid", Size: 4, kind: kNamed}
	TypeGID      = &Type{Name: "gid", Size: 4, kind: kNamed}
	TypeRealm    = &Type{Name: "realm", Size: 4, kind: kNamed}
	TypeDevgroup = &Type{Name: "devgroup", Size: 4, kind: kNamed}
	TypeClassid  = &Type{Name: "classid", Size: 4, kind: kNamed}
	TypeIfindexN = &Type{Name: "iface_index", Size: 4} // an index, as fib and sdif return it
	TypeString16 = &Type{Name: "string", Size: 16, kind: kString}
	TypeCtLabel  = &Type{Name: "ct_label", Size: 16, Bitmask: true}
	// nft's bitmask_type itself (comp flags) is compared as an integer:
	// only types built on it (tcp_flag, ct_state, ...) take the implicit
	// "any of these bits" form (netlink_gen_relational).
	TypeBitmask8 = &Type{Name: "bitmask", Size: 1}
	TypeCgroupv2 = &Type{Name: "cgroupsv2", Size: 8, kind: kNamed}
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

// parseDurationMs reads nft's time type: "1d2h3m4s5ms", or a number of
// seconds, into milliseconds.
func parseDurationMs(s string, size int) ([]byte, error) {
	var ms uint64
	if isDigits(s) {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v > (1<<64-1)/1000 {
			return nil, fmt.Errorf("time %q out of range", s)
		}
		ms = v * 1000
	} else {
		rest := s
		last := uint64(1<<64 - 1) // nft takes each unit once, largest first
		for rest != "" {
			i := 0
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			j := i
			for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
				j++
			}
			if i == 0 {
				return nil, fmt.Errorf("found `%s`, expected a time such as 30s, 1m30s or 1h", s)
			}
			n, _ := strconv.ParseUint(rest[:i], 10, 64)
			unit := map[string]uint64{"d": 86400000, "h": 3600000, "m": 60000, "s": 1000, "ms": 1}[rest[i:j]]
			if unit == 0 || unit >= last {
				return nil, fmt.Errorf("found `%s`, expected a time such as 30s, 1m30s or 1h (units d, h, m, s, ms)", s)
			}
			last = unit
			ms += n * unit
			rest = rest[j:]
		}
	}
	if size == 4 && ms > 1<<32-1 {
		return nil, fmt.Errorf("time %s is too large", s)
	}
	b := make([]byte, size)
	putUint(b, ms)
	return b, nil
}

func formatDurationMs(ms uint64) string {
	if ms == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    uint64
		name string
	}{{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}} {
		if ms >= u.n {
			fmt.Fprintf(&b, "%d%s", ms/u.n, u.name)
			ms %= u.n
		}
	}
	return b.String()
}

// lookupName resolves a name of a kNamed type as nft does: user and group
// names from the system's databases, device groups from
// /etc/iproute2/group, tc classids as "major:minor", "none" or "root",
// cgroupv2 paths (below /sys/fs/cgroup) to their inode number. ok false:
// not a name (a plain number follows).
func (t *Type) lookupName(s string) (uint64, bool, error) {
	if isDigits(s) {
		return 0, false, nil
	}
	switch t {
	case TypeUID:
		u, err := user.Lookup(s)
		if err != nil {
			return 0, false, fmt.Errorf("user %q does not exist", s)
		}
		v, _ := strconv.ParseUint(u.Uid, 10, 32)
		return v, true, nil
	case TypeGID:
		g, err := user.LookupGroup(s)
		if err != nil {
			return 0, false, fmt.Errorf("group %q does not exist", s)
		}
		v, _ := strconv.ParseUint(g.Gid, 10, 32)
		return v, true, nil
	case TypeDevgroup:
		if v, ok := lookupTable("/etc/iproute2/group", s); ok {
			return v, true, nil
		}
		if s == "default" {
			return 0, true, nil
		}
		return 0, false, fmt.Errorf("unknown device group %q (not in /etc/iproute2/group)", s)
	case TypeRealm:
		if v, ok := lookupTable("/etc/iproute2/rt_realms", s); ok {
			return v, true, nil
		}
		return 0, false, fmt.Errorf("unknown realm %q (not in /etc/iproute2/rt_realms)", s)
	case TypeClassid:
		if v, err := strconv.ParseUint(s, 0, 32); err == nil {
			return v, true, nil
		}
		switch s {
		case "none":
			return 0, true, nil
		case "root":
			return 0xffffffff, true, nil
		}
		maj, min, ok := strings.Cut(s, ":")
		a, err1 := strconv.ParseUint(maj, 16, 16)
		b, err2 := strconv.ParseUint(min, 16, 16)
		if !ok || (maj != "" && err1 != nil) || err2 != nil {
			return 0, false, fmt.Errorf("found `%s`, expected a classid such as 1:2, none or root", s)
		}
		return a<<16 | b, true, nil
	case TypeCgroupv2:
		var st unix.Stat_t
		if err := unix.Stat("/sys/fs/cgroup/"+strings.TrimPrefix(s, "/"), &st); err != nil {
			return 0, false, fmt.Errorf("cgroupv2 path %q: %v", s, err)
		}
		return st.Ino, true, nil
	}
	return 0, false, nil
}

// lookupTable reads an iproute2-style "number name" file.
func lookupTable(path, name string) (uint64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") && f[1] == name {
			if v, err := strconv.ParseUint(f[0], 0, 32); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// formatTime prints a meta time value as nft does, a quoted local date.
func formatTime(b []byte) string {
	t := time.Unix(0, int64(Uint(b))).In(time.Local)
	return `"` + t.Format("2006-01-02 15:04:05") + `"`
}
