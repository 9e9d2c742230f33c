package planner

import (
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// Payload statements, linearised as nft does (netlink_linearize.c,
// netlink_gen_payload_stmt): the bytes covering the field are written from
// a register; a field that does not fill whole bytes, or whose write must
// be widened to the 16-bit words the Internet checksum sums, is read,
// masked and merged first; the checksum to fix is the header's own (IPv4
// header, or the transport's), with the pseudo-header flag when an
// address changes (nft_payload_set_eval then fixes the L4 checksum too).

// csumOf is where a header keeps its checksum: NFT_PAYLOAD_CSUM_* type and
// byte offset.
func csumOf(p parser.Proto) (expr.PayloadCsumType, uint32) {
	switch p {
	case parser.ProtoIP:
		return expr.CsumTypeInet, 10
	case parser.ProtoTCP:
		return expr.CsumTypeInet, 16
	case parser.ProtoUDP, parser.ProtoUDPLite:
		return expr.CsumTypeInet, 6
	case parser.ProtoICMP, parser.ProtoICMP6, parser.ProtoIGMP:
		return expr.CsumTypeInet, 2
	}
	return expr.CsumTypeNone, 0
}

// pseudoHeader reports whether a field is part of the transport checksum's
// pseudo-header (the addresses).
func pseudoHeader(f parser.Field) bool {
	switch f {
	case parser.FieldIPSaddr, parser.FieldIPDaddr, parser.FieldIP6Saddr, parser.FieldIP6Daddr:
		return true
	}
	return false
}

func (tr *translator) payloadSet(s *parser.PayloadSet, have *depState) ([]expr.Any, error) {
	fi := s.Field.Info()
	sp, err := specOf(s.Field, tr.t.Family)
	if err != nil {
		return nil, err
	}
	var out []expr.Any
	if fi.Base != parser.BaseTCPOpt {
		// nft adds no dependency to a TCP option write: the kernel's
		// nft_exthdr_tcp_set_eval checks the protocol itself.
		d, err := tr.deps(sp, have)
		if err != nil {
			return nil, err
		}
		out = d
	}
	// The value, as the field's register bytes (shifted into place).
	var src []expr.Any
	if s.From != 0 {
		fsp, err := specOf(s.From, tr.t.Family)
		if err != nil {
			return nil, err
		}
		if sp.shift != 0 || sp.size != fsp.size {
			return nil, userspace("`%s set %s`: nfd writes another field's value only into a field of the same whole-byte width", s.Field, s.From)
		}
		d, err := tr.deps(fsp, have)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
		src = fsp.load(reg1)
		if fsp.host && fsp.size > 1 {
			src = append(src, &expr.Byteorder{SourceRegister: reg1, DestRegister: reg1, Op: expr.ByteorderHton,
				Len: uint32(fsp.size), Size: uint32(fsp.size)})
		}
	}
	byteOff := fi.Off / 8
	n := uint32(sp.size)
	if fi.Base == parser.BaseTCPOpt {
		// nft_exthdr_tcp_set_eval fixes the TCP checksum itself.
		if s.From == 0 {
			out = append(out, &expr.Immediate{Register: reg1, Data: sp.reg(s.Value)})
		} else {
			out = append(out, src...)
		}
		return append(out, &expr.Exthdr{SourceRegister: reg1, Op: expr.ExthdrOpTcpopt, Type: uint8(fi.Key), Offset: byteOff, Len: n}), nil
	}
	base := map[parser.Base]expr.PayloadBase{parser.BaseNH: nh, parser.BaseTH: th, parser.BaseLL: expr.PayloadBaseLLHeader}[fi.Base]
	csum, csumOff := csumOf(fi.Proto)
	var flags uint32
	if pseudoHeader(s.Field) {
		flags = 1 // NFT_PAYLOAD_L4CSUM_PSEUDOHDR
	}
	// The written region: the field's bytes, widened to 16-bit words when
	// an Internet checksum is fixed incrementally.
	start, end := byteOff, byteOff+n
	if csum == expr.CsumTypeInet {
		start &^= 1
		end = (end + 1) &^ 1
	}
	width := end - start
	whole := sp.shift == 0 && fi.Bits() == 8*n && start == byteOff && end == byteOff+n
	if whole {
		if s.From == 0 {
			out = append(out, &expr.Immediate{Register: reg1, Data: sp.reg(s.Value)})
		} else {
			out = append(out, src...)
		}
	} else {
		if s.From != 0 {
			return nil, userspace("`%s set %s`: nfd writes another field's value only into a field of whole bytes", s.Field, s.From)
		}
		// Read the region, keep the other bits, put the value in.
		fm := regMask(sp.size, sp.shift, fi.Bits())
		if fm == nil {
			fm = make([]byte, sp.size)
			for i := range fm {
				fm[i] = 0xff
			}
		}
		val := sp.reg(s.Value)
		mask := make([]byte, width)
		xor := make([]byte, width)
		at := byteOff - start
		for i := range mask {
			mask[i] = 0xff
		}
		for i := uint32(0); i < n; i++ {
			mask[at+i] = ^fm[i]
			xor[at+i] = val[i] & fm[i]
		}
		out = append(out,
			&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg1, Base: base, Offset: start, Len: width},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: width, Mask: mask, Xor: xor})
	}
	return append(out, &expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: reg1, Base: base,
		Offset: start, Len: width, CsumType: csum, CsumOffset: csumOff, CsumFlags: flags}), nil
}
