package nlbatch

import (
	"bytes"
	"encoding/binary"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Shifts: google/nftables v0.3.0's expr.Bitwise has no NFTA_BITWISE_OP,
// so it cannot ask nft_bitwise for NFT_BITWISE_LSHIFT or RSHIFT. A rule
// writes the expression BitwiseShift returns and the batch rewrites it
// into what libnftnl's bitwise expression sends for nft: SREG, DREG, OP,
// LEN, DATA holding the shift as a host-order u32 (nft_bitwise_init_shift
// reads it so).

const (
	nftaBitwiseOp   = 6 // NFTA_BITWISE_OP
	nftaBitwiseData = 7 // NFTA_BITWISE_DATA
)

var shiftMagic = []byte("nfd-bitwise-shift")

// BitwiseShift shifts the 4-byte register reg in place by n bits; op is
// 1 (NFT_BITWISE_LSHIFT) or 2 (NFT_BITWISE_RSHIFT).
func BitwiseShift(reg uint32, op uint8, n uint32) *expr.Bitwise {
	return &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: shiftMagic,
		Xor: append([]byte{op}, binaryutil.NativeEndian.PutUint32(n)...)}
}

// fixShifts rewrites the BitwiseShift placeholders of a NEWRULE message.
func fixShifts(m *netlink.Message) {
	rewriteRuleExprs(m, shiftMagic, shiftData)
}

func shiftData(elem []byte) ([]byte, bool) {
	name, data := exprNameData(elem)
	if name != "bitwise\x00" || !bytes.Contains(data, shiftMagic) {
		return nil, false
	}
	var sreg, dreg, blen, xor []byte
	for _, a := range parseAttrs(data) {
		switch a.typ & typeMask {
		case unix.NFTA_BITWISE_SREG:
			sreg = a.data
		case unix.NFTA_BITWISE_DREG:
			dreg = a.data
		case unix.NFTA_BITWISE_LEN:
			blen = a.data
		case unix.NFTA_BITWISE_XOR:
			for _, v := range parseAttrs(a.data) {
				if v.typ&typeMask == unix.NFTA_DATA_VALUE {
					xor = v.data
				}
			}
		}
	}
	if len(xor) != 5 {
		return nil, false
	}
	op := make([]byte, 4)
	binary.BigEndian.PutUint32(op, uint32(xor[0]))
	inner := marshalAttrs([]attr{
		{unix.NFTA_BITWISE_SREG, sreg},
		{unix.NFTA_BITWISE_DREG, dreg},
		{nftaBitwiseOp, op},
		{unix.NFTA_BITWISE_LEN, blen},
		{unix.NLA_F_NESTED | nftaBitwiseData, marshalAttrs([]attr{{unix.NFTA_DATA_VALUE, xor[1:5]}})},
	})
	return marshalAttrs([]attr{
		{unix.NFTA_EXPR_NAME, []byte("bitwise\x00")},
		{unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, inner},
	}), true
}
