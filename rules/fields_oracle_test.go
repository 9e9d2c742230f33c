package rules

import (
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/internal/pktgen"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// The kernel oracle over the whole field table (issue 13, "How it is
// checked"): every field nfd evaluates in userspace, with ==, !=, <, >,
// <=, >=, ranges, sets, negated sets and masks, in ip, ip6 and inet tables,
// against packets with options, extension headers, chunk lists and
// cut-short headers. The rules are loaded with `nft -f` in a namespace, a
// counter each; the packets are injected through a veth (prerouting); every
// counter is compared with the engine's for the same packets. Values are
// taken from the packets (as nfd loads them) so that rules match, and drawn
// at random so that they miss.
//
// -fields.oracle.time bounds the run (default a minute of seeds; 3 seeds
// with -short);
// -fields.oracle.seeds runs exactly that many; -fields.oracle.seed picks
// the first seed (a failure names the seed that reproduces it).

var (
	fieldsOracleTime  = flag.Duration("fields.oracle.time", 50*time.Second, "field oracle: run seeds for this long")
	fieldsOracleSeeds = flag.Int("fields.oracle.seeds", 0, "field oracle: run exactly this many seeds (0: as many as -fields.oracle.time allows)")
	fieldsOracleSeed  = flag.Int64("fields.oracle.seed", 1, "field oracle: the first seed")
	fieldsOraclePkts  = flag.Int("fields.oracle.packets", 160, "field oracle: packets per seed")
)

// ofExtraFields are the fields nfd interns when parsed (options, chunks,
// extension headers), as nft's tcpopt.c, ipopt.c, sctp_chunk.c and
// exthdr.c name them.
func ofExtraFields() []string {
	var out []string
	tcpopt := map[string][]string{
		"eol": nil, "nop": nil, "maxseg": {"size"}, "window": {"count"}, "sack-perm": nil,
		"sack": {"left", "right"}, "sack0": {"left", "right"}, "sack1": {"left", "right"}, "sack2": {"left", "right"},
		"sack3": {"left", "right"}, "timestamp": {"tsval", "tsecr"}, "md5sig": nil, "mptcp": {"subtype"}, "fastopen": nil,
		"254": nil, "253": nil,
	}
	for o, fs := range tcpopt {
		out = append(out, "tcp option "+o)
		// nft 1.0.6 crashes on `tcp option 254 length` and refuses `tcp
		// option eol length` and `tcp option nop length` (nfd accepts
		// them: reported, parser/fieldparse.go).
		if o[0] > '9' && o != "eol" && o != "nop" {
			out = append(out, "tcp option "+o+" length")
		}
		for _, f := range fs {
			out = append(out, "tcp option "+o+" "+f)
		}
	}
	for _, o := range []string{"lsrr", "ssrr", "rr"} {
		for _, f := range []string{"", " type", " length", " ptr", " addr"} {
			out = append(out, "ip option "+o+f)
		}
	}
	out = append(out, "ip option ra", "ip option ra type", "ip option ra length", "ip option ra value")
	chunks := map[string][]string{
		"data":      {"tsn", "stream", "ssn", "ppid"},
		"init":      {"init-tag", "a-rwnd", "num-outbound-streams", "num-inbound-streams", "initial-tsn"},
		"init-ack":  {"init-tag", "a-rwnd", "num-outbound-streams", "num-inbound-streams", "initial-tsn"},
		"sack":      {"cum-tsn-ack", "a-rwnd", "num-gap-ack-blocks", "num-dup-tsns"},
		"heartbeat": nil, "heartbeat-ack": nil, "abort": nil, "shutdown": {"cum-tsn-ack"}, "shutdown-ack": nil,
		"error": nil, "cookie-echo": nil, "cookie-ack": nil, "ecne": {"lowest-tsn"}, "cwr": {"lowest-tsn"},
		"shutdown-complete": nil, "asconf-ack": {"seqno"}, "forward-tsn": {"new-cum-tsn"}, "asconf": {"seqno"},
	}
	for c, fs := range chunks {
		out = append(out, "sctp chunk "+c, "sctp chunk "+c+" type", "sctp chunk "+c+" flags", "sctp chunk "+c+" length")
		for _, f := range fs {
			out = append(out, "sctp chunk "+c+" "+f)
		}
	}
	ext := map[string][]string{
		"hbh": {"nexthdr", "hdrlength"},
		"rt":  {"nexthdr", "hdrlength", "type", "seg-left"},
		// nft 1.0.6 refuses `rt0 reserved` and `rt2 reserved` (nfd
		// accepts them: reported) and cannot use `rt2 addr`.
		"rt0":  {"addr[1]", "addr[2]"},
		"srh":  {"last-entry", "flags", "tag", "sid[1]", "sid[2]"},
		"frag": {"nexthdr", "reserved", "frag-off", "reserved2", "more-fragments", "id"},
		"dst":  {"nexthdr", "hdrlength"},
		"mh":   {"nexthdr", "hdrlength", "type", "reserved", "checksum"},
	}
	for h, fs := range ext {
		for _, f := range fs {
			out = append(out, h+" "+f)
		}
	}
	for _, h := range []string{"hbh", "rt", "frag", "dst", "mh"} {
		out = append(out, "exthdr "+h)
	}
	// nft 1.0.6's names for fields nfd's table might spell differently.
	out = append(out, "icmpv6 mtu", "icmpv6 param-problem")
	sort.Strings(out)
	return out
}

// ofMetaFields are the meta fields the oracle checks (the others are
// kernel-only, or fixed at prerouting).
var ofMetaFields = map[string]bool{
	"meta l4proto": true, "meta nfproto": true, "meta length": true, "meta mark": true, "meta protocol": true,
	"iifname": true, "oifname": true, "iif": true, "oif": true,
}

// ofElsewhere are the fields nfd evaluates in userspace that this oracle
// leaves to another: a ct expression loads conntrack in the namespace,
// which then reassembles fragments before the rules see them.
var ofElsewhere = map[string]string{
	"ct state":     "TestKernelOracle (internal/rulegen)",
	"ct status":    "TestCtStatusOracle (cmd/nfd: connections with replies, which confirm and assure)",
	"ct mark":      "TestKernelOracle (internal/rulegen)",
	"ct direction": "TestKernelOracle (internal/rulegen)",
}

// ofField is one field under test.
type ofField struct {
	expr string
	f    parser.Field
	fams []string // table families it may be used in
}

// ofKeep keeps the rulesets ofResolve took fields from: a field of a
// ruleset is valid while the ruleset is reachable (parser/fieldlife.go).
var (
	ofKeepMu sync.Mutex
	ofKeep   []*parser.Ruleset
)

// ofResolve parses expr with a value of each shape until nfd accepts one,
// and returns the field nfd made of it.
func ofResolve(expr, fam string) (parser.Field, bool) {
	for _, v := range []string{"0", "exists", "10.0.0.1", "::1", `"k0"`} {
		src := fmt.Sprintf("table %s t {\n\tchain c {\n\t\t%s %s\n\t}\n}\n", fam, expr, v)
		rs, err := parser.Parse("f.nft", []byte(src))
		if err != nil {
			continue
		}
		m, ok := rs.Tables[0].Chains[0].Rules[0].Stmts[0].(*parser.Match)
		if !ok || len(m.Keys) != 1 {
			continue
		}
		ofKeepMu.Lock()
		ofKeep = append(ofKeep, rs)
		ofKeepMu.Unlock()
		return m.Keys[0], true
	}
	return 0, false
}

// oracleFields lists every field of the table nfd can evaluate in
// userspace, with the families it belongs to.
func oracleFields(t *testing.T) []ofField {
	var exprs []string
	for _, f := range parser.NamedFields() {
		fi := f.Info()
		if fi.KernelOnly != "" || fi.Userspace || fi.Refuse != "" {
			continue
		}
		switch {
		case fi.Base == parser.BaseNH, fi.Base == parser.BaseTH, ofMetaFields[fi.Name]:
			exprs = append(exprs, fi.Name)
		case ofElsewhere[fi.Name] == "":
			// A field added to the table must be checked here or
			// say where it is.
			t.Errorf("%s: nfd evaluates it in userspace, and the field oracle does not check it", fi.Name)
		}
	}
	exprs = append(exprs, ofExtraFields()...)
	var out []ofField
	for _, e := range exprs {
		f, ok := ofResolve(e, "inet")
		if !ok {
			f, ok = ofResolve(e, "ip6")
		}
		if !ok {
			f, ok = ofResolve(e, "ip")
		}
		if !ok {
			t.Logf("nfd refuses the field %q (nft 1.0.6 knows it)", e)
			continue
		}
		fi := f.Info()
		if fi.KernelOnly != "" || fi.Userspace {
			continue
		}
		var fams []string
		switch fi.Proto.Family() {
		case 4:
			fams = []string{"ip", "inet"}
		case 6:
			fams = []string{"ip6", "inet"}
		default:
			fams = []string{"ip", "ip6", "inet"}
		}
		if fi.Name == "meta nfproto" {
			fams = []string{"inet"} // nft refuses it in ip and ip6 tables
		}
		out = append(out, ofField{expr: e, f: f, fams: fams})
	}
	return out
}

// ofRawFields draws raw payload fields: network and transport base, any
// offset in the first 64 bytes, lengths 1 to 64 bits or 128.
func ofRawFields(r *rand.Rand, n int) []ofField {
	var out []ofField
	for i := 0; i < n; i++ {
		base := []string{"nh", "th"}[r.Intn(2)]
		l := []int{1, 3, 4, 8, 8, 12, 16, 16, 24, 32, 32, 48, 64}[r.Intn(13)]
		off := r.Intn(64 * 8)
		if r.Intn(2) == 0 {
			off &^= 7 // byte-aligned
		}
		if r.Intn(3) == 0 && l%8 == 0 && l <= 32 {
			off = off / l * l // aligned to its length: the kernel's fast path
		}
		e := fmt.Sprintf("@%s,%d,%d", base, off, l)
		f, ok := ofResolve(e, "inet")
		if !ok {
			continue
		}
		out = append(out, ofField{expr: e, f: f, fams: []string{"ip", "ip6", "inet"}})
	}
	return out
}

// ofBits is the field's width in bits.
func ofBits(f parser.Field) uint32 { return f.Info().Bits() }

func ofMask(bits uint32) key128 { return maskBits(bits) }

// ofRandom draws a value of the field's width, often a small one.
func ofRandom(r *rand.Rand, bits uint32) key128 {
	k := key128{hi: r.Uint64(), lo: r.Uint64()}
	switch r.Intn(4) {
	case 0:
		k = key128{lo: uint64(r.Intn(4))}
	case 1:
		k = key128{lo: uint64(r.Intn(300))}
	}
	return k.and(ofMask(bits))
}

// ofFormat writes a value of field f as nft reads it.
func ofFormat(r *rand.Rand, f parser.Field, k key128) string {
	t := f.Type()
	switch t {
	case parser.TypeIPv4:
		return netip.AddrFrom4([4]byte{byte(k.lo >> 24), byte(k.lo >> 16), byte(k.lo >> 8), byte(k.lo)}).String()
	case parser.TypeIPv6:
		var b [16]byte
		k.put(b[:], 16)
		return netip.AddrFrom16(b).String()
	case parser.TypeBool:
		if k.lo != 0 {
			return "exists"
		}
		return "missing"
	}
	if t.Size > 8 {
		return fmt.Sprintf("0x%016x%016x", k.hi, k.lo)
	}
	if r.Intn(3) == 0 {
		return fmt.Sprintf("0x%x", k.lo)
	}
	return strconv.FormatUint(k.lo, 10)
}

// ofIsIfname reports whether the field compares interface names.
func ofIsIfname(f parser.Field) bool {
	t := f.Type()
	return t == parser.TypeIfname || t == parser.TypeIfindex
}

// ofRules writes rules for field of, values from pool (what nfd loads
// from this seed's packets).
func ofRules(r *rand.Rand, of ofField, pool []key128) []string {
	f := of.f
	e := of.expr
	if ofIsIfname(f) {
		names := []string{`"k0"`, `"lo"`}
		if f.Info().Name == "iifname" || f.Info().Name == "oifname" {
			names = append(names, `"x0"`, `"k*"`)
		}
		n := names[r.Intn(len(names))]
		return []string{e + " " + n, e + " != " + n, e + ` { "k0", "lo" }`, e + ` != { "k0", "lo" }`}
	}
	if f.Type() == parser.TypeBool {
		return []string{e + " exists", e + " missing"}
	}
	bits := ofBits(f)
	pick := func() key128 {
		if len(pool) > 0 && r.Intn(4) != 0 {
			return pool[r.Intn(len(pool))]
		}
		return ofRandom(r, bits)
	}
	v := func(k key128) string { return ofFormat(r, f, k) }
	var out []string
	n := 3 + r.Intn(3)
	for i := 0; i < n; i++ {
		a := pick()
		switch r.Intn(10) {
		case 0:
			out = append(out, e+" "+v(a))
		case 1:
			out = append(out, e+" != "+v(a))
		case 2:
			out = append(out, e+" "+[]string{"<", ">", "<=", ">="}[r.Intn(4)]+" "+v(a))
		case 3, 4:
			b := pick()
			if a == b {
				out = append(out, e+" == "+v(a))
				break
			}
			if b.less(a) {
				a, b = b, a
			}
			out = append(out, e+" "+[]string{"", "!= "}[r.Intn(2)]+v(a)+"-"+v(b))
		case 5, 6:
			seen := map[key128]bool{}
			var els []string
			for j := 0; j < 1+r.Intn(4); j++ {
				x := pick()
				if !seen[x] {
					seen[x] = true
					els = append(els, v(x))
				}
			}
			out = append(out, e+" "+[]string{"", "!= "}[r.Intn(2)]+"{ "+strings.Join(els, ", ")+" }")
		case 7:
			// the same elements as a verdict map (`continue` on a hit
			// reaches the counter, a miss ends the rule) or a named set
			// or map declared in the table (ofSetDecl)
			seen := map[key128]bool{}
			var els []string
			for j := 0; j < 1+r.Intn(4); j++ {
				x := pick()
				if !seen[x] {
					seen[x] = true
					els = append(els, v(x))
				}
			}
			form := r.Intn(3)
			if fi := f.Info(); fi.Off%8 != 0 || bits%8 != 0 {
				// nft 1.0.6 shifts a bit field for a named set's lookup
				// (`typeof @th,7,12`) right in a host-order 32-bit word,
				// as for `&` (ofMaskable): the kernel then compares
				// garbage, nft's bug, not the field's meaning. Anonymous
				// sets and maps shift their elements instead.
				form = 0
			}
			switch form {
			case 0:
				var kv []string
				for _, x := range els {
					kv = append(kv, x+" : continue")
				}
				out = append(out, e+" vmap { "+strings.Join(kv, ", ")+" }")
			case 1:
				out = append(out, ofSetDecl+"set %s { typeof "+e+"; elements = { "+strings.Join(els, ", ")+" } }"+ofSetDecl+e+" "+[]string{"", "!= "}[r.Intn(2)]+"@%s")
			default:
				var kv []string
				for _, x := range els {
					kv = append(kv, x+" : continue")
				}
				out = append(out, ofSetDecl+"map %s { typeof "+e+" : verdict; elements = { "+strings.Join(kv, ", ")+" } }"+ofSetDecl+e+" vmap @%s")
			}
		default:
			if !ofMaskable(f) {
				out = append(out, e+" "+v(a))
				break
			}
			m := ofRandom(r, bits)
			if r.Intn(2) == 0 {
				m = key128{hi: r.Uint64(), lo: r.Uint64()}.and(ofMask(bits))
			}
			if m.isZero() {
				m = key128{lo: 1}
			}
			// & (nft_bitwise's mask), | and ^ (its xor): the value the
			// packet's own field gives, or another one.
			if r.Intn(3) == 0 {
				a = pick()
			}
			op, x := "&", a.and(m)
			switch r.Intn(4) {
			case 0:
				op, x = "|", key128{a.hi | m.hi, a.lo | m.lo}
			case 1:
				op, x = "^", key128{a.hi ^ m.hi, a.lo ^ m.lo}
			}
			out = append(out, e+" "+op+" "+v(m)+" "+[]string{"==", "!="}[r.Intn(2)]+" "+v(x))
		}
	}
	return out
}

// ofMaskable reports whether nft 1.0.6 translates `field & mask` as it
// means it: for a bit field whose covering bytes are 2 or more, it shifts
// the loaded register right in host byte order (nft_bitwise's shift works
// on 32-bit words), so on a little-endian host `ip6 dscp & 0x36 != 0x30`
// compares garbage. Such rules are left out: what the kernel does there is
// nft's bug, not the field's meaning.
//
// Nor a binary operation on `comp nexthdr` or `ah nexthdr`: nft 1.0.6
// loads `comp nexthdr ^ 0x6d == 0x6b` and then aborts listing it (nfd
// accepts it: reported).
func ofMaskable(f parser.Field) bool {
	fi := f.Info()
	if fi.NftAbortsEqProto {
		return false
	}
	off, bits := fi.Off, fi.Bits()
	if off%8 == 0 && bits%8 == 0 {
		return true
	}
	return (off%8+bits+7)/8 == 1
}

// ofConcatRules writes n concatenation matches of two fields (`a . b {
// x . y, ... }`, `a . b != x . y`) with values taken together from one
// packet where both load, or at random; by table family.
func ofConcatRules(r *rand.Rand, all []ofField, pkts [][]byte, n int) map[string][]string {
	out := map[string][]string{}
	var cands []ofField
	for _, of := range all {
		// nft 1.0.6 aborts listing a concatenation of bit fields
		// (`ip6 dscp . udp length { ... }`) or of an ip option
		// (mergesort.c: concat_expr_msort_value).
		fi := of.f.Info()
		if !ofIsIfname(of.f) && of.f.Type() != parser.TypeBool && fi.Off%8 == 0 && fi.Bits()%8 == 0 &&
			fi.Base != parser.BaseIPOpt && fi.Name != "comp flags" && !of.f.Type().Bitmask {
			// (nor of a tcp_flag value 0: `tcp dport . tcp flags { 1 . 2,
			// 3 . 0 }` loads, and then `nft list` aborts.)
			// (nft refuses `comp flags` in a concatenation, "variable
			// sized data types"; nfd accepts it: reported.)
			cands = append(cands, of)
		}
	}
	var p packet.Parsed
	c := &Ctx{}
	for i := 0; i < n; i++ {
		a, b := cands[r.Intn(len(cands))], cands[r.Intn(len(cands))]
		var fams []string
		for _, fa := range a.fams {
			for _, fb := range b.fams {
				if fa == fb {
					fams = append(fams, fa)
				}
			}
		}
		if len(fams) == 0 {
			continue
		}
		if da, db := a.f.Info().TypeDep, b.f.Info().TypeDep; da != "" && db != "" && da != db {
			continue // nft: "incompatible icmp match"; nfd accepts it: reported
		}
		la, lb := loaderOf(a.f), loaderOf(b.f)
		var pairs [][2]key128
		for _, pk := range pkts {
			ofCtx(pk, &p, c)
			ka, oka := la(c)
			kb, okb := lb(c)
			if oka && okb {
				pairs = append(pairs, [2]key128{ka, kb})
			}
		}
		pick := func() (string, [2]key128) {
			var x [2]key128
			if len(pairs) > 0 && r.Intn(3) != 0 {
				x = pairs[r.Intn(len(pairs))]
			} else {
				x = [2]key128{ofRandom(r, ofBits(a.f)), ofRandom(r, ofBits(b.f))}
			}
			return ofFormat(r, a.f, x[0]) + " . " + ofFormat(r, b.f, x[1]), x
		}
		key := a.expr + " . " + b.expr
		var rule string
		switch {
		default: // nft refuses a concatenation compared with one value
			seen := map[[2]key128]bool{}
			var els []string
			for j := 0; j < 1+r.Intn(4); j++ {
				if e, x := pick(); !seen[x] {
					seen[x] = true
					els = append(els, e)
				}
			}
			rule = key + " " + []string{"", "!= "}[r.Intn(2)] + "{ " + strings.Join(els, ", ") + " }"
		}
		for _, fam := range fams {
			out[fam] = append(out[fam], rule)
		}
	}
	return out
}

// ofFamilyOK reports whether a packet's family reaches a table's chain.
func ofFamilyOK(fam string, p []byte) bool {
	switch fam {
	case "ip":
		return p[0]>>4 == 4
	case "ip6":
		return p[0]>>4 == 6
	}
	return true
}

// ofCtx decodes a packet as the prerouting hook sees it from the veth.
func ofCtx(b []byte, p *packet.Parsed, c *Ctx) {
	p.Decode(b)
	c.Reset(p, parser.HookPrerouting)
	c.SetIif("k0")
}

// ofAccepted returns the rules nfd parses in a table of family fam.
func ofAccepted(fam string, rules []string) (ok []string, refused []string) {
	for _, r := range rules {
		decl, rule := ofSplit(r, 0)
		src := fmt.Sprintf("table %s t {\n\t%s\n\tchain c {\n\t\t%s counter\n\t}\n}\n", fam, decl, rule)
		if _, err := parser.Parse("r.nft", []byte(src)); err != nil {
			refused = append(refused, r+": "+strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		ok = append(ok, r)
	}
	return ok, refused
}

var ofFams = []string{"ip", "ip6", "inet"}

// ofSetDecl separates a rule's set or map declaration from the rule:
// "<sep>set %s { ... }<sep>rule using @%s".
const ofSetDecl = "\x00"

// ofSplit gives rule i's declaration (or "") and its rule, the set named
// after i.
func ofSplit(r string, i int) (decl, rule string) {
	if !strings.HasPrefix(r, ofSetDecl) {
		return "", r
	}
	parts := strings.SplitN(r[1:], ofSetDecl, 2)
	name := fmt.Sprintf("s%d", i)
	return fmt.Sprintf(parts[0], name), fmt.Sprintf(parts[1], name)
}

// ofRuleset writes the three tables; lines[i] is the line of rule
// (fam, index) for mapping nft's errors back.
func ofRuleset(rules map[string][]string) (src string, lines map[int][2]int) {
	var b strings.Builder
	lines = map[int][2]int{}
	line := 1
	w := func(s string) { b.WriteString(s); b.WriteByte('\n'); line++ }
	for fi, fam := range ofFams {
		w(fmt.Sprintf("table %s of_%s {", fam, fam))
		for i, r := range rules[fam] {
			if decl, _ := ofSplit(r, i); decl != "" {
				lines[line] = [2]int{fi, i}
				w("\t" + decl)
			}
		}
		w("\tchain pre {")
		w("\t\ttype filter hook prerouting priority 0; policy accept;")
		// Only the injected packets: a packet the stack sends itself (an
		// ICMP error for a bad IP option, looped back through lo) is no
		// packet nfd was given.
		w("\t\tiifname != \"k0\" accept")
		w("\t\tcounter")
		for i, r := range rules[fam] {
			_, rule := ofSplit(r, i)
			lines[line] = [2]int{fi, i}
			w("\t\t" + rule + " counter")
		}
		w("\t}")
		w("}")
	}
	return b.String(), lines
}

const ofSink = "table inet zz_sink {\n\tchain in {\n\t\ttype filter hook input priority 100; policy drop;\n\t}\n}\n"

var nftErrLine = regexp.MustCompile(`(?m)^[^\n:]*\.nft:(\d+):\d+(-\d+)?: Error: (.*)$`)

// ofLoad loads the rules with nft, dropping the rules nft refuses (they
// are returned with nft's message).
func ofLoad(t *testing.T, k *netns.NS, rules map[string][]string) (string, []string) {
	var refused []string
	dir := t.TempDir()
	for try := 0; try < 8; try++ {
		src, lines := ofRuleset(rules)
		f := filepath.Join(dir, "of.nft")
		if err := os.WriteFile(f, []byte("flush ruleset\n"+src+ofSink), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := k.Run("nft", "-f", f)
		if os.Getenv("NFD_ORACLE_KEEP") != "" {
			os.WriteFile("/tmp/of-last.nft", []byte("flush ruleset\n"+src+ofSink), 0o644)
		}
		if err == nil {
			return src, refused
		}
		if os.Getenv("NFD_ORACLE_KEEP") != "" {
			os.WriteFile("/tmp/of-failed.nft", []byte("flush ruleset\n"+src+ofSink), 0o644)
		}
		drop := map[[2]int]string{}
		for _, m := range nftErrLine.FindAllStringSubmatch(out, -1) {
			n, _ := strconv.Atoi(m[1])
			if at, ok := lines[n-1]; ok { // -1: the flush line
				drop[at] = m[3]
			}
		}
		if len(drop) == 0 {
			t.Fatalf("nft -f: %v\n%s", err, out)
		}
		for fi, fam := range ofFams {
			var keep []string
			for i, r := range rules[fam] {
				if msg, ok := drop[[2]int{fi, i}]; ok {
					refused = append(refused, fmt.Sprintf("%s: %s: %s", fam, r, msg))
					continue
				}
				keep = append(keep, r)
			}
			rules[fam] = keep
		}
	}
	t.Fatal("nft keeps refusing the generated rules")
	return "", nil
}

// ofWait polls the kernel's counters until every table's catch-all
// counter has seen the packets sent to it.
func ofWait(t *testing.T, k *netns.NS, want map[string]uint64) map[string][][]uint64 {
	kern, ok := ofTryWait(t, k, want, 5*time.Second)
	if !ok {
		var got []string
		for fam := range want {
			if rs := kern[fam+"/of_"+fam+"/pre"]; len(rs) > 1 && len(rs[1]) > 0 {
				got = append(got, fmt.Sprintf("%s: %d of %d", fam, rs[1][0], want[fam]))
			}
		}
		t.Fatalf("packets lost before prerouting: %v", got)
	}
	return kern
}

func ofTryWait(t *testing.T, k *netns.NS, want map[string]uint64, wait time.Duration) (map[string][][]uint64, bool) {
	deadline := time.Now().Add(wait)
	for {
		kern := k.NftCounters(t)
		done := true
		for fam, n := range want {
			rs := kern[fam+"/of_"+fam+"/pre"]
			if len(rs) < 2 || len(rs[1]) == 0 || rs[1][0] != n {
				done = false
			}
		}
		if done {
			return kern, true
		}
		if time.Now().After(deadline) {
			return kern, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFieldsKernelOracle is the oracle over the whole field table.
func TestFieldsKernelOracle(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	inj, k := netns.NewInjector(t, "fo", "k0", []string{"10.88.0.2/24", "fd88::2/64"})
	ofWarm(t, inj, k)
	fields := oracleFields(t)
	t.Logf("%d fields", len(fields))
	start := time.Now()
	refusedSeen := map[string]bool{}
	var totalRules, totalPkts, seeds int
	for seed := *fieldsOracleSeed; ; seed++ {
		if *fieldsOracleSeeds > 0 {
			if seeds >= *fieldsOracleSeeds {
				break
			}
		} else if testing.Short() && seeds >= 3 {
			break
		} else if time.Since(start) > *fieldsOracleTime {
			break
		}
		seeds++
		r := rand.New(rand.NewSource(seed))
		pkts, descs := oraclePackets(r, *fieldsOraclePkts)
		all := append(append([]ofField(nil), fields...), ofRawFields(r, 24)...)
		// The values nfd loads from these packets, per field.
		var p packet.Parsed
		c := &Ctx{}
		rules := map[string][]string{}
		for _, of := range all {
			ld := loaderOf(of.f)
			var pool []key128
			seen := map[key128]bool{}
			for _, b := range pkts {
				ofCtx(b, &p, c)
				if kv, ok := ld(c); ok && !seen[kv] {
					seen[kv] = true
					pool = append(pool, kv)
				}
			}
			rs := ofRules(r, of, pool)
			for _, fam := range of.fams {
				rules[fam] = append(rules[fam], rs...)
			}
		}
		for fam, rs := range ofConcatRules(r, all, pkts, 30) {
			rules[fam] = append(rules[fam], rs...)
		}
		for _, fam := range ofFams {
			ok, refused := ofAccepted(fam, rules[fam])
			rules[fam] = ok
			for _, m := range refused {
				if !refusedSeen["nfd "+m] {
					refusedSeen["nfd "+m] = true
					t.Logf("seed %d: nfd refuses (%s) %s", seed, fam, m)
				}
			}
		}
		diffs, nftRefused := ofRun(t, inj, k, rules, pkts, descs)
		for _, m := range nftRefused {
			t.Errorf("seed %d: nft refuses what nfd accepts: %s", seed, m)
		}
		totalRules += len(rules["ip"]) + len(rules["ip6"]) + len(rules["inet"])
		totalPkts += len(pkts)
		if len(diffs) > 0 {
			t.Errorf("seed %d: %d rules count differently (reproduce: -run TestFieldsKernelOracle -fields.oracle.seed=%d -fields.oracle.seeds=1):\n%s",
				seed, len(diffs), seed, strings.Join(diffs, "\n"))
			ofExplain(t, inj, k, diffs, pkts, descs)
			return
		}
	}
	t.Logf("%d seeds, %d rules, %d packets: every counter equal (%v)", seeds, totalRules, totalPkts, time.Since(start).Round(time.Millisecond))
}

// ofRun loads rules with nft (dropping and returning those nft refuses)
// and into the engine, sends pkts to both, and returns the rules whose
// counters differ ("family: rule: kernel [k], nfd [n]").
func ofRun(t *testing.T, inj *netns.Injector, k *netns.NS, rules map[string][]string, pkts [][]byte, descs []string) (diffs, nftRefused []string) {
	t.Helper()
	src, nftRefused := ofLoad(t, k, rules)
	rs, err := parser.Parse("of.nft", []byte(src))
	if err != nil {
		t.Fatalf("nfd refuses the ruleset: %v", err)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var p packet.Parsed
	c := &Ctx{}
	want := map[string]uint64{}
	for _, b := range pkts {
		ofCtx(b, &p, c)
		e.Eval(c)
		for _, fam := range ofFams {
			if ofFamilyOK(fam, b) {
				want[fam]++
			}
		}
		if err := inj.Send(b); err != nil {
			t.Fatalf("inject: %v", err)
		}
	}
	kern, arrived := ofTryWait(t, k, want, 5*time.Second)
	if !arrived {
		ofFindLost(t, inj, k, pkts, descs)
		t.Fatalf("packets lost before prerouting")
	}
	ours := ourCounters(rs, e)
	for fi, fam := range ofFams {
		key := fam + "/of_" + fam + "/pre"
		kr, or := kern[key], ours[key]
		if len(kr) != len(or) {
			t.Fatalf("%s: kernel lists %d rules, nfd %d", key, len(kr), len(or))
		}
		for i := 2; i < len(kr); i++ {
			if fmt.Sprint(kr[i]) != fmt.Sprint(or[i]) {
				diffs = append(diffs, fmt.Sprintf("%s: %s: kernel %v, nfd %v", fam, rules[ofFams[fi]][i-2], kr[i], or[i]))
			}
		}
	}
	sort.Strings(diffs)
	return diffs, nftRefused
}

// ofExplain finds, for the first few differing rules, one packet the
// kernel and nfd count differently, by sending the packets one at a time.
func ofExplain(t *testing.T, inj *netns.Injector, k *netns.NS, diffs []string, pkts [][]byte, descs []string) {
	explained := 0
	seen := map[string]bool{}
	for _, d := range diffs {
		if explained == 6 {
			break
		}
		fam, rest, _ := strings.Cut(d, ": ")
		rule, _, _ := strings.Cut(rest, ": kernel ")
		w := strings.Fields(rule)
		if seen[strings.Join(w[:min(3, len(w))], " ")] {
			continue // one example per field
		}
		seen[strings.Join(w[:min(3, len(w))], " ")] = true
		explained++
		one := map[string][]string{fam: {rule}}
		src, _ := ofLoad(t, k, one)
		rs, err := parser.Parse("one.nft", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		e, err := Compile(rs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		key := fam + "/of_" + fam + "/pre"
		var p packet.Parsed
		c := &Ctx{}
		var sent uint64
		for i, b := range pkts {
			if !ofFamilyOK(fam, b) {
				continue
			}
			ofCtx(b, &p, c)
			e.Eval(c)
			if err := inj.Send(b); err != nil {
				t.Fatal(err)
			}
			sent++
			kern := ofWait(t, k, map[string]uint64{fam: sent})[key]
			ours := ourCounters(rs, e)[key]
			if fmt.Sprint(kern[2]) != fmt.Sprint(ours[2]) {
				t.Errorf("%s (%s table): packet %d (%s) kernel %v, nfd %v\n%s", rule, fam, i, descs[i], kern[2], ours[2], hex.EncodeToString(b))
				break
			}
		}
	}
}

// ofWarm sends probe packets until one reaches prerouting: the veth's
// queue is attached when the link watcher sees the carrier come up
// (dev_activate), which can take seconds on a loaded machine; a packet
// sent before is dropped by the noop qdisc.
func ofWarm(t *testing.T, inj *netns.Injector, k *netns.NS) {
	t.Helper()
	ofLoad(t, k, map[string][]string{})
	probe := pktgen.Build(pktgen.Opts{Src: m4src, Dst: m4dst, Proto: 17, Sport: 9, Dport: 9})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err := inj.Send(probe); err != nil {
			t.Fatalf("inject: %v", err)
		}
		if _, ok := ofTryWait(t, k, map[string]uint64{"inet": 1}, 200*time.Millisecond); ok {
			return
		}
		ofLoad(t, k, map[string][]string{}) // reset the counters
	}
	t.Fatal("no probe packet reached the receiver's prerouting hook in 20s")
}

// ofFindLost names the packets that do not reach prerouting (a generator
// bug: the stack drops them first).
func ofFindLost(t *testing.T, inj *netns.Injector, k *netns.NS, pkts [][]byte, descs []string) {
	ofLoad(t, k, map[string][]string{})
	var sent uint64
	for i, b := range pkts {
		if err := inj.Send(b); err != nil {
			t.Fatal(err)
		}
		sent++
		if kern, ok := ofTryWait(t, k, map[string]uint64{"inet": sent}, 300*time.Millisecond); !ok {
			t.Errorf("packet %d (%s) does not reach prerouting:\n%s", i, descs[i], hex.EncodeToString(b))
			sent = kern["inet/of_inet/pre"][1][0]
		}
	}
}
