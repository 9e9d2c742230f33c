package planner

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
)

// Offload: translating rules into native nftables expressions, the way nft
// itself compiles them (payload/meta/ct loads, cmp, range, bitwise, lookup,
// with the implicit protocol dependencies). A rule translates whole or not
// at all; what does not translate stays in userspace, with the reason.

// hostOrder converts a big-endian value to the register's host order.
func hostOrder(b []byte, host bool) []byte {
	out := append([]byte(nil), b...)
	if host && binary.NativeEndian.Uint16([]byte{1, 0}) == 1 { // little-endian host
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// setIDs numbers the sets of a batch so rules can name them before they are
// added; google/nftables numbers from 1, nfd from 1<<20 to stay apart.
var setIDs = func() *atomic.Uint32 { var v atomic.Uint32; v.Store(1 << 20); return &v }()

// translator turns one table's rules into expressions and sets.
type translator struct {
	t       *parser.Table
	kt      *nftables.Table
	sets    map[string]*nftables.Set // named sets, created on first use
	pending []PendingSet             // sets to add before the rules that use them
	native  map[string]bool          // chains that will exist natively
	// htonSets are the interval sets of host-order keys: lookups into
	// them convert the register to big-endian first.
	htonSets map[uint32]bool
	// kf is what the kernel-only test needs of the whole table
	// (factsOf), found once per table and shared by its translators.
	kf *tableFacts
	// targets, when set, collects the chains the translated rules jump
	// or go to (nativeChains).
	targets map[string]bool

	// packNamed: the named set newSetData makes now keeps its elements
	// packed (set by setForData).
	packNamed bool
	// packedSrc: the named set newSetData makes now, whose elements the
	// parse may have packed (set by setForData).
	packedSrc *parser.Set
	// memo is what this plan keeps of the table's translations, prev
	// the previous plan's (memo.go); rec records the translation being
	// made; lastC and lastM cache memoFor.
	memo, prev *tableMemo
	rec        *recording
	rc         recording
	lastC      *parser.Chain
	lastM      *chainMemo
}

// updated returns the table's updated sets.
func (tr *translator) updated() map[string]bool { return tr.facts().upd }

// facts returns the table's facts.
func (tr *translator) facts() *tableFacts {
	if tr.kf == nil {
		tr.kf = factsOf(tr.t)
	}
	return tr.kf
}

// htonFor is the conversion a lookup into s needs, if any.
func (tr *translator) htonFor(s *nftables.Set, reg uint32, size int) []expr.Any {
	if !tr.htonSets[s.ID] || size < 2 {
		return nil
	}
	return []expr.Any{&expr.Byteorder{SourceRegister: reg, DestRegister: reg, Op: expr.ByteorderHton, Len: uint32(size), Size: uint32(size)}}
}

// PendingSet is a set a table plan adds, with its elements.
type PendingSet struct {
	Set   *nftables.Set
	Elems []nftables.SetElement
	// ObjType, for an object map, is the NFT_OBJECT_* type of the objects
	// its elements name (their Val: the name, NUL-terminated).
	ObjType uint32
	// Packed holds a named set's elements instead of Elems once planned
	// (kelems.go; read them with Elements, NumElements).
	Packed *KernelElems
}

// notNative is why a rule stays in userspace.
type notNative struct{ reason string }

func (e *notNative) Error() string { return e.reason }

func userspace(format string, args ...any) error { return &notNative{fmt.Sprintf(format, args...)} }

const reg1 = 1 // NFT_REG_1, 16 bytes

// Protocol numbers the implicit dependencies compare with: meta nfproto
// (NFPROTO_*) and meta l4proto (IPPROTO_*).
const (
	nfprotoIPv4 = unix.NFPROTO_IPV4
	nfprotoIPv6 = unix.NFPROTO_IPV6
	protoICMP   = unix.IPPROTO_ICMP
	protoTCP    = unix.IPPROTO_TCP
	protoUDP    = unix.IPPROTO_UDP
	protoICMPv6 = unix.IPPROTO_ICMPV6
)

// depState is what the rule has established so far about the packet's
// protocols, as nft's payload dependency context (proto_ctx) does: a
// dependency already met is not added again.
type depState struct {
	l3    uint8 // meta nfproto matched (NFPROTO_*)
	l4    uint8 // the transport protocol matched (IPPROTO_*)
	ether bool  // meta iiftype ether
	vlan  bool  // ether type 8021q
	icmp  bool  // an ICMP type matched: icmpType
	// icmpType is the ICMP type an earlier match requires.
	icmpType uint8
}

// deps adds the implicit protocol checks nft adds for a field
// (payload_gen_dependency, payload_gen_icmp_dependency): meta nfproto in
// inet tables, meta l4proto for transport headers, meta iiftype ether and
// the 802.1Q ether type for the link layer, the ICMP type for fields that
// exist only in some ICMP messages.
func (tr *translator) deps(sp fieldSpec, have *depState) ([]expr.Any, error) {
	var out []expr.Any
	if sp.l3 != 0 && tr.t.Family == parser.FamilyInet && have.l3 != sp.l3 {
		out = append(out, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{sp.l3}})
		have.l3 = sp.l3
	}
	if sp.l4 != 0 && have.l4 != sp.l4 {
		out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{sp.l4}})
		have.l4 = sp.l4
	}
	if sp.link && !have.ether {
		// ARPHRD_ETHER, a host-order u16 (nft's proto_eth dependency in
		// the ip, ip6 and inet families).
		out = append(out, &expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)})
		have.ether = true
	}
	if sp.vlan && !have.vlan {
		out = append(out, &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_8021Q)})
		have.vlan = true
	}
	// The dependency is met by an earlier match of one of its types (nft
	// refuses a rule whose earlier type is another; nfd adds the
	// dependency then, so the rule never matches, as in userspace).
	if ts := []byte(sp.typeDep); len(ts) > 0 && !(have.icmp && strings.IndexByte(sp.typeDep, have.icmpType) >= 0) {
		typ := parser.FieldICMPType
		if sp.l4 == protoICMPv6 {
			typ = parser.FieldICMP6Type
		}
		out = append(out, &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1})
		if len(ts) == 1 {
			out = append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{ts[0]}})
		} else {
			var elems []parser.Elem
			for _, t := range ts {
				elems = append(elems, parser.Elem{Lo: []byte{t}, Hi: []byte{t}})
			}
			s, err := tr.newSet("__set%d", []parser.Field{typ}, elems, false, false, true)
			if err != nil {
				return nil, err
			}
			out = append(out, &expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID})
		}
		have.icmp, have.icmpType = true, ts[0]
	}
	return out, nil
}

// learn records what a match establishes for the dependencies of the
// fields after it, as nft's payload context does for an equality.
func (have *depState) learn(m *parser.Match) {
	if len(m.Keys) != 1 || m.Mask != nil || m.Val.SetRef != "" || len(m.Val.Elems) != 1 ||
		(m.Op != parser.OpImplicit && m.Op != parser.OpEq) {
		return
	}
	e := m.Val.Elems[0]
	if string(e.Lo) != string(e.Hi) || len(e.Lo) == 0 {
		return
	}
	v := e.Lo[len(e.Lo)-1]
	switch k := m.Keys[0]; {
	case k == parser.FieldMetaNfproto:
		have.l3 = v
	case k == parser.FieldMetaL4proto || k == parser.FieldIPProtocol || k == parser.FieldIP6Nexthdr:
		have.l4 = v
		// ICMP and ICMPv6 imply their network family: nft adds no
		// meta nfproto after `meta l4proto icmp` (proto_ctx).
		switch v {
		case protoICMP:
			have.l3 = nfprotoIPv4
		case protoICMPv6:
			have.l3 = nfprotoIPv6
		}
	case k.String() == "icmp type" || k.String() == "icmpv6 type": // per-table variants too
		have.icmp, have.icmpType = true, v
	case k.String() == "meta iiftype" && parser.Uint(e.Lo) == unix.ARPHRD_ETHER:
		have.ether = true
	case k.String() == "ether type" && parser.Uint(e.Lo) == unix.ETH_P_8021Q:
		have.vlan = true
	}
}

func cmpOp(op parser.Op) expr.CmpOp {
	switch op {
	case parser.OpNe:
		return expr.CmpOpNeq
	case parser.OpLt:
		return expr.CmpOpLt
	case parser.OpGt:
		return expr.CmpOpGt
	case parser.OpLe:
		return expr.CmpOpLte
	case parser.OpGe:
		return expr.CmpOpGte
	}
	return expr.CmpOpEq
}

// rule translates one rule; a *notNative error means it stays in userspace.
// A rule that fails leaves no set behind: an anonymous set that no rule
// binds makes the kernel refuse the whole batch (EINVAL at commit).
func (tr *translator) rule(r *parser.Rule) ([]expr.Any, error) {
	n := len(tr.pending)
	var out []expr.Any
	var have depState
	for _, s := range r.Stmts {
		e, err := tr.stmt(s, &have)
		if err != nil {
			tr.rollback(n)
			return nil, err
		}
		out = append(out, e...)
	}
	return out, nil
}

// check tells whether a rule could run natively, for rules nfd places in
// userspace anyway; nothing of the translation is kept.
func (tr *translator) check(c *parser.Chain, i int) error {
	n := len(tr.pending)
	_, err := tr.ruleAt(c, i)
	tr.rollback(n)
	return err
}

// rollback forgets the sets added since pending held n of them.
func (tr *translator) rollback(n int) {
	for _, p := range tr.pending[n:] {
		for name, s := range tr.sets {
			if s == p.Set {
				delete(tr.sets, name)
			}
		}
	}
	tr.pending = tr.pending[:n]
}

func (tr *translator) stmt(s parser.Stmt, have *depState) ([]expr.Any, error) {
	switch s := s.(type) {
	case *parser.Match:
		return tr.match(s, have)
	case *parser.VMap:
		return tr.vmap(s, have)
	case *parser.Counter:
		return []expr.Any{&expr.Counter{Packets: s.Packets, Bytes: s.Bytes}}, nil
	case *parser.Log:
		return []expr.Any{logExpr(s)}, nil
	case *parser.Quota:
		return []expr.Any{&expr.Quota{Bytes: s.Bytes, Consumed: s.Used, Over: s.Over}}, nil
	case *parser.Limit:
		l := &expr.Limit{Type: expr.LimitTypePkts, Rate: s.Rate, Over: s.Over, Unit: expr.LimitTime(s.Unit.Seconds()), Burst: s.Burst}
		if s.Bytes {
			l.Type = expr.LimitTypePktBytes
		} else if l.Burst == 0 {
			l.Burst = 5 // nft's default packet burst
		}
		return []expr.Any{l}, nil
	case *parser.MarkSet:
		return tr.markSet(s, have)
	case *parser.Verdict:
		if err := tr.checkTarget(s); err != nil {
			return nil, err
		}
		return []expr.Any{tr.verdict(s)}, nil
	case *parser.Reject:
		return tr.reject(s, have)
	case *parser.NAT:
		return tr.nat(s, have)
	case *parser.Notrack:
		return []expr.Any{&expr.Notrack{}}, nil
	case *parser.PayloadSet:
		return tr.payloadSet(s, have)
	case *parser.CtCount:
		var fl uint32
		if s.Over {
			fl = 1 // NFT_CONNLIMIT_F_INV
		}
		return []expr.Any{&expr.Connlimit{Count: s.Count, Flags: fl}}, nil
	case *parser.KeySet, *parser.SynProxy, *parser.TProxy, *parser.Dup:
		return tr.kernelStmt(s, have)
	case *parser.SetUpdate:
		return tr.setUpdate(s, have)
	case *parser.ObjRef:
		if typ := parser.KernelObjType(s.Kind); typ != 0 {
			return tr.objRef(s, typ, have)
		}
		if s.Map != nil {
			return nil, userspace("named %ss are kept by nfd", s.Kind)
		}
		return nil, userspace("named %s `%s` is kept by nfd", s.Kind, s.Name)
	}
	return nil, userspace("statement %T has no native form in nfd", s)
}

func (tr *translator) verdict(v *parser.Verdict) *expr.Verdict {
	k := map[parser.VerdictKind]expr.VerdictKind{parser.VerdictAccept: expr.VerdictAccept, parser.VerdictDrop: expr.VerdictDrop,
		parser.VerdictContinue: expr.VerdictContinue, parser.VerdictReturn: expr.VerdictReturn,
		parser.VerdictJump: expr.VerdictJump, parser.VerdictGoto: expr.VerdictGoto}[v.Kind]
	return &expr.Verdict{Kind: k, Chain: v.Target}
}

func (tr *translator) checkTarget(v *parser.Verdict) error {
	if v != nil && v.Target != "" && tr.targets != nil {
		tr.targets[v.Target] = true
	}
	if v != nil && v.Target != "" && tr.rec != nil {
		tr.rec.targets = append(tr.rec.targets, targetRead{v.Target, tr.native[v.Target]})
	}
	if v != nil && v.Target != "" && !tr.native[v.Target] {
		return userspace("jumps to chain %s, which runs in userspace", v.Target)
	}
	return nil
}

// load puts the key fields in registers: one field in NFT_REG_1, a
// concatenation in consecutive 32-bit registers from NFT_REG32_00.
func (tr *translator) load(keys []parser.Field, have *depState) ([]expr.Any, uint32, []fieldSpec, error) {
	var out []expr.Any
	specs := make([]fieldSpec, len(keys))
	for i, k := range keys {
		sp, err := specOf(k, tr.t.Family)
		if err != nil {
			return nil, 0, nil, err
		}
		specs[i] = sp
		d, err := tr.deps(sp, have)
		if err != nil {
			return nil, 0, nil, err
		}
		out = append(out, d...)
	}
	if len(keys) == 1 {
		return append(out, specs[0].load(reg1)...), reg1, specs, nil
	}
	reg := uint32(unix.NFT_REG32_00)
	for _, sp := range specs {
		out = append(out, sp.load(reg)...)
		reg += uint32((sp.size + 3) / 4)
	}
	return out, unix.NFT_REG32_00, specs, nil
}

func (tr *translator) match(m *parser.Match, have *depState) ([]expr.Any, error) {
	var out []expr.Any
	var err error
	if m.Merged {
		out, err = tr.mergedMatch(m, have)
	} else {
		out, err = tr.matchExprs(m, have)
	}
	if err == nil {
		have.learn(m)
	}
	return out, err
}

func (tr *translator) matchExprs(m *parser.Match, have *depState) ([]expr.Any, error) {
	m = xorTransfer(m)
	out, reg, specs, err := tr.load(m.Keys, have)
	if err != nil {
		return nil, err
	}
	k := m.Keys[0]
	sp := specs[0]
	if m.Mask != nil {
		out = append(out, sp.bitwise(reg, m))
	}
	// nft compares with the element of a one-element anonymous set
	// directly, with the same operator (expr_evaluate_relational).
	single := m.Val.Anon && len(m.Val.Elems) == 1 && len(m.Keys) == 1
	if (m.Val.Anon && !single) || m.Val.SetRef != "" {
		s, err := tr.setFor(m.Keys, &m.Val, false)
		if err != nil {
			return nil, err
		}
		out = append(out, tr.htonFor(s, reg, sp.size)...)
		return append(out, &expr.Lookup{SourceRegister: reg, SetName: s.Name, SetID: s.ID, Invert: m.Op == parser.OpNe}), nil
	}
	if len(m.Keys) > 1 {
		return nil, userspace("a concatenation against a single value")
	}
	e := m.Val.Elems[0]
	if m.Op == parser.OpNeg {
		// none of the flags: (x & v) == 0
		return append(out,
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: uint32(sp.size), Mask: sp.reg(e.Lo), Xor: make([]byte, sp.size)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: make([]byte, sp.size)}), nil
	}
	if k.Type().Bitmask && m.Op == parser.OpImplicit {
		// any of the flags: (x & v) != 0
		return append(out,
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: uint32(sp.size), Mask: sp.reg(e.Lo), Xor: make([]byte, sp.size)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: make([]byte, sp.size)}), nil
	}
	if k.Type() == parser.TypeIfname {
		stem := trimZero(e.Lo)
		if string(e.Lo) != string(e.Hi) {
			// "eth*": compare the stem only
			return append(out, &expr.Cmp{Op: cmpOp(m.Op), Register: reg, Data: stem}), nil
		}
		return append(out, &expr.Cmp{Op: cmpOp(m.Op), Register: reg, Data: e.Lo}), nil
	}
	if plen, ok := prefixLen(e.Lo, e.Hi); ok && (m.Op == parser.OpImplicit || m.Op == parser.OpEq || m.Op == parser.OpNe) &&
		!sp.host && sp.shift == 0 && m.Mask == nil && len(e.Lo) == sp.size && (k.Type() == parser.TypeIPv4 || k.Type() == parser.TypeIPv6) {
		return prefixCmp(out, reg, sp, e.Lo, plen, cmpOp(m.Op)), nil
	}
	ordered := m.Op >= parser.OpLt || string(e.Lo) != string(e.Hi)
	if ordered && sp.host {
		// Ordered comparisons need network order, as nft's byteorder does.
		out = append(out, &expr.Byteorder{SourceRegister: reg, DestRegister: reg, Op: expr.ByteorderHton, Len: uint32(sp.size), Size: uint32(sp.size)})
	}
	val := func(b []byte) []byte {
		if ordered { // byteorder made the register big-endian
			be := sp
			be.host = false
			return be.reg(b)
		}
		return sp.reg(b)
	}
	if string(e.Lo) != string(e.Hi) {
		if m.Op == parser.OpNe {
			return append(out, &expr.Range{Op: expr.CmpOpNeq, Register: reg, FromData: val(e.Lo), ToData: val(e.Hi)}), nil
		}
		// nft's netlink_gen_range: an equal range is two comparisons,
		// only a negated one a range expression.
		return append(out, &expr.Cmp{Op: expr.CmpOpGte, Register: reg, Data: val(e.Lo)},
			&expr.Cmp{Op: expr.CmpOpLte, Register: reg, Data: val(e.Hi)}), nil
	}
	return append(out, &expr.Cmp{Op: cmpOp(m.Op), Register: reg, Data: val(e.Lo)}), nil
}

// xorTransfer moves a left-hand `^ c` to the value, as nft's
// binop_transfer does: `x ^ c == v` is `x == v ^ c` (and `(x & m) ^ c ==
// v` is `x & m == v ^ c`); the bitwise goes when no `&` is left.
func xorTransfer(m *parser.Match) *parser.Match {
	if m.Xor == nil || len(m.Keys) != 1 || m.Val.Anon || m.Val.SetRef != "" || len(m.Val.Elems) != 1 ||
		(m.Op != parser.OpImplicit && m.Op != parser.OpEq && m.Op != parser.OpNe) || m.Keys[0].Type().Bitmask {
		return m
	}
	e := m.Val.Elems[0]
	if string(e.Lo) != string(e.Hi) || len(e.Lo) != len(m.Xor) {
		return m
	}
	v := make([]byte, len(e.Lo))
	for i := range v {
		v[i] = e.Lo[i] ^ m.Xor[i]
	}
	out := *m
	out.Xor = nil
	out.Val.Elems = []parser.Elem{{Lo: v, Hi: v}}
	if coversField(m.Mask, m.Keys[0].Info().Bits()) {
		out.Mask = nil
	}
	return &out
}

// coversField reports whether mask (natural bytes) keeps every bit of a
// field of bits bits.
func coversField(mask []byte, bits uint32) bool {
	for i := len(mask) - 1; i >= 0 && bits > 0; i-- {
		want := byte(0xff)
		if bits < 8 {
			want = byte(1)<<bits - 1
		}
		if mask[i]&want != want {
			return false
		}
		bits -= min(bits, 8)
	}
	return true
}

// prefixLen reports whether [lo, hi] is an address prefix (lo/plen) that
// is not a single address.
func prefixLen(lo, hi []byte) (int, bool) {
	if len(lo) != len(hi) || string(lo) == string(hi) {
		return 0, false
	}
	plen, i := 0, 0
	for ; i < len(lo) && lo[i] == hi[i]; i++ {
		plen += 8
	}
	if i < len(lo) {
		x := lo[i] ^ hi[i]
		if lo[i]&x != 0 || hi[i]&x != x || x&(x+1) != 0 {
			return 0, false
		}
		for b := byte(0x80); b != 0 && x&b == 0; b >>= 1 {
			plen++
		}
		for i++; i < len(lo); i++ {
			if lo[i] != 0 || hi[i] != 0xff {
				return 0, false
			}
		}
	}
	return plen, plen > 0
}

// prefixCmp matches the load in out against lo/plen as nft does
// (netlink_gen_relational, payload_expr_trim): a byte-aligned prefix of a
// payload narrows the load and compares those bytes, of another load
// compares its first bytes; any other prefix is masked, then compared.
func prefixCmp(out []expr.Any, reg uint32, sp fieldSpec, lo []byte, plen int, op expr.CmpOp) []expr.Any {
	if plen%8 == 0 {
		n := plen / 8
		if p, ok := out[len(out)-1].(*expr.Payload); ok && p.DestRegister == reg {
			q := *p
			q.Len = uint32(n)
			out = append(out[:len(out)-1:len(out)-1], &q)
		}
		return append(out, &expr.Cmp{Op: op, Register: reg, Data: append([]byte(nil), lo[:n]...)})
	}
	mask := make([]byte, sp.size)
	for i := 0; i < plen; i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return append(out, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: uint32(sp.size), Mask: mask, Xor: make([]byte, sp.size)},
		&expr.Cmp{Op: op, Register: reg, Data: append([]byte(nil), lo...)})
}

func trimZero(b []byte) []byte {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return append([]byte(nil), b[:n]...)
}

// setFor returns the native set behind a value: the named set, or a new
// anonymous constant set bound to the rule.
func (tr *translator) setFor(keys []parser.Field, v *parser.Value, vmap bool) (*nftables.Set, error) {
	return tr.setForData(keys, v, vmap, nil)
}

// setForData is setFor for a data map when data is not nil.
func (tr *translator) setForData(keys []parser.Field, v *parser.Value, vmap bool, data *setData) (*nftables.Set, error) {
	// google/nftables v0.3.0 cannot send NFT_SET_ELEM_CATCHALL, so a set
	// with a `*` element is looked up by nfd.
	if v.CatchAll != nil || (v.SetRef != "" && tr.t.Set(v.SetRef) != nil && tr.t.Set(v.SetRef).CatchAll != nil) {
		return nil, userspace("its set has a catch-all `*` element, which nfd's netlink library cannot program")
	}
	if v.SetRef != "" {
		if s := tr.lookupSet(v.SetRef); s != nil {
			return s, nil
		}
		ps := tr.t.Set(v.SetRef)
		if err := nativeSetState(ps); err != nil {
			return nil, err
		}
		n := len(tr.pending)
		tr.packNamed = packDirect && ps.DNS == nil // the daemon adds to a DNS set's list
		tr.packedSrc = ps
		s, err := tr.newSetData(v.SetRef, keys, ps.Elems, ps.Flags&parser.SetInterval != 0, vmap, false, data)
		tr.packNamed, tr.packedSrc = false, nil
		if err != nil {
			return nil, err
		}
		withSetState(ps, s, tr.pending[n].Elems)
		dynamicSet(ps, s, tr.updated()[v.SetRef])
		tr.sets[v.SetRef] = s
		return s, nil
	}
	interval := false
	for _, e := range v.Elems {
		interval = interval || string(e.Lo) != string(e.Hi)
	}
	name := "__set%d" // the kernel numbers anonymous sets; rules find them by ID
	if vmap || data != nil {
		name = "__map%d"
	}
	elems := v.Elems
	if interval && !vmap && data == nil && len(keys) == 1 {
		elems = mergeIntervals(elems)
	}
	return tr.newSetData(name, keys, elems, interval, vmap, true, data)
}

func (tr *translator) newSet(name string, keys []parser.Field, elems []parser.Elem, interval, vmap, anon bool) (*nftables.Set, error) {
	return tr.newSetData(name, keys, elems, interval, vmap, anon, nil)
}

// newSetData adds a set, a verdict map (vmap) or, with data, a data map.
func (tr *translator) newSetData(name string, keys []parser.Field, elems []parser.Elem, interval, vmap, anon bool, data *setData) (*nftables.Set, error) {
	s := &nftables.Set{Table: tr.kt, Name: name, Anonymous: anon, Constant: anon, Interval: interval, IsMap: vmap || data != nil, ID: setIDs.Add(1)}
	var types []nftables.SetDatatype
	host, hostKey := false, false
	for _, k := range keys {
		sp, err := specOf(k, tr.t.Family)
		if err != nil {
			return nil, err
		}
		types = append(types, sp.set)
		host = host || sp.host
		// nft's string types are host-endian too (they print
		// byte-swapped if the set says otherwise).
		hostKey = hostKey || sp.host || k.Type() == parser.TypeIfname || k.Type() == parser.TypeIfindex || k.Type() == parser.TypeString16
	}
	if len(keys) > 1 {
		if interval {
			return nil, userspace("a concatenation with ranges (nfd does not program pipapo sets)")
		}
		s.KeyType = nftables.MustConcatSetType(types...)
		s.Concatenation = true
	} else {
		s.KeyType = types[0]
		if hostKey && !(interval && host) {
			s.KeyByteOrder = binaryutil.NativeEndian
		}
	}
	// An interval set of a host-order field (meta mark, skuid) holds
	// big-endian keys; the rule converts the register first (nft's
	// byteorder hton before the lookup), since intervals compare bytes.
	hton := interval && host
	// The keys' specs once per set, not once per element.
	specs := make([]fieldSpec, len(keys))
	for i, k := range keys {
		specs[i], _ = specOf(k, tr.t.Family)
	}
	if hton {
		specs[0].host = false
	}
	keyOf := func(b []byte) []byte { return keyBytesOf(specs, b) }
	if vmap {
		s.DataType = nftables.TypeVerdict
	}
	if data != nil {
		s.DataType = data.typ
		if (data.interval || data.host) && anon {
			s.Comment = nlbatch.MapDataComment(data.interval, data.host) // the batch marks it
		}
	}
	// An interval ending where another starts needs no end marker (nft
	// leaves it out; the start marks the boundary).
	// The elements, or those of the named set the parse packed.
	nel := len(elems)
	elemAt := func(i int) *parser.Elem { return &elems[i] }
	if ps := tr.packedSrc; ps != nil && ps.Packed != nil && elems == nil {
		nel = ps.NumElems()
		var scratch parser.Elem
		elemAt = func(i int) *parser.Elem { return ps.ElemAt(i, &scratch) }
	}
	starts := map[string]bool{}
	if interval {
		for i := 0; i < nel; i++ {
			starts[string(keyOf(elemAt(i).Lo))] = true
		}
	}
	n := nel
	if interval {
		n *= 2
	}
	// A named set's elements go straight into their packed form
	// (kelems.go), with the timeout and comment withSetState would give.
	var kb *kelemsBuilder
	var els []nftables.SetElement
	if tr.packNamed && !anon {
		kb = newKelemsBuilder(n)
		if sp := specs[0]; len(specs) == 1 && !sp.lead && sp.shift == 0 && !sp.host {
			// The pack copies a key the register holds as the parser
			// wrote it: no copy of its own.
			keyOf = func(b []byte) []byte {
				if len(b) == sp.size {
					return b
				}
				return keyBytesOf(specs, b)
			}
		}
	} else {
		els = make([]nftables.SetElement, 0, n)
	}
	if kb != nil && !interval && !vmap && data == nil && elems == nil && len(specs) == 1 {
		// Plain values kept by the parse in kernel form already: the
		// kernel elements are the parse's packed keys, one arena.
		if sp := specs[0]; !sp.lead && sp.shift == 0 && !sp.host {
			if p := sharedKeys(tr.packedSrc, sp.size); p != nil {
				tr.pending = append(tr.pending, PendingSet{Set: s, Packed: p})
				return s, nil
			}
		}
	}
	for i := 0; i < nel; i++ {
		e := elemAt(i)
		if vmap {
			if err := tr.checkTarget(e.Verdict); err != nil {
				return nil, err
			}
		}
		key := keyOf(e.Lo)
		el := nftables.SetElement{Key: key}
		if vmap {
			el.VerdictData = tr.verdict(e.Verdict)
		}
		if data != nil {
			el.Val = data.enc(e)
		}
		if kb != nil {
			el.Timeout, el.Comment = time.Duration(e.Timeout)*time.Second, e.Comment
			kb.add(&el)
		} else {
			els = append(els, el)
		}
		if interval {
			// An interval [lo, hi] is lo plus an end marker at hi+1.
			if end := parser.NextKey(e.Hi); end != nil && !(len(keys) == 1 && beyondField(keys[0], end)) && !starts[string(keyOf(end))] {
				if kb != nil {
					kb.add(&nftables.SetElement{Key: keyOf(end), IntervalEnd: true})
				} else {
					els = append(els, nftables.SetElement{Key: keyOf(end), IntervalEnd: true})
				}
			}
		}
	}
	if hton {
		if tr.htonSets == nil {
			tr.htonSets = map[uint32]bool{}
		}
		tr.htonSets[s.ID] = true
	}
	ps := PendingSet{Set: s, Elems: els}
	if kb != nil {
		ps.Packed = kb.done()
	}
	tr.pending = append(tr.pending, ps)
	return s, nil
}

// keyBytes lays a key out as the kernel's registers hold it: each field in
// host order where the field is, each padded to 4 bytes in a concatenation.
func (tr *translator) keyBytes(keys []parser.Field, b []byte) []byte {
	specs := make([]fieldSpec, len(keys))
	for i, k := range keys {
		specs[i], _ = specOf(k, tr.t.Family)
	}
	return keyBytesOf(specs, b)
}

// keyBytesOf is keyBytes with the keys' specs already looked up.
func keyBytesOf(specs []fieldSpec, b []byte) []byte {
	if len(specs) == 1 {
		return specs[0].reg(b)
	}
	var out []byte
	off := 0
	for _, sp := range specs {
		out = append(out, sp.reg(b[off:off+sp.nat])...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		off += sp.nat
	}
	return out
}

func (tr *translator) vmap(vm *parser.VMap, have *depState) ([]expr.Any, error) {
	out, reg, _, err := tr.load(vm.Keys, have)
	if err != nil {
		return nil, err
	}
	if vm.Val.SetRef == "" {
		for _, e := range vm.Val.Elems {
			if err := tr.checkTarget(e.Verdict); err != nil {
				return nil, err
			}
		}
	}
	s, err := tr.setFor(vm.Keys, &vm.Val, true)
	if err != nil {
		return nil, err
	}
	if len(vm.Keys) == 1 {
		sp, _ := specOf(vm.Keys[0], tr.t.Family)
		out = append(out, tr.htonFor(s, reg, sp.size)...)
	}
	return append(out, &expr.Lookup{SourceRegister: reg, SetName: s.Name, SetID: s.ID, IsDestRegSet: true, DestRegister: 0}), nil
}

func (tr *translator) reject(r *parser.Reject, have *depState) ([]expr.Any, error) {
	var out []expr.Any
	fam := tr.t.Family
	needL3 := func(v uint8) {
		if fam == parser.FamilyInet && have.l3 != v {
			out = append(out, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{v}})
			have.l3 = v
		}
	}
	switch r.Kind {
	case parser.RejectTCPReset:
		if have.l4 != protoTCP {
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{protoTCP}})
		}
		return append(out, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}), nil
	case parser.RejectICMP:
		needL3(nfprotoIPv4)
		return append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: r.Code}), nil
	case parser.RejectICMPv6:
		needL3(nfprotoIPv6)
		return append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: r.Code}), nil
	case parser.RejectICMPx:
		return append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: r.Code}), nil
	}
	// plain reject: port unreachable, per family
	switch fam {
	case parser.FamilyIP:
		return append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}), nil
	case parser.FamilyIP6:
		return append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 4}), nil
	}
	return append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: 1}), nil // NFT_REJECT_ICMPX_PORT_UNREACH
}

func (tr *translator) nat(n *parser.NAT, have *depState) ([]expr.Any, error) {
	var out []expr.Any
	fam := uint32(unix.NFPROTO_IPV4)
	switch {
	case n.AddrFamily == parser.FamilyIP6 || n.Family == parser.FamilyIP6 || (n.AddrLo == nil && tr.t.Family == parser.FamilyIP6):
		fam = unix.NFPROTO_IPV6
	}
	flags := map[string]bool{}
	for _, f := range n.Flags {
		flags[f] = true
	}
	if n.AddrMap != nil || n.PortMap != nil {
		if n.AddrMap != nil && n.AddrFamily == parser.FamilyIP6 {
			fam = unix.NFPROTO_IPV6
		}
		return tr.natMaps(n, fam, have, flags)
	}
	regAddr, regAddrMax, regPort, regPortMax := uint32(0), uint32(0), uint32(0), uint32(0)
	if n.AddrLo != nil {
		regAddr = unix.NFT_REG32_00
		out = append(out, &expr.Immediate{Register: regAddr, Data: n.AddrLo})
		if string(n.AddrLo) != string(n.AddrHi) {
			regAddrMax = unix.NFT_REG32_00 + 4
			out = append(out, &expr.Immediate{Register: regAddrMax, Data: n.AddrHi})
		}
	}
	if n.HasPort {
		regPort = unix.NFT_REG32_00 + 8
		out = append(out, &expr.Immediate{Register: regPort, Data: binaryutil.BigEndian.PutUint16(n.PortLo)})
		if n.PortHi != n.PortLo {
			regPortMax = unix.NFT_REG32_00 + 9
			out = append(out, &expr.Immediate{Register: regPortMax, Data: binaryutil.BigEndian.PutUint16(n.PortHi)})
		}
	}
	switch n.Kind {
	case parser.NATMasquerade:
		m := &expr.Masq{Random: flags["random"], FullyRandom: flags["fully-random"], Persistent: flags["persistent"]}
		if regPort != 0 {
			m.ToPorts, m.RegProtoMin, m.RegProtoMax = true, regPort, regPortMax
		}
		return append(out, m), nil
	case parser.NATRedirect:
		return append(out, &expr.Redir{RegisterProtoMin: regPort, RegisterProtoMax: regPortMax}), nil
	}
	typ := expr.NATTypeSourceNAT
	if n.Kind == parser.NATDnat {
		typ = expr.NATTypeDestNAT
	}
	if regAddrMax == 0 {
		regAddrMax = regAddr
	}
	if regPort != 0 && regPortMax == 0 {
		regPortMax = regPort
	}
	return append(out, &expr.NAT{Type: typ, Family: fam, RegAddrMin: regAddr, RegAddrMax: regAddrMax,
		RegProtoMin: regPort, RegProtoMax: regPortMax, Random: flags["random"], FullyRandom: flags["fully-random"],
		Persistent: flags["persistent"], Specified: regPort != 0, Prefix: n.Prefix}), nil
}

// mergeIntervals joins overlapping and adjacent intervals, as nft does
// for an anonymous set (set_automerge): the kernel refuses overlapping
// ones (EEXIST), and `{ 1-10, 11-20 }` is `{ 1-20 }` to nft.
func mergeIntervals(in []parser.Elem) []parser.Elem {
	es := append([]parser.Elem(nil), in...)
	sort.SliceStable(es, func(i, j int) bool { return bytes.Compare(es[i].Lo, es[j].Lo) < 0 })
	var out []parser.Elem
	for _, e := range es {
		if n := len(out); n > 0 {
			last := &out[n-1]
			next := parser.NextKey(last.Hi)
			if len(e.Lo) == len(last.Hi) && (bytes.Compare(e.Lo, last.Hi) <= 0 || (next != nil && bytes.Equal(e.Lo, next))) {
				if bytes.Compare(e.Hi, last.Hi) > 0 {
					last.Hi = e.Hi
				}
				continue
			}
		}
		out = append(out, parser.Elem{Lo: e.Lo, Hi: e.Hi})
	}
	return out
}

// beyondField reports whether v (natural bytes) exceeds the field's width:
// an interval ending at the field's largest value has no end marker.
func beyondField(f parser.Field, v []byte) bool {
	bits := f.Info().Bits()
	if bits >= 64 || len(v) > 8 {
		return false
	}
	return parser.Uint(v) > 1<<bits-1
}

// bitwise is the match's left-side operation, (x & mask) ^ xor, on the
// register's bytes; the field's own mask (sub-byte fields) is kept.
func (sp fieldSpec) bitwise(reg uint32, m *parser.Match) *expr.Bitwise {
	mask := sp.reg(m.Mask)
	if sp.shift != 0 || len(m.Mask) != sp.size {
		// keep only the field's bits (the load's own bitwise zeroed the rest)
		fm := regMask(sp.size, sp.shift, m.Keys[0].Info().Bits())
		if fm != nil {
			fm = hostOrder(fm, sp.host)
			for i := range mask {
				mask[i] &= fm[i]
			}
		}
	}
	xor := make([]byte, sp.size)
	if m.Xor != nil {
		xor = sp.reg(m.Xor)
	}
	return &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: uint32(sp.size), Mask: mask, Xor: xor}
}

// mergedMatch is nft's merged comparison of adjacent header bytes
// (parser/nftmerge.go): the dependencies, one load of the whole region,
// one cmp.
func (tr *translator) mergedMatch(m *parser.Match, have *depState) ([]expr.Any, error) {
	var out []expr.Any
	for _, k := range m.Keys {
		sp, err := specOf(k, tr.t.Family)
		if err != nil {
			return nil, err
		}
		d, err := tr.deps(sp, have)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	first := m.Keys[0].Info()
	n := uint32(len(m.Val.Elems[0].Lo))
	base := map[parser.Base]expr.PayloadBase{parser.BaseNH: nh, parser.BaseTH: th, parser.BaseLL: expr.PayloadBaseLLHeader}[first.Base]
	op := expr.CmpOpEq
	if m.Op == parser.OpNe {
		op = expr.CmpOpNeq
	}
	return append(out, &expr.Payload{DestRegister: reg1, Base: base, Offset: first.Off / 8, Len: n},
		&expr.Cmp{Op: op, Register: reg1, Data: append([]byte(nil), m.Val.Elems[0].Lo...)}), nil
}

// logExpr is nft's netlink_gen_log_stmt (netlink_linearize.c): with a
// group, the group, snaplen and queue threshold; without one, the level
// and flags (a snaplen without a group is dropped, as nft drops it).
func logExpr(s *parser.Log) *expr.Log {
	l := &expr.Log{}
	if s.Prefix != "" {
		l.Key |= 1 << unix.NFTA_LOG_PREFIX
		l.Data = []byte(s.Prefix)
	}
	if s.HasGroup {
		l.Key |= 1 << unix.NFTA_LOG_GROUP
		l.Group = s.Group
		if s.HasSnaplen {
			l.Key |= 1 << unix.NFTA_LOG_SNAPLEN
			l.Snaplen = s.Snaplen
		}
		if s.HasQThreshold {
			l.Key |= 1 << unix.NFTA_LOG_QTHRESHOLD
			l.QThreshold = s.QThreshold
		}
		return l
	}
	if s.Level != "" {
		lv := map[string]expr.LogLevel{"emerg": expr.LogLevelEmerg, "alert": expr.LogLevelAlert, "crit": expr.LogLevelCrit,
			"err": expr.LogLevelErr, "warn": expr.LogLevelWarning, "notice": expr.LogLevelNotice, "info": expr.LogLevelInfo,
			"debug": expr.LogLevelDebug, "audit": expr.LogLevelAudit}[s.Level]
		l.Key |= 1 << unix.NFTA_LOG_LEVEL
		l.Level = lv
	}
	if s.Flags != 0 {
		l.Key |= 1 << unix.NFTA_LOG_FLAGS
		l.Flags = expr.LogFlags(s.Flags)
	}
	return l
}

// nativeSetState refuses to program a set whose element state
// google/nftables v0.3.0 cannot send: an element's `expires`, or a counter
// starting from other than zero. nfd looks such sets up itself.
func nativeSetState(ps *parser.Set) error {
	for i := range ps.Elems {
		e := &ps.Elems[i]
		if e.Expires != 0 {
			return userspace("set %s has an element with `expires`, which nfd's netlink library cannot program", ps.Name)
		}
		if e.Counter != nil && (e.Counter.Packets != 0 || e.Counter.Bytes != 0) {
			return userspace("set %s has an element counter starting from non-zero, which nfd's netlink library cannot program", ps.Name)
		}
	}
	return nil
}

// withSetState gives a native named set its timeouts, comments
// and counter. els are the kernel elements newSet made from ps.Elems, in
// order, with interval end markers after the intervals' starts.
func withSetState(ps *parser.Set, s *nftables.Set, els []nftables.SetElement) {
	s.HasTimeout = ps.HasTimeout()
	s.Timeout = time.Duration(ps.Timeout) * time.Second
	s.Counter = ps.Counter
	s.Comment = ps.Comment
	j := 0
	for i := range ps.Elems {
		for j < len(els) && els[j].IntervalEnd {
			j++
		}
		if j == len(els) {
			return
		}
		els[j].Timeout = time.Duration(ps.Elems[i].Timeout) * time.Second
		els[j].Comment = ps.Elems[i].Comment
		j++
	}
}
