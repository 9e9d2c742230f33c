package nlbatch

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Stateful objects and object maps, which google/nftables v0.3.0 cannot
// send as nft does: its ct expectation object writes the timeout
// big-endian where the kernel reads host order (nft_ct_expect_obj_init:
// nla_get_u32), its ct timeout object merges the policy into a shared
// defaults map, it has no NFT_SET_OBJECT maps, no NFTA_SET_ELEM_OBJREF
// and no map form of nft_objref. Objects go into the batch as raw
// NEWOBJ/DELOBJ messages (AddObject, DelObject); an object map is a set
// added through AddSet after MarkObjMap, its elements carrying the object
// names as data, and a rule reads it through the expression ObjMapRef
// returns: the batch rewrites the recorded NEWSET, NEWSETELEM and NEWRULE
// messages into what nft sends (libnftnl set.c, set_elem.c, expr/objref.c).

const (
	nftaSetObjType     = 15 // NFTA_SET_OBJ_TYPE
	nftSetObject       = 0x40
	nftaSetElemObjref  = 9 // NFTA_SET_ELEM_OBJREF
	nftaObjrefSetSreg  = 3 // NFTA_OBJREF_SET_SREG
	nftaObjrefSetName  = 4
	nftaObjrefSetID    = 5
	objMapMagic        = 0x7a000000
	nftaSetElemListID  = 4 // NFTA_SET_ELEM_LIST_SET_ID
	nftaSetElemListEls = 3 // NFTA_SET_ELEM_LIST_ELEMENTS
)

func nftMsg(t int) netlink.HeaderType {
	return netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | t)
}

// AddObject adds a stateful object of type typ (NFT_OBJECT_*) to table,
// data being its NFTA_OBJ_DATA attributes, marshalled.
func (b *Batch) AddObject(family byte, table, name string, typ uint32, data []byte, tag any) {
	attrs := []netlink.Attribute{
		{Type: unix.NFTA_OBJ_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_OBJ_NAME, Data: []byte(name + "\x00")},
		{Type: unix.NFTA_OBJ_TYPE, Data: binaryutil.BigEndian.PutUint32(typ)},
		{Type: unix.NLA_F_NESTED | unix.NFTA_OBJ_DATA, Data: data},
	}
	b.raw(unix.NFT_MSG_NEWOBJ, netlink.Request|netlink.Acknowledge|netlink.Create, family, attrs, tag)
}

// DelObject deletes the object of type typ named name from table.
func (b *Batch) DelObject(family byte, table, name string, typ uint32, tag any) {
	attrs := []netlink.Attribute{
		{Type: unix.NFTA_OBJ_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_OBJ_NAME, Data: []byte(name + "\x00")},
		{Type: unix.NFTA_OBJ_TYPE, Data: binaryutil.BigEndian.PutUint32(typ)},
	}
	b.raw(unix.NFT_MSG_DELOBJ, netlink.Request|netlink.Acknowledge, family, attrs, tag)
}

func (b *Batch) raw(typ int, flags netlink.HeaderFlags, family byte, attrs []netlink.Attribute, tag any) {
	b.capture()
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		b.fail(err)
		return
	}
	b.msgs = append(b.msgs, netlink.Message{
		Header: netlink.Header{Type: nftMsg(typ), Flags: flags},
		Data:   append([]byte{family, unix.NFNETLINK_V0, 0, 0}, data...),
	})
	b.tags = append(b.tags, tag)
}

// MarkObjMap makes the set with ID id, added next through AddSet, a map
// to objects of type typ: each element's Val is the object's name.
func (b *Batch) MarkObjMap(id, typ uint32) {
	if b.objMaps == nil {
		b.objMaps = map[uint32]uint32{}
	}
	b.objMaps[id] = typ
}

// ObjMapRef is the expression that assigns the object an object map finds
// for the key in sreg (nft_objref_map_eval); set names the anonymous map
// as added ("__objmap%d") and id is its ID.
func ObjMapRef(typ, sreg uint32, set string, id uint32) *expr.Objref {
	return &expr.Objref{Type: int(objMapMagic | typ), Name: set + "\x00" + strconv.FormatUint(uint64(id), 10) + "\x00" + strconv.FormatUint(uint64(sreg), 10)}
}

// attr is one netlink attribute with its type flags kept.
type attr struct {
	typ  uint16
	data []byte
}

func parseAttrs(b []byte) []attr {
	var out []attr
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < 4 || n > len(b) {
			return out
		}
		out = append(out, attr{binary.NativeEndian.Uint16(b[2:4]), b[4:n]})
		n = (n + 3) &^ 3
		if n > len(b) {
			return out
		}
		b = b[n:]
	}
	return out
}

func marshalAttrs(as []attr) []byte {
	var out []byte
	for _, a := range as {
		n := 4 + len(a.data)
		h := make([]byte, 4)
		binary.NativeEndian.PutUint16(h[0:2], uint16(n))
		binary.NativeEndian.PutUint16(h[2:4], a.typ)
		out = append(append(out, h...), a.data...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out
}

const typeMask = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)

// fixObjMaps rewrites the recorded messages of object maps and of rules
// reading them (see MarkObjMap, ObjMapRef).
func (b *Batch) fixObjMaps(m *netlink.Message) {
	if len(m.Data) < 4 {
		return
	}
	switch m.Header.Type {
	case nftMsg(unix.NFT_MSG_NEWSET):
		if len(b.objMaps) == 0 {
			return
		}
		as := parseAttrs(m.Data[4:])
		var typ uint32
		for _, a := range as {
			if a.typ&typeMask == unix.NFTA_SET_ID && len(a.data) == 4 {
				typ = b.objMaps[binary.BigEndian.Uint32(a.data)]
			}
		}
		if typ == 0 {
			return
		}
		for _, a := range as {
			if a.typ&typeMask == unix.NFTA_SET_FLAGS && len(a.data) == 4 {
				binary.BigEndian.PutUint32(a.data, binary.BigEndian.Uint32(a.data)|nftSetObject)
			}
		}
		as = append(as, attr{nftaSetObjType, binaryutil.BigEndian.PutUint32(typ)})
		m.Data = append(m.Data[:4:4], marshalAttrs(as)...)
	case nftMsg(unix.NFT_MSG_NEWSETELEM):
		if len(b.objMaps) == 0 {
			return
		}
		as := parseAttrs(m.Data[4:])
		obj := false
		for _, a := range as {
			if a.typ&typeMask == nftaSetElemListID && len(a.data) == 4 {
				obj = b.objMaps[binary.BigEndian.Uint32(a.data)] != 0
			}
		}
		if !obj {
			return
		}
		for i, a := range as {
			if a.typ&typeMask != nftaSetElemListEls {
				continue
			}
			els := parseAttrs(a.data)
			for j, el := range els {
				fields := parseAttrs(el.data)
				for k, f := range fields {
					if f.typ&typeMask == unix.NFTA_SET_ELEM_DATA {
						for _, v := range parseAttrs(f.data) {
							if v.typ&typeMask == unix.NFTA_DATA_VALUE {
								fields[k] = attr{nftaSetElemObjref, v.data}
							}
						}
					}
				}
				els[j].data = marshalAttrs(fields)
			}
			as[i].data = marshalAttrs(els)
		}
		m.Data = append(m.Data[:4:4], marshalAttrs(as)...)
	case nftMsg(unix.NFT_MSG_NEWRULE):
		if len(b.objMaps) == 0 {
			return // an object map's rule comes with its map
		}
		rewriteRuleExprs(m, nil, objMapRefData)
	}
}

// objMapRefData returns the expression element an ObjMapRef placeholder
// stands for, as libnftnl's objref expression marshals it.
func objMapRefData(elem []byte) ([]byte, bool) {
	name, data := exprNameData(elem)
	if name != "objref\x00" {
		return nil, false
	}
	var typ uint32
	var ref string
	for _, a := range parseAttrs(data) {
		switch a.typ & typeMask {
		case unix.NFTA_OBJREF_IMM_TYPE:
			if len(a.data) == 4 {
				typ = binary.BigEndian.Uint32(a.data)
			}
		case unix.NFTA_OBJREF_IMM_NAME:
			ref = string(a.data)
		}
	}
	if typ&0xff000000 != objMapMagic {
		return nil, false
	}
	parts := strings.Split(ref, "\x00")
	if len(parts) != 3 {
		return nil, false
	}
	id, _ := strconv.ParseUint(parts[1], 10, 32)
	sreg, _ := strconv.ParseUint(parts[2], 10, 32)
	inner := marshalAttrs([]attr{
		{nftaObjrefSetSreg, binaryutil.BigEndian.PutUint32(uint32(sreg))},
		{nftaObjrefSetName, []byte(parts[0])},
		{nftaObjrefSetID, binaryutil.BigEndian.PutUint32(uint32(id))},
	})
	return marshalAttrs([]attr{
		{unix.NFTA_EXPR_NAME, []byte("objref\x00")},
		{unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, inner},
	}), true
}

// rewriteRuleExprs replaces, in a NEWRULE message, each expression element
// fix returns new bytes for; with magic, only a message holding it is
// looked at. The placeholders of rawexpr.go, shift.go and object maps
// are rewritten so, in the messages a Conn marshalled (record) and in
// those AddRule lays out.
func rewriteRuleExprs(m *netlink.Message, magic []byte, fix func(elem []byte) ([]byte, bool)) {
	if m.Header.Type != nftMsg(unix.NFT_MSG_NEWRULE) || len(m.Data) < 4 || (magic != nil && !bytes.Contains(m.Data, magic)) {
		return
	}
	as := parseAttrs(m.Data[4:])
	changed := false
	for i, a := range as {
		if a.typ&typeMask != unix.NFTA_RULE_EXPRESSIONS {
			continue
		}
		exprs := parseAttrs(a.data)
		for j, e := range exprs {
			if d, ok := fix(e.data); ok {
				exprs[j].data = d
				changed = true
			}
		}
		as[i].data = marshalAttrs(exprs)
	}
	if changed {
		m.Data = append(m.Data[:4:4], marshalAttrs(as)...)
	}
}

// exprNameData is an expression element's name (NUL-terminated, as sent)
// and data attributes.
func exprNameData(elem []byte) (name string, data []byte) {
	for _, a := range parseAttrs(elem) {
		switch a.typ & typeMask {
		case unix.NFTA_EXPR_NAME:
			name = string(a.data)
		case unix.NFTA_EXPR_DATA:
			data = a.data
		}
	}
	return name, data
}
