package kernel

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// The stateful objects only the kernel keeps (ct helper, ct timeout, ct
// expectation, synproxy), marshalled as libnftnl does for nft (obj/
// ct_helper.c, ct_timeout.c, ct_expect.c, synproxy.c) and added before
// the rules that name them.

// objectData is the NFTA_OBJ_DATA of a kernel object.
func objectData(o *parser.Object) []byte {
	var attrs []netlink.Attribute
	add := func(typ uint16, data []byte) { attrs = append(attrs, netlink.Attribute{Type: typ, Data: data}) }
	switch {
	case o.Helper != nil:
		h := o.Helper
		add(1, []byte(h.Type+"\x00")) // NFTA_CT_HELPER_NAME
		if h.L3 != 0 {
			add(2, binaryutil.BigEndian.PutUint16(h.L3)) // NFTA_CT_HELPER_L3PROTO
		}
		add(3, []byte{h.L4}) // NFTA_CT_HELPER_L4PROTO
	case o.Timeout != nil:
		tm := o.Timeout
		if tm.L3 != 0 {
			add(1, binaryutil.BigEndian.PutUint16(tm.L3)) // NFTA_CT_TIMEOUT_L3PROTO
		}
		add(2, []byte{tm.L4}) // NFTA_CT_TIMEOUT_L4PROTO
		// Every state of the protocol, nft's default where the policy
		// leaves one out (nftables src/ct.c, libnftnl ct_timeout.c).
		states := parser.CtTimeoutDefaults(tm.L4)
		vals := make([]uint32, len(states))
		for i, s := range states {
			vals[s.Index] = states[i].Secs
		}
		for _, s := range tm.Policy {
			vals[s.Index] = s.Secs
		}
		var pol []netlink.Attribute
		for i, v := range vals {
			pol = append(pol, netlink.Attribute{Type: uint16(i + 1), Data: binaryutil.BigEndian.PutUint32(v)})
		}
		b, _ := netlink.MarshalAttributes(pol) // a dozen u32: cannot overflow
		add(unix.NLA_F_NESTED|3, b)            // NFTA_CT_TIMEOUT_DATA
	case o.Expect != nil:
		e := o.Expect
		if e.L3 != 0 {
			add(1, binaryutil.BigEndian.PutUint16(e.L3)) // NFTA_CT_EXPECT_L3PROTO
		}
		add(2, []byte{e.L4})                                   // NFTA_CT_EXPECT_L4PROTO
		add(3, binaryutil.BigEndian.PutUint16(e.DPort))        // NFTA_CT_EXPECT_DPORT
		add(4, binaryutil.NativeEndian.PutUint32(e.TimeoutMs)) // NFTA_CT_EXPECT_TIMEOUT: host order (nla_get_u32)
		add(5, []byte{e.Size})                                 // NFTA_CT_EXPECT_SIZE
	case o.SynProxy != nil:
		s := o.SynProxy
		// NF_SYNPROXY_OPT_MSS, _WSCALE, _SACK_PERM, _TIMESTAMP
		flags := uint32(0x1 | 0x2)
		if s.SackPerm {
			flags |= 0x4
		}
		if s.Timestamp {
			flags |= 0x8
		}
		add(1, binaryutil.BigEndian.PutUint16(s.MSS)) // NFTA_SYNPROXY_MSS
		add(2, []byte{s.Wscale})                      // NFTA_SYNPROXY_WSCALE
		add(3, binaryutil.BigEndian.PutUint32(flags)) // NFTA_SYNPROXY_FLAGS
	}
	b, _ := netlink.MarshalAttributes(attrs) // small attributes: cannot overflow
	return b
}

// programObjects adds tp's kernel objects to the batch. Each takes one
// of the table's handles (nf_tables_newobj: nf_tables_alloc_handle).
func programObjects(b *nlbatch.Batch, tp *planner.TablePlan, h *handleGen) {
	for _, o := range tp.Objects {
		b.AddObject(byte(tp.Kernel.Family), tp.Kernel.Name, o.Name, parser.KernelObjType(o.Kind), objectData(o),
			batchTag{tp: tp, what: o.Kind + " " + o.Name})
		h.take()
	}
}

// delKernelObjects deletes the objects of an existing nfd table, after
// its rules were flushed in the same batch, so the plan's objects are
// added afresh.
func delKernelObjects(c *nftables.Conn, b *nlbatch.Batch, t *nftables.Table) error {
	objs, err := c.GetNamedObjects(t)
	if err != nil {
		return fmt.Errorf("listing objects: %w", err)
	}
	for _, o := range objs {
		no, ok := o.(*nftables.NamedObj)
		if !ok {
			continue
		}
		switch no.Type {
		case nftables.ObjTypeCtHelper, nftables.ObjTypeCtTimeout, nftables.ObjTypeCtExpect, nftables.ObjTypeSynProxy:
			b.DelObject(byte(t.Family), t.Name, no.Name, uint32(no.Type), batchTag{what: "old object"})
		}
	}
	return nil
}
