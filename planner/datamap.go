package planner

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
)

// Data maps in statements, as nft compiles them (netlink_linearize.c
// netlink_gen_map): the key loaded as for a lookup, then a lookup into a
// map whose data lands in NFT_REG_1, which the statement reads.

// setData is what a data map's elements carry: the kernel's data type and
// the element data laid out as the registers hold it.
type setData struct {
	typ nftables.SetDatatype
	enc func(e *parser.Elem) []byte
	// interval: the data are ranges (nft's NFTNL_UDATA_SET_DATA_INTERVAL);
	// host: in host byte order (NFTNL_UDATA_SET_DATABYTEORDER)
	interval, host bool
}

// hostData: data types the kernel keeps in host byte order (nft's mark
// datatype is host-endian), as registers hold them.
func hostData(t *parser.Type) bool {
	return t == parser.TypeMark || t.Name == "mark" || t == parser.TypeZone || t == parser.TypeClassid
}

// dataOf describes data of types ts: each value padded to 4 bytes in a
// concatenation; with interval, a range as two values (nft's interval
// data, loaded as addr_min and addr_max).
func dataOf(ts []*parser.Type, interval bool) *setData {
	var types []nftables.SetDatatype
	for _, t := range ts {
		types = append(types, setType(t, t.Size))
	}
	d := &setData{typ: types[0], interval: interval, host: len(ts) == 1 && hostData(ts[0])}
	if len(types) > 1 {
		d.typ = nftables.MustConcatSetType(types...)
	}
	if interval {
		// nft declares the data's own type, twice as long (mnl.c
		// mnl_nft_set_add: data_len of the interval), and marks the
		// set NFTNL_UDATA_SET_DATA_INTERVAL.
		d.typ.Bytes *= 2
	}
	pad := func(b []byte) []byte {
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	d.enc = func(e *parser.Elem) []byte {
		if len(ts) == 1 {
			v := hostOrder(e.Data, hostData(ts[0]))
			if interval {
				hi := e.DataHi
				if hi == nil {
					hi = e.Data
				}
				return append(pad(v), pad(append([]byte(nil), hi...))...)
			}
			return v
		}
		var out []byte
		halves := [][]byte{e.Data}
		if interval {
			halves = append(halves, e.DataHi)
		}
		for _, h := range halves {
			off := 0
			for _, t := range ts {
				out = append(out, pad(hostOrder(h[off:off+t.Size], hostData(t)))...)
				off += t.Size
			}
		}
		return out
	}
	return d
}

// dataMap loads m's key and looks it up; the data is in NFT_REG_1 after.
func (tr *translator) dataMap(m *parser.DataMap, have *depState) ([]expr.Any, error) {
	out, reg, specs, err := tr.load(m.Keys, have)
	if err != nil {
		return nil, err
	}
	s, err := tr.setForData(m.Keys, &m.Val, false, dataOf(m.Data, m.Interval))
	if err != nil {
		return nil, err
	}
	if len(m.Keys) == 1 {
		out = append(out, tr.htonFor(s, reg, specs[0].size)...)
	}
	return append(out, &expr.Lookup{SourceRegister: reg, SetName: s.Name, SetID: s.ID, IsDestRegSet: true, DestRegister: reg1}), nil
}

// markSet is `meta|ct mark set` from a value, a field or a map.
func (tr *translator) markSet(s *parser.MarkSet, have *depState) ([]expr.Any, error) {
	var out []expr.Any
	switch {
	case s.Map != nil:
		e, err := tr.dataMap(s.Map, have)
		if err != nil {
			return nil, err
		}
		out = e
	case s.From == parser.FieldMetaMark:
		out = append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg1})
	case s.From == parser.FieldCtMark:
		out = append(out, &expr.Ct{Key: expr.CtKeyMARK, Register: reg1})
	case s.From != parser.FieldNone:
		sp, err := specOf(s.From, tr.t.Family)
		if err != nil {
			return nil, err
		}
		d, err := tr.deps(sp, have)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
		out = append(out, sp.load(reg1)...)
	default:
		out = append(out, &expr.Immediate{Register: reg1, Data: binaryutil.NativeEndian.PutUint32(s.Value)})
	}
	if s.Shift != 0 && s.From != parser.FieldNone {
		out = append(out, nlbatch.BitwiseShift(reg1, s.Shift, s.ShiftBy))
	}
	if s.Ops && s.From != parser.FieldNone {
		out = append(out, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(s.Mask), Xor: binaryutil.NativeEndian.PutUint32(s.Xor)})
	}
	if s.Ct {
		return append(out, &expr.Ct{Key: expr.CtKeyMARK, Register: reg1, SourceRegister: true}), nil
	}
	return append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg1, SourceRegister: true}), nil
}

// natMaps translates a NAT statement whose address or port comes from a
// map, as nft's netlink_gen_nat_stmt does: the map's data in NFT_REG_1;
// with address . port data the port follows the address (NFT_REG32_01
// for IPv4); with interval data addr_max follows addr_min.
func (tr *translator) natMaps(n *parser.NAT, fam uint32, have *depState, flags map[string]bool) ([]expr.Any, error) {
	var out []expr.Any
	nat := &expr.NAT{Type: expr.NATTypeSourceNAT, Family: fam, Random: flags["random"], FullyRandom: flags["fully-random"],
		Persistent: flags["persistent"], Prefix: n.Prefix}
	if n.Kind == parser.NATDnat {
		nat.Type = expr.NATTypeDestNAT
	}
	if m := n.AddrMap; m != nil {
		e, err := tr.dataMap(m, have)
		if err != nil {
			return nil, err
		}
		out = e
		// registers: addr_min [. proto_min] [. addr_max [. proto_max]]
		size := uint32(m.Data[0].Size+3) / 4
		all := size
		nat.RegAddrMin = reg1
		if len(m.Data) == 2 {
			nat.RegProtoMin = unix.NFT_REG32_00 + size
			all++
		}
		if m.Interval {
			nat.RegAddrMax = unix.NFT_REG32_00 + all
			if len(m.Data) == 2 {
				nat.RegProtoMax = nat.RegAddrMax + size
			}
		}
	}
	if n.PortMap != nil && n.AddrMap != nil {
		// `dnat KEY map {...} : KEY map {...}`: the port map's key and
		// data in NFT_REG_2, the address staying in NFT_REG_1 (nft's
		// netlink_gen_nat_stmt, one register each).
		e, err := tr.dataMapIn(n.PortMap, have, unix.NFT_REG_2)
		if err != nil {
			return nil, err
		}
		out = append(out, e...)
		nat.RegProtoMin, nat.Specified = unix.NFT_REG_2, true
	}
	if n.PortMap != nil && n.AddrMap == nil {
		reg := uint32(reg1)
		if n.AddrLo != nil {
			reg = unix.NFT_REG_2
		}
		e, err := tr.dataMapTo(n.PortMap, have, reg)
		if err != nil {
			return nil, err
		}
		out = append(out, e...)
		if n.Kind == parser.NATRedirect {
			return append(out, &expr.Redir{RegisterProtoMin: reg, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED}), nil
		}
		nat.RegProtoMin, nat.Specified = reg, true
	}
	if n.AddrLo != nil {
		nat.RegAddrMin = reg1
		out = append(out, &expr.Immediate{Register: reg1, Data: n.AddrLo})
		if string(n.AddrLo) != string(n.AddrHi) {
			nat.RegAddrMax = unix.NFT_REG32_00 + 4
			out = append(out, &expr.Immediate{Register: nat.RegAddrMax, Data: n.AddrHi})
		}
	}
	if n.AddrMap != nil && n.HasPort && n.PortMap == nil && len(n.AddrMap.Data) == 1 {
		nat.RegProtoMin, nat.Specified = unix.NFT_REG32_00+8, true
		out = append(out, &expr.Immediate{Register: nat.RegProtoMin, Data: binaryutil.BigEndian.PutUint16(n.PortLo)})
		if n.PortHi != n.PortLo {
			nat.RegProtoMax = unix.NFT_REG32_00 + 9
			out = append(out, &expr.Immediate{Register: nat.RegProtoMax, Data: binaryutil.BigEndian.PutUint16(n.PortHi)})
		}
	}
	if nat.RegAddrMax == 0 {
		nat.RegAddrMax = nat.RegAddrMin
	}
	if nat.RegProtoMin != 0 && nat.RegProtoMax == 0 {
		nat.RegProtoMax = nat.RegProtoMin
	}
	return append(out, nat), nil
}

// dataMapTo is dataMap with the data in register dst.
func (tr *translator) dataMapTo(m *parser.DataMap, have *depState, dst uint32) ([]expr.Any, error) {
	out, err := tr.dataMap(m, have)
	if err != nil {
		return nil, err
	}
	out[len(out)-1].(*expr.Lookup).DestRegister = dst
	return out, nil
}

// dataMapIn is dataMap with a single-field key loaded into reg and the
// data landing there too.
func (tr *translator) dataMapIn(m *parser.DataMap, have *depState, reg uint32) ([]expr.Any, error) {
	if len(m.Keys) != 1 {
		return nil, userspace("a concatenated key in the port map of a NAT statement with an address map")
	}
	sp, err := specOf(m.Keys[0], tr.t.Family)
	if err != nil {
		return nil, err
	}
	out, err := tr.deps(sp, have)
	if err != nil {
		return nil, err
	}
	out = append(out, sp.load(reg)...)
	s, err := tr.setForData(m.Keys, &m.Val, false, dataOf(m.Data, m.Interval))
	if err != nil {
		return nil, err
	}
	out = append(out, tr.htonFor(s, reg, sp.size)...)
	return append(out, &expr.Lookup{SourceRegister: reg, SetName: s.Name, SetID: s.ID, IsDestRegSet: true, DestRegister: reg}), nil
}
