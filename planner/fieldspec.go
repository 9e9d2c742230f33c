package planner

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
)

// fieldSpec says how the kernel loads a field, derived from the field
// table (parser.FieldInfo) as nft's netlink_linearize does: a payload or
// exthdr load of the bytes covering the field, a bitwise mask when it is
// not byte-aligned (constants are then shifted into place, as nft's
// binop_adjust does), a meta/ct/fib/rt/socket/numgen load otherwise.
type fieldSpec struct {
	load  func(reg uint32) []expr.Any
	size  int  // register bytes
	host  bool // the register holds it in host byte order
	l3    uint8
	l4    uint8
	set   nftables.SetDatatype
	shift uint // constants are shifted left by this many bits
	nat   int  // bytes of a value as the parser writes it (Type.Size)
	// link: a link-layer header field, which nft guards with `meta
	// iiftype ether`; vlan: an 802.1Q field, guarded by `ether type
	// 8021q` too; icmp: the ICMP types the field is valid for.
	link, vlan bool
	typeDep    string // ICMP types the field needs (nft's hidden dependency)
	// lead: the value sits in the register's first byte, the rest zero
	// (nft_reg_store8: fib's present flag).
	lead bool
}

func payload(base expr.PayloadBase, off, n uint32) func(uint32) expr.Any {
	return func(reg uint32) expr.Any {
		return &expr.Payload{DestRegister: reg, Base: base, Offset: off, Len: n}
	}
}

var (
	nh = expr.PayloadBaseNetworkHeader
	th = expr.PayloadBaseTransportHeader
)

// Exthdr ops beyond google/nftables' constants (NFT_EXTHDR_OP_*).
const (
	exthdrOpIPv4   expr.ExthdrOp = 2
	exthdrOpSCTP   expr.ExthdrOp = 3
	exthdrFPresent               = 1 // NFT_EXTHDR_F_PRESENT
)

var setTypeByName = map[string]nftables.SetDatatype{}

func init() {
	for _, t := range []nftables.SetDatatype{nftables.TypeNFProto, nftables.TypeIPAddr, nftables.TypeIP6Addr,
		nftables.TypeEtherAddr, nftables.TypeEtherType, nftables.TypeInetProto, nftables.TypeInetService,
		nftables.TypeICMPType, nftables.TypeTCPFlag, nftables.TypeDCCPPktType, nftables.TypeMHType,
		nftables.TypeMark, nftables.TypeARPHRD, nftables.TypeRealm, nftables.TypeClassID,
		nftables.TypeCTState, nftables.TypeCTDir, nftables.TypeCTStatus, nftables.TypeICMP6Type,
		nftables.TypeCTLabel, nftables.TypePktType, nftables.TypeICMPCode, nftables.TypeICMPV6Code,
		nftables.TypeDevGroup, nftables.TypeDSCP, nftables.TypeECN, nftables.TypeFIBAddr, nftables.TypeBoolean,
		nftables.TypeIFName, nftables.TypeIFIndex, nftables.TypeIGMPType, nftables.TypeTimeHour, nftables.TypeTimeDay,
		nftables.TypeCGroupV2, nftables.TypeUID, nftables.TypeGID, nftables.TypeString} {
		setTypeByName[t.Name] = t
	}
}

// setType is the set key type nft would declare: the field type's own,
// else nft's integer, with the register's width (the kernel checks only
// the length; the type tells `nft list` how to print the elements).
func setType(t *parser.Type, size int) nftables.SetDatatype {
	st, ok := setTypeByName[t.Name]
	if !ok {
		st = nftables.TypeInteger
	}
	st.Bytes = uint32(size)
	return st
}

// specOf derives the kernel load of f in a table of family fam, or says
// why f has none.
func specOf(f parser.Field, fam parser.Family) (fieldSpec, error) {
	fi := f.Info()
	if fi.Userspace {
		return fieldSpec{}, userspace("`%s` is evaluated by nfd in userspace", f)
	}
	sp := fieldSpec{host: fi.Host, nat: fi.Type.Size, typeDep: fi.TypeDep}
	netFam, l4 := fi.Deps()
	sp.l3, sp.l4 = nfproto(netFam), l4
	if fi.Base == parser.BaseLL && (fi.Proto == parser.ProtoEther || fi.Proto == parser.ProtoVLAN) {
		sp.link, sp.vlan = true, fi.Proto == parser.ProtoVLAN
	}
	bits := fi.Bits()
	switch fi.Base {
	case parser.BaseNH, parser.BaseTH, parser.BaseLL, parser.BaseIH,
		parser.BaseIP6Ext, parser.BaseTCPOpt, parser.BaseIPOpt, parser.BaseSCTP:
		byteOff := fi.Off / 8
		n := (fi.Off%8 + bits + 7) / 8
		sp.size = int(n)
		sp.shift = uint(n*8 - fi.Off%8 - bits)
		if fi.Exists {
			sp.size, sp.shift = 1, 0
		}
		var ld func(reg uint32) expr.Any
		switch fi.Base {
		case parser.BaseNH:
			ld = payload(nh, byteOff, n)
		case parser.BaseTH:
			ld = payload(th, byteOff, n)
		case parser.BaseLL:
			ld = payload(expr.PayloadBaseLLHeader, byteOff, n)
		case parser.BaseIH:
			ld = payload(expr.PayloadBase(unix.NFT_PAYLOAD_INNER_HEADER), byteOff, n)
		default:
			op := map[parser.Base]expr.ExthdrOp{parser.BaseIP6Ext: expr.ExthdrOpIpv6, parser.BaseTCPOpt: expr.ExthdrOpTcpopt,
				parser.BaseIPOpt: exthdrOpIPv4, parser.BaseSCTP: exthdrOpSCTP}[fi.Base]
			e := expr.Exthdr{Op: op, Type: uint8(fi.Key), Offset: byteOff, Len: n}
			if fi.Exists {
				e.Offset, e.Len, e.Flags = 0, 1, exthdrFPresent
			}
			ld = func(reg uint32) expr.Any { x := e; x.DestRegister = reg; return &x }
		}
		mask := regMask(sp.size, sp.shift, bits)
		sp.load = func(reg uint32) []expr.Any {
			out := []expr.Any{ld(reg)}
			if mask != nil && !fi.Exists {
				out = append(out, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: uint32(len(mask)),
					Mask: mask, Xor: make([]byte, len(mask))})
			}
			return out
		}
	case parser.BaseMeta:
		key := expr.MetaKey(fi.Key)
		sp.size = fi.Type.Size
		sp.load = func(reg uint32) []expr.Any { return []expr.Any{&expr.Meta{Key: key, Register: reg}} }
	case parser.BaseCt:
		key, dir := expr.CtKey(fi.Key), fi.Dir
		sp.size = fi.Type.Size
		sp.load = func(reg uint32) []expr.Any {
			if dir == 0 {
				return []expr.Any{&expr.Ct{Key: key, Register: reg}}
			}
			// google/nftables v0.3.0 cannot send a direction with
			// NFT_CT_SRC_IP & co, nor send one right at all; the batch
			// rewrites this expression to key and direction
			// (nlbatch.CtDir).
			return []expr.Any{&expr.Ct{Key: expr.CtKeySRC, Register: reg, Direction: nlbatch.CtDir(key, dir-1)}}
		}
	case parser.BaseFib:
		fl := fi.Flags
		res := fi.Key
		sp.size = fi.Type.Size
		if fl&unix.NFTA_FIB_F_PRESENT != 0 {
			// nft compares the whole register word nft_reg_store8 wrote.
			sp.size, sp.lead = 4, true
		}
		sp.load = func(reg uint32) []expr.Any {
			return []expr.Any{&expr.Fib{Register: reg, FlagSADDR: fl&unix.NFTA_FIB_F_SADDR != 0, FlagDADDR: fl&unix.NFTA_FIB_F_DADDR != 0,
				FlagMARK: fl&unix.NFTA_FIB_F_MARK != 0, FlagIIF: fl&unix.NFTA_FIB_F_IIF != 0, FlagOIF: fl&unix.NFTA_FIB_F_OIF != 0,
				FlagPRESENT: fl&unix.NFTA_FIB_F_PRESENT != 0,
				ResultOIF:   res == unix.NFT_FIB_RESULT_OIF, ResultOIFNAME: res == unix.NFT_FIB_RESULT_OIFNAME, ResultADDRTYPE: res == unix.NFT_FIB_RESULT_ADDRTYPE}}
		}
	case parser.BaseRt:
		key := expr.RtKey(fi.Key)
		sp.size = fi.Type.Size
		sp.load = func(reg uint32) []expr.Any { return []expr.Any{&expr.Rt{Register: reg, Key: key}} }
	case parser.BaseSocket:
		key, lv := expr.SocketKey(fi.Key), fi.Level
		sp.size = fi.Type.Size
		sp.load = func(reg uint32) []expr.Any { return []expr.Any{&expr.Socket{Register: reg, Key: key, Level: lv}} }
	case parser.BaseNumgen:
		mod, typ, off := fi.Level, fi.Key, fi.Off
		sp.size = 4
		sp.load = func(reg uint32) []expr.Any {
			return []expr.Any{&expr.Numgen{Register: reg, Modulus: mod, Type: typ, Offset: off}}
		}
	case parser.BaseHash:
		// nft loads the sources from NFT_REG_2 on (32-bit registers
		// from NFT_REG32_04), each padded to 4 bytes, and hashes them.
		var loads []expr.Any
		reg := uint32(unix.NFT_REG32_04)
		for _, src := range f.HashSources() {
			ssp, err := specOf(src, fam)
			if err != nil {
				return fieldSpec{}, err
			}
			if sp.l3 == 0 {
				sp.l3 = ssp.l3
			}
			if sp.l4 == 0 {
				sp.l4 = ssp.l4
			}
			loads = append(loads, ssp.load(reg)...)
			reg += uint32((ssp.size + 3) / 4)
		}
		length := (reg - unix.NFT_REG32_04) * 4
		if len(f.HashSources()) == 1 {
			ssp, _ := specOf(f.HashSources()[0], fam)
			length = uint32(ssp.size)
		}
		h := expr.Hash{SourceRegister: unix.NFT_REG32_04, Length: length, Modulus: fi.Level, Seed: fi.Flags, Offset: fi.Off, Type: expr.HashTypeJenkins}
		if fi.Key == 1 {
			h = expr.Hash{Modulus: fi.Level, Offset: fi.Off, Type: expr.HashTypeSym}
		}
		sp.size = 4
		sp.load = func(reg uint32) []expr.Any {
			x := h
			x.DestRegister = reg
			return append(append([]expr.Any(nil), loads...), &x)
		}
	case parser.BaseOsf:
		// google/nftables v0.3.0 has no osf expression: the batch
		// writes it (nlbatch.Osf).
		ttl, fl := uint8(fi.Key), fi.Flags
		sp.size = fi.Type.Size
		sp.load = func(reg uint32) []expr.Any { return []expr.Any{nlbatch.Osf(reg, ttl, fl)} }
	case parser.BaseXfrm:
		// nor an xfrm one (nlbatch.Xfrm); the parser's direction is 1
		// in, 2 out, the kernel's XFRM_POLICY_IN 0, XFRM_POLICY_OUT 1.
		key, dir, spnum := fi.Key, fi.Dir-1, fi.Level
		sp.size = fi.Type.Size
		sp.load = func(reg uint32) []expr.Any { return []expr.Any{nlbatch.Xfrm(reg, key, dir, spnum)} }
	default:
		return fieldSpec{}, userspace("`%s` has no native form in nfd (google/nftables v0.3.0 has no such expression)", f)
	}
	sp.set = setType(fi.Type, sp.size)
	return sp, nil
}

func nfproto(fam uint8) uint8 {
	switch fam {
	case 4:
		return nfprotoIPv4
	case 6:
		return nfprotoIPv6
	}
	return 0
}

// regMask is the bitwise mask selecting a field of bits bits shifted left
// by shift in a size-byte register, or nil when the field fills it.
func regMask(size int, shift uint, bits uint32) []byte {
	if shift == 0 && int(bits) == 8*size {
		return nil
	}
	m := make([]byte, size)
	for i := uint(0); i < uint(bits); i++ {
		pos := shift + i // bit position from the right
		m[size-1-int(pos/8)] |= 1 << (pos % 8)
	}
	return m
}

// reg turns a value as the parser writes it (nat bytes, big-endian) into
// the register's bytes: widened or narrowed to size, shifted into place,
// in host order where the register is.
func (sp fieldSpec) reg(b []byte) []byte {
	if sp.lead {
		out := make([]byte, sp.size)
		copy(out, b)
		return out
	}
	out := b
	if len(b) != sp.size || sp.shift != 0 {
		out = shiftBytes(b, sp.size, sp.shift)
	}
	return hostOrder(out, sp.host)
}

// shiftBytes right-aligns b in size bytes and shifts it left by s bits.
func shiftBytes(b []byte, size int, s uint) []byte {
	if size > 16 || len(b) > 16 {
		panic(fmt.Sprintf("shiftBytes: %d bytes into %d", len(b), size))
	}
	var buf [32]byte
	copy(buf[32-len(b):], b)
	hi := binary.BigEndian.Uint64(buf[16:24])
	lo := binary.BigEndian.Uint64(buf[24:32])
	if s > 0 {
		hi = hi<<s | lo>>(64-s)
		lo <<= s
	}
	binary.BigEndian.PutUint64(buf[16:24], hi)
	binary.BigEndian.PutUint64(buf[24:32], lo)
	return append([]byte(nil), buf[32-size:]...)
}
