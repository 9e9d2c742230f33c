package parser

import (
	"bufio"
	"bytes"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Service and protocol names come from the system's databases, as nft's
// do: nft resolves a service with getaddrinfo(NULL, name) and a protocol
// with getprotobyname(3), and prints a protocol with getprotobynumber(3)
// (nftables src/datatype.c, inet_service_type_parse and
// inet_protocol_type_parse/print). nfd reads the same files glibc's
// "files" NSS backend reads, with the same rules:
//
//   - a service is looked up per transport in the order glibc's
//     getaddrinfo tries them (tcp, udp, dccp, udplite, sctp: gaih_inet's
//     typeproto table) and the first one found gives the port; entries
//     for other protocols (ddp) do not resolve;
//   - within a protocol the first line naming the service, by its name or
//     an alias, wins; names compare exactly (strcmp), case included;
//   - a protocol number prints as the official name of the first line
//     with that number.
//
// When a file is missing (no netbase package) nfd falls back to the names
// it embeds (TypeService.Symbols, TypeProto.Symbols) and, for protocols,
// to the names nft's grammar knows without the file (its keywords).
var (
	servicesPath  = "/etc/services"
	protocolsPath = "/etc/protocols"
)

// serviceProtos are the transports getaddrinfo tries, in its order.
var serviceProtos = []string{"tcp", "udp", "dccp", "udplite", "sctp"}

// protoKeywords are protocol names nft's parser turns into numbers
// itself (primary_rhs_expr in parser_bison.y), file or not.
var protoKeywords = map[string]uint8{"tcp": 6, "udp": 17, "udplite": 136, "esp": 50, "ah": 51, "icmp": 1,
	"igmp": 2, "icmpv6": 58, "comp": 108, "dccp": 33, "sctp": 132}

// nftValueKeywords are words nft's scanner always turns into keywords
// (scanner.l rules outside any start condition) that its grammar does not
// take as a value after a port or protocol match, so `tcp dport time` is a
// syntax error in nft even though /etc/services names "time". Quoted, the
// same name resolves. Keywords the grammar does take as values (ip, ether,
// tcp, reset, ...: keyword_expr and primary_rhs_expr) are not listed.
var nftValueKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`eq ne le lt ge gt lshift rshift xor and or not vmap include define
		redefine undefine describe hook device devices table chain rule set element map flowtable handle
		ruleset socket tproxy accept drop continue jump goto return inet netdev add replace update create
		insert delete get list flush rename import export monitor position index comment constant
		interval dynamic auto-merge timeout gc-interval elements expires policy size flow offload meter
		counter log queue limit quota hour day reject masquerade random th bridge type typeof time
		priority flags vxlan vni geneve gretap rt rt0 rt2 srh hbh frag dst mh meta mark iif iifname
		iiftype oif oifname oiftype skuid skgid nftrace rtclassid ibriport ibrname obriport obrname pkttype
		cpu iifgroup oifgroup cgroup ct numgen jhash symhash dup fwd fib osf synproxy tunnel notrack all
		exists missing exthdr ipsec secmark xt`) {
		m[w] = true
	}
	return m
}()

// netdb is what the two files say, read once per change of either file.
type netdb struct {
	services  map[string]uint16 // nil: no /etc/services
	protocols map[string]uint8  // nil: no /etc/protocols
	protoName [256]string
	stamp     string
}

var (
	netdbMu      sync.Mutex
	netdbCur     *netdb
	netdbChecked time.Time
)

// currentNetDB returns the databases, re-reading them when a file changed
// (checked at most once a second, so a large set of names costs no stat
// per element).
func currentNetDB() *netdb {
	netdbMu.Lock()
	defer netdbMu.Unlock()
	if netdbCur != nil && time.Since(netdbChecked) < time.Second {
		return netdbCur
	}
	netdbChecked = time.Now()
	stamp := fileStamp(servicesPath) + "|" + fileStamp(protocolsPath)
	if netdbCur != nil && netdbCur.stamp == stamp {
		return netdbCur
	}
	db := &netdb{stamp: stamp}
	if b, err := readSmallFile(servicesPath); err == nil {
		db.services = parseServices(b)
	}
	if b, err := readSmallFile(protocolsPath); err == nil {
		db.protocols = map[string]uint8{}
		parseProtocols(b, db.protocols, &db.protoName)
	}
	netdbCur = db
	return db
}

// resetNetDB forgets the cache (tests point the paths elsewhere).
func resetNetDB() {
	netdbMu.Lock()
	netdbCur = nil
	netdbMu.Unlock()
}

func fileStamp(path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "-"
	}
	return strconv.FormatUint(st.Ino, 10) + "," + strconv.FormatInt(st.Size, 10) + "," +
		strconv.FormatInt(st.Mtim.Sec, 10) + "." + strconv.FormatInt(st.Mtim.Nsec, 10)
}

// readSmallFile reads a system database with the rule files' own limits.
func readSmallFile(path string) ([]byte, error) { return ReadRuleFile(path) }

// dbFields splits a line of /etc/services or /etc/protocols into its
// fields, without the comment.
func dbFields(line []byte) []string {
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	return strings.Fields(string(line))
}

// parseServices reads "name port/proto aliases..." lines.
func parseServices(b []byte) map[string]uint16 {
	per := map[string]map[string]uint16{} // proto → name → port, first wins
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := dbFields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		port, proto, ok := strings.Cut(f[1], "/")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			continue
		}
		m := per[proto]
		if m == nil {
			m = map[string]uint16{}
			per[proto] = m
		}
		for _, name := range append([]string{f[0]}, f[2:]...) {
			if _, seen := m[name]; !seen {
				m[name] = uint16(n)
			}
		}
	}
	out := map[string]uint16{}
	for i := len(serviceProtos) - 1; i >= 0; i-- { // earlier protocols win
		for name, port := range per[serviceProtos[i]] {
			out[name] = port
		}
	}
	return out
}

// parseProtocols reads "name number aliases..." lines.
func parseProtocols(b []byte, byName map[string]uint8, names *[256]string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := dbFields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			continue
		}
		// nft stores getprotobyname's int in a uint8_t: mptcp (262)
		// means 6 there, and so it does here.
		if n < 256 && names[n] == "" {
			names[n] = f[0]
		}
		for _, name := range append([]string{f[0]}, f[2:]...) {
			if _, seen := byName[name]; !seen {
				byName[name] = uint8(n)
			}
		}
	}
}

// service resolves a service name to its port.
func (db *netdb) service(name string) (uint64, bool) {
	if db.services == nil {
		return TypeService.embedded(name)
	}
	p, ok := db.services[name]
	return uint64(p), ok
}

// protocol resolves a protocol name to its number.
func (db *netdb) protocol(name string) (uint64, bool) {
	if v, ok := protoKeywords[name]; ok {
		return uint64(v), true
	}
	if db.protocols == nil {
		return TypeProto.embedded(name)
	}
	v, ok := db.protocols[name]
	return uint64(v), ok
}

// protocolName is how nft prints protocol v: the database's official
// name, or without the database a keyword nft always knows, or "".
func (db *netdb) protocolName(v uint64) string {
	if v > 255 {
		return ""
	}
	if db.protocols != nil {
		return db.protoName[v]
	}
	best := ""
	for n, x := range protoKeywords {
		if uint64(x) == v && (best == "" || n < best) {
			best = n
		}
	}
	return best
}

// names lists the names of a table, for suggestions.
func (db *netdb) names(t *Type) []string {
	var m map[string]uint16
	switch {
	case t == TypeService && db.services != nil:
		m = db.services
	case t == TypeProto && db.protocols != nil:
		var out []string
		for n := range db.protocols {
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	default:
		return nil
	}
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
