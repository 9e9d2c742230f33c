package nlbatch

import (
	"bytes"
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Expressions google/nftables v0.3.0 has no type for (osf, xfrm) or
// cannot send as nft does (tproxy without a port register). A rule writes
// the placeholder one of Osf, Xfrm or TProxyNoPort returns, a bitwise
// expression whose mask is rawMagic and whose xor holds the expression's
// name and attributes; the batch replaces the whole element with those
// bytes, attribute by attribute as libnftnl builds them for nft.

var rawMagic = []byte("nfd-raw-expression")

// rawExpr is the placeholder for the expression name with attributes as.
func rawExpr(name string, as []attr) *expr.Bitwise {
	payload := append([]byte(name), 0)
	payload = append(payload, marshalAttrs(as)...)
	// the xor's length is the name's, then the attributes
	x := make([]byte, 2, 2+len(payload))
	binary.NativeEndian.PutUint16(x, uint16(len(name)+1))
	return &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(rawMagic)), Mask: rawMagic,
		Xor: append(x, payload...)}
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Osf is nft_osf loading the fingerprint's name (or "name:version" with
// flags NFT_OSF_F_VERSION) into reg, ttl 0 (exact), 1 (loose) or 2
// (skip), as libnftnl's osf expression builds it for nft: DREG, TTL
// always, FLAGS when not zero (nft_osf_init reads TTL and FLAGS as
// optional).
func Osf(reg uint32, ttl uint8, flags uint32) expr.Any {
	as := []attr{{1, be32(reg)}, {2, []byte{ttl}}} // NFTA_OSF_DREG, NFTA_OSF_TTL
	if flags != 0 {
		as = append(as, attr{3, be32(flags)}) // NFTA_OSF_FLAGS
	}
	return rawExpr("osf", as)
}

// Xfrm is nft_xfrm loading key (NFT_XFRM_KEY_*) of the security path's
// or route's state number spnum, dir 0 in or 1 out (XFRM_POLICY_IN,
// XFRM_POLICY_OUT), into reg: KEY, DIR, SPNUM, DREG as libnftnl's xfrm
// expression builds them for nft.
func Xfrm(reg, key uint32, dir uint8, spnum uint32) expr.Any {
	return rawExpr("xfrm", []attr{
		{2, be32(key)},   // NFTA_XFRM_KEY
		{3, []byte{dir}}, // NFTA_XFRM_DIR
		{4, be32(spnum)}, // NFTA_XFRM_SPNUM
		{1, be32(reg)},   // NFTA_XFRM_DREG
	})
}

// TProxyNoPort is nft_tproxy redirecting to the address in regAddr and
// the packet's own destination port: FAMILY and REG_ADDR without
// REG_PORT (nft_tproxy_init reads it as optional), which google/nftables
// v0.3.0's expr.TProxy always sends.
func TProxyNoPort(family uint8, regAddr uint32) expr.Any {
	return rawExpr("tproxy", []attr{
		{1, be32(uint32(family))}, // NFTA_TPROXY_FAMILY
		{2, be32(regAddr)},        // NFTA_TPROXY_REG_ADDR
	})
}

// fixRawExprs replaces the placeholders of a NEWRULE message.
func fixRawExprs(m *netlink.Message) {
	rewriteRuleExprs(m, rawMagic, rawData)
}

// rawData is the element a placeholder stands for.
func rawData(elem []byte) ([]byte, bool) {
	name, data := exprNameData(elem)
	if name != "bitwise\x00" || !bytes.Contains(data, rawMagic) {
		return nil, false
	}
	var mask, xor []byte
	for _, a := range parseAttrs(data) {
		var v []byte
		for _, d := range parseAttrs(a.data) {
			if d.typ&typeMask == unix.NFTA_DATA_VALUE {
				v = d.data
			}
		}
		switch a.typ & typeMask {
		case unix.NFTA_BITWISE_MASK:
			mask = v
		case unix.NFTA_BITWISE_XOR:
			xor = v
		}
	}
	if !bytes.Equal(mask, rawMagic) || len(xor) < 2 {
		return nil, false
	}
	n := int(binary.NativeEndian.Uint16(xor))
	if 2+n > len(xor) {
		return nil, false
	}
	return marshalAttrs([]attr{
		{unix.NFTA_EXPR_NAME, xor[2 : 2+n]},
		{unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, xor[2+n:]},
	}), true
}
