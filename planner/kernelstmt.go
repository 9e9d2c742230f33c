package planner

import (
	"net"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
)

// Translations of the statements only the kernel runs (parser.KernelOnly),
// as nft's netlink_linearize.c emits them: the value in a register by an
// immediate, then the statement's expression reading it.

const reg2 = 2 // NFT_REG_2

func (tr *translator) kernelStmt(s parser.Stmt, have *depState) ([]expr.Any, error) {
	switch s := s.(type) {
	case *parser.KeySet:
		if s.Map != nil {
			// the value the key maps to, in NFT_REG_1, then the set
			out, err := tr.dataMap(s.Map, have)
			if err != nil {
				return nil, err
			}
			ks := keySetExprs(s)
			return append(out, ks[len(ks)-1]), nil
		}
		return keySetExprs(s), nil
	case *parser.SynProxy:
		return []expr.Any{&expr.SynProxy{Mss: s.MSS, Wscale: s.Wscale, WscaleValueSet: s.HasWscale,
			Timestamp: s.Timestamp, SackPerm: s.SackPerm}}, nil
	case *parser.TProxy:
		var out []expr.Any
		tp := &expr.TProxy{TableFamily: byte(TableFamily(tr.t.Family)), RegPort: reg2}
		switch s.Family {
		case parser.FamilyIP:
			tp.Family = nfprotoIPv4
		case parser.FamilyIP6:
			tp.Family = nfprotoIPv6
		default:
			if tr.t.Family != parser.FamilyInet {
				tp.Family = byte(TableFamily(tr.t.Family))
			}
		}
		if s.Addr != nil {
			out = append(out, &expr.Immediate{Register: reg1, Data: s.Addr})
			tp.RegAddr = reg1
		}
		if s.Port == 0 {
			// the packet's own port: nft sends no port register,
			// which google/nftables v0.3.0 cannot (nlbatch.TProxyNoPort)
			return append(out, nlbatch.TProxyNoPort(tp.Family, tp.RegAddr)), nil
		}
		out = append(out, &expr.Immediate{Register: reg2, Data: binaryutil.BigEndian.PutUint16(s.Port)}, tp)
		return out, nil
	case *parser.Dup:
		out := []expr.Any{&expr.Immediate{Register: reg1, Data: s.Addr}}
		if s.Map != nil {
			// the address the key maps to, in NFT_REG_1
			e, err := tr.dataMap(s.Map, have)
			if err != nil {
				return nil, err
			}
			out = e
		}
		d := &expr.Dup{RegAddr: reg1}
		if s.Device != "" {
			// nft resolves the device when it loads the rule; nfd does
			// when it plans, in its own network namespace.
			ifi, err := net.InterfaceByName(s.Device)
			if err != nil {
				return nil, userspace("device %q of `dup`: %v", s.Device, err)
			}
			out = append(out, &expr.Immediate{Register: reg2, Data: binaryutil.NativeEndian.PutUint32(uint32(ifi.Index))})
			d.RegDev, d.IsRegDevSet = reg2, true
		}
		return append(out, d), nil
	}
	return nil, userspace("statement %T has no native form in nfd", s)
}

// keySetExprs is `meta|ct KEY set VALUE`: the value in the key's width and
// byte order (host order for the integer keys), then the meta or ct
// expression writing it (nft_meta_set_eval, nft_ct_set_eval).
func keySetExprs(s *parser.KeySet) []expr.Any {
	if s.Key == "secmark" {
		// the other side's secmark copied (nft_meta_get_eval, nft_ct_get_eval)
		if s.Ct {
			return []expr.Any{&expr.Meta{Key: expr.MetaKeySECMARK, Register: reg1},
				&expr.Ct{Key: expr.CtKeySECMARK, Register: reg1, SourceRegister: true}}
		}
		return []expr.Any{&expr.Ct{Key: expr.CtKeySECMARK, Register: reg1},
			&expr.Meta{Key: expr.MetaKeySECMARK, Register: reg1, SourceRegister: true}}
	}
	var data []byte
	switch s.Key {
	case "priority", "event":
		data = binaryutil.NativeEndian.PutUint32(s.Value)
	case "zone":
		data = binaryutil.NativeEndian.PutUint16(uint16(s.Value))
	case "pkttype", "nftrace":
		data = []byte{byte(s.Value)}
	case "label":
		// A 128-bit host-order bitmap (nf_connlabels_replace).
		data = make([]byte, 16)
		bit := s.Value
		if binaryutil.NativeEndian.Uint16([]byte{1, 0}) == 1 {
			data[bit/8] |= 1 << (bit % 8)
		} else {
			data[15-bit/8] |= 1 << (bit % 8)
		}
	}
	imm := &expr.Immediate{Register: reg1, Data: data}
	if s.Ct {
		k := map[string]expr.CtKey{"zone": expr.CtKeyZONE, "event": expr.CtKeyEVENTMASK, "label": expr.CtKeyLABELS}[s.Key]
		if s.Dir != "" {
			// `ct original|reply zone set`: nlbatch writes the key and
			// the one-byte direction google/nftables cannot.
			d := uint8(0)
			if s.Dir == "reply" {
				d = 1
			}
			return []expr.Any{imm, &expr.Ct{Key: expr.CtKeySRC, Register: reg1, SourceRegister: true, Direction: nlbatch.CtDir(k, d)}}
		}
		return []expr.Any{imm, &expr.Ct{Key: k, Register: reg1, SourceRegister: true}}
	}
	k := map[string]expr.MetaKey{"priority": expr.MetaKeyPRIORITY, "pkttype": expr.MetaKeyPKTTYPE, "nftrace": expr.MetaKeyNFTRACE}[s.Key]
	return []expr.Any{imm, &expr.Meta{Key: k, Register: reg1, SourceRegister: true}}
}
