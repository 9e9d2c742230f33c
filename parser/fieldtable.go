package parser

import "golang.org/x/sys/unix"

// The field table: every match field of nft's ip, ip6 and inet families,
// one entry each, as nft's proto.c templates (payload: header, bit offset,
// bit length, type) and the kernel's expression keys describe them.
// Offsets and lengths are in bits from the start of the header.

// Why a field is kernel-only: what NFQUEUE does not deliver.
const (
	koLinkLayer = "NFQUEUE delivers packets from the network header, without the link-layer header"
	koSkb       = "NFQUEUE does not deliver this packet property"
	koRoute     = "it is a routing lookup only the kernel can make"
	koSocket    = "it is a socket lookup only the kernel can make"
	koCt        = "nfd's connection table does not keep it"
	koIface     = "it is an interface property NFQUEUE does not deliver"
	koOsf       = "passive OS fingerprinting runs only in the kernel"
	koXfrm      = "IPsec state is known only to the kernel"
)

func pl(name string, p Proto, base Base, off, bits uint32, t *Type, flowConst bool) FieldInfo {
	fi := FieldInfo{Name: name, Type: t, Proto: p, Base: base, Off: off, Len: bits, FlowConst: flowConst}
	if base == BaseLL {
		fi.KernelOnly = koLinkLayer
	}
	return fi
}

func refuse(fi FieldInfo, why string) FieldInfo { fi.Refuse = why; return fi }

// typeDep ties an ICMP field to the message types it exists in, as nft's
// proto_icmp/proto_icmp6 templates do (checked with nft --debug=netlink).
func typeDep(fi FieldInfo, types ...byte) FieldInfo { fi.TypeDep = string(types); return fi }

// nftAborts marks a next-header field nft 1.0.6 aborts on when it is
// compared for equality with a protocol it knows (an assertion in
// payload_expr_pctx_update): nfd refuses those forms too.
func nftAborts(fi FieldInfo) FieldInfo { fi.NftAbortsEqProto = true; return fi }

// Hook sets for kernel validation.
const (
	hooksIn  = 1<<HookPrerouting | 1<<HookInput | 1<<HookForward
	hooksOut = 1<<HookForward | 1<<HookOutput | 1<<HookPostrouting
)

func metaF(name string, key uint32, t *Type, host bool, ko string) FieldInfo {
	return FieldInfo{Name: name, Type: t, Base: BaseMeta, Key: key, Host: host, KernelOnly: ko}
}

func ctF(name string, key uint32, t *Type, host bool, ko string) FieldInfo {
	return FieldInfo{Name: name, Type: t, Base: BaseCt, Key: key, Host: host, KernelOnly: ko}
}

var typeCompFlags = &Type{Name: "bitmask", Size: 1}

// namedFields are the fields the code refers to by constant, in order.
var namedFields = [numNamedFields]FieldInfo{
	FieldIPSaddr:     pl("ip saddr", ProtoIP, BaseNH, 96, 32, TypeIPv4, true),
	FieldIPDaddr:     pl("ip daddr", ProtoIP, BaseNH, 128, 32, TypeIPv4, true),
	FieldIPProtocol:  pl("ip protocol", ProtoIP, BaseNH, 72, 8, TypeProto, true),
	FieldIPTTL:       pl("ip ttl", ProtoIP, BaseNH, 64, 8, TypeU8, false),
	FieldIPLength:    pl("ip length", ProtoIP, BaseNH, 16, 16, TypeU16, false),
	FieldIP6Saddr:    pl("ip6 saddr", ProtoIP6, BaseNH, 64, 128, TypeIPv6, true),
	FieldIP6Daddr:    pl("ip6 daddr", ProtoIP6, BaseNH, 192, 128, TypeIPv6, true),
	FieldIP6Nexthdr:  pl("ip6 nexthdr", ProtoIP6, BaseNH, 48, 8, TypeProto, true),
	FieldIP6Hoplimit: pl("ip6 hoplimit", ProtoIP6, BaseNH, 56, 8, TypeU8, false),
	FieldTCPSport:    pl("tcp sport", ProtoTCP, BaseTH, 0, 16, TypeService, true),
	FieldTCPDport:    pl("tcp dport", ProtoTCP, BaseTH, 16, 16, TypeService, true),
	FieldTCPFlags:    pl("tcp flags", ProtoTCP, BaseTH, 104, 8, TypeTCPFlag, false),
	FieldUDPSport:    pl("udp sport", ProtoUDP, BaseTH, 0, 16, TypeService, true),
	FieldUDPDport:    pl("udp dport", ProtoUDP, BaseTH, 16, 16, TypeService, true),
	FieldTHSport:     pl("th sport", ProtoTH, BaseTH, 0, 16, TypeService, true),
	FieldTHDport:     pl("th dport", ProtoTH, BaseTH, 16, 16, TypeService, true),
	FieldICMPType:    pl("icmp type", ProtoICMP, BaseTH, 0, 8, TypeICMPType, false),
	FieldICMPCode:    pl("icmp code", ProtoICMP, BaseTH, 8, 8, TypeICMPCode, false),
	FieldICMP6Type:   pl("icmpv6 type", ProtoICMP6, BaseTH, 0, 8, TypeICMP6Type, false),
	FieldICMP6Code:   pl("icmpv6 code", ProtoICMP6, BaseTH, 8, 8, TypeICMP6Code, false),
	FieldMetaL4proto: {Name: "meta l4proto", Type: TypeProto, Base: BaseMeta, Key: unix.NFT_META_L4PROTO, FlowConst: true},
	FieldMetaNfproto: {Name: "meta nfproto", Type: TypeNfProto, Base: BaseMeta, Key: unix.NFT_META_NFPROTO, FlowConst: true},
	FieldMetaIif:     {Name: "iif", Type: TypeIfindex, Base: BaseMeta, Key: unix.NFT_META_IIF, Host: true, FlowConst: true},
	FieldMetaOif:     {Name: "oif", Type: TypeIfindex, Base: BaseMeta, Key: unix.NFT_META_OIF, Host: true, FlowConst: true},
	FieldMetaIifname: {Name: "iifname", Type: TypeIfname, Base: BaseMeta, Key: unix.NFT_META_IIFNAME, FlowConst: true},
	FieldMetaOifname: {Name: "oifname", Type: TypeIfname, Base: BaseMeta, Key: unix.NFT_META_OIFNAME, FlowConst: true},
	FieldMetaMark:    {Name: "meta mark", Type: TypeMark, Base: BaseMeta, Key: unix.NFT_META_MARK, Host: true},
	FieldMetaLength:  {Name: "meta length", Type: TypeU32, Base: BaseMeta, Key: unix.NFT_META_LEN, Host: true},
	// skb->pkt_type is set by the link layer (eth_type_trans); NFQUEUE
	// does not deliver it, and guessing it from the destination address
	// is wrong (an IGMP query to 224.0.0.1 sent to the host's own MAC
	// address is `host`).
	FieldMetaPkttype: {Name: "meta pkttype", Type: TypePktType, Base: BaseMeta, Key: unix.NFT_META_PKTTYPE, KernelOnly: koSkb},
	FieldCtState:     {Name: "ct state", Type: TypeCtState, Base: BaseCt, Key: unix.NFT_CT_STATE, Host: true},
	FieldCtStatus:    {Name: "ct status", Type: TypeCtStatus, Base: BaseCt, Key: unix.NFT_CT_STATUS, Host: true},
	FieldCtMark:      {Name: "ct mark", Type: TypeMark, Base: BaseCt, Key: unix.NFT_CT_MARK, Host: true},
	FieldCtDirection: {Name: "ct direction", Type: TypeCtDir, Base: BaseCt, Key: unix.NFT_CT_DIRECTION},
	FieldTLSSNI:      {Name: "tls sni", Type: TypeHostname, Proto: ProtoTCP, Base: BaseL7, Key: 0, FlowConst: true, Userspace: true},
	FieldHTTPHost:    {Name: "http host", Type: TypeHostname, Proto: ProtoTCP, Base: BaseL7, Key: 1, FlowConst: true, Userspace: true},
	FieldDNSQname:    {Name: "dns qname", Type: TypeHostname, Proto: ProtoUDP, Base: BaseL7, Key: 2, FlowConst: true, Userspace: true},
}

var (
	nh = BaseNH
	th = BaseTH
	ll = BaseLL
)

// moreFields are the rest of the table: found by name only.
var moreFields = []FieldInfo{
	// IPv4 header (RFC 791), nft's proto_ip.
	pl("ip version", ProtoIP, nh, 0, 4, intBits(4), true),
	pl("ip hdrlength", ProtoIP, nh, 4, 4, intBits(4), false),
	pl("ip dscp", ProtoIP, nh, 8, 6, TypeDSCP, false),
	pl("ip ecn", ProtoIP, nh, 14, 2, TypeECN, false),
	pl("ip id", ProtoIP, nh, 32, 16, TypeU16, false),
	pl("ip frag-off", ProtoIP, nh, 48, 16, TypeU16, false),
	pl("ip checksum", ProtoIP, nh, 80, 16, TypeU16, false),
	// IPv6 header (RFC 8200), proto_ip6.
	pl("ip6 version", ProtoIP6, nh, 0, 4, intBits(4), true),
	pl("ip6 dscp", ProtoIP6, nh, 4, 6, TypeDSCP, false),
	pl("ip6 ecn", ProtoIP6, nh, 10, 2, TypeECN, false),
	pl("ip6 flowlabel", ProtoIP6, nh, 12, 20, intBits(20), false),
	pl("ip6 length", ProtoIP6, nh, 32, 16, TypeU16, false),
	// TCP (RFC 9293).
	pl("tcp sequence", ProtoTCP, th, 32, 32, TypeU32, false),
	pl("tcp ackseq", ProtoTCP, th, 64, 32, TypeU32, false),
	pl("tcp doff", ProtoTCP, th, 96, 4, intBits(4), false),
	pl("tcp reserved", ProtoTCP, th, 100, 4, intBits(4), false),
	pl("tcp window", ProtoTCP, th, 112, 16, TypeU16, false),
	pl("tcp checksum", ProtoTCP, th, 128, 16, TypeU16, false),
	pl("tcp urgptr", ProtoTCP, th, 144, 16, TypeU16, false),
	// UDP, UDP-Lite.
	pl("udp length", ProtoUDP, th, 32, 16, TypeU16, false),
	pl("udp checksum", ProtoUDP, th, 48, 16, TypeU16, false),
	pl("udplite sport", ProtoUDPLite, th, 0, 16, TypeService, true),
	pl("udplite dport", ProtoUDPLite, th, 16, 16, TypeService, true),
	pl("udplite csumcov", ProtoUDPLite, th, 32, 16, TypeU16, false),
	pl("udplite checksum", ProtoUDPLite, th, 48, 16, TypeU16, false),
	// ICMP, ICMPv6, IGMP.
	// Fields valid only for some ICMP types carry that dependency
	// (nft's proto.c ICMPHDR_FIELD_DEP).
	pl("icmp checksum", ProtoICMP, th, 16, 16, TypeU16, false),
	typeDep(pl("icmp id", ProtoICMP, th, 32, 16, TypeU16, false), 0, 8),
	typeDep(pl("icmp sequence", ProtoICMP, th, 48, 16, TypeU16, false), 0, 8),
	typeDep(pl("icmp gateway", ProtoICMP, th, 32, 32, TypeU32, false), 5),
	typeDep(pl("icmp mtu", ProtoICMP, th, 48, 16, TypeU16, false), 3),
	pl("icmpv6 checksum", ProtoICMP6, th, 16, 16, TypeU16, false),
	typeDep(pl("icmpv6 id", ProtoICMP6, th, 32, 16, TypeU16, false), 128, 129),
	typeDep(pl("icmpv6 sequence", ProtoICMP6, th, 48, 16, TypeU16, false), 128, 129),
	typeDep(pl("icmpv6 max-delay", ProtoICMP6, th, 32, 16, TypeU16, false), 130),
	typeDep(pl("icmpv6 mtu", ProtoICMP6, th, 32, 32, TypeU32, false), 2),
	// nft 1.0.6 reads `icmpv6 param-problem` (and lists it as
	// "parameter-problem", which it cannot read back).
	typeDep(pl("icmpv6 param-problem", ProtoICMP6, th, 32, 32, TypeU32, false), 4),
	pl("igmp type", ProtoIGMP, th, 0, 8, TypeIGMPType, false),
	pl("igmp mrt", ProtoIGMP, th, 8, 8, TypeU8, false),
	pl("igmp checksum", ProtoIGMP, th, 16, 16, TypeU16, false),
	pl("igmp group", ProtoIGMP, th, 32, 32, TypeU32, false),
	// SCTP, DCCP.
	pl("sctp sport", ProtoSCTP, th, 0, 16, TypeService, true),
	pl("sctp dport", ProtoSCTP, th, 16, 16, TypeService, true),
	pl("sctp vtag", ProtoSCTP, th, 32, 32, TypeU32, false),
	pl("sctp checksum", ProtoSCTP, th, 64, 32, TypeU32, false),
	pl("dccp sport", ProtoDCCP, th, 0, 16, TypeService, true),
	pl("dccp dport", ProtoDCCP, th, 16, 16, TypeService, true),
	pl("dccp type", ProtoDCCP, th, 67, 4, TypeDCCPType, false),
	// IPsec AH and ESP, IPComp.
	nftAborts(pl("ah nexthdr", ProtoAH, th, 0, 8, TypeProto, false)),
	pl("ah hdrlength", ProtoAH, th, 8, 8, TypeU8, false),
	pl("ah reserved", ProtoAH, th, 16, 16, TypeU16, false),
	pl("ah spi", ProtoAH, th, 32, 32, TypeU32, false),
	pl("ah sequence", ProtoAH, th, 64, 32, TypeU32, false),
	pl("esp spi", ProtoESP, th, 0, 32, TypeU32, false),
	pl("esp sequence", ProtoESP, th, 32, 32, TypeU32, false),
	nftAborts(pl("comp nexthdr", ProtoComp, th, 0, 8, TypeProto, false)),
	// nft's plain bitmask type: a value without an operator is compared
	// with ==, not as "any of these bits" (only types derived from bitmask,
	// tcp_flag and ct_state, are).
	pl("comp flags", ProtoComp, th, 8, 8, typeCompFlags, false),
	pl("comp cpi", ProtoComp, th, 16, 16, TypeU16, false),
	// Ethernet and 802.1Q (kernel-only: NFQUEUE has no link layer).
	pl("ether daddr", ProtoEther, ll, 0, 48, TypeEther, false),
	pl("ether saddr", ProtoEther, ll, 48, 48, TypeEther, false),
	pl("ether type", ProtoEther, ll, 96, 16, TypeEtherType, false),
	pl("vlan pcp", ProtoVLAN, ll, 112, 3, intBits(3), false),
	pl("vlan dei", ProtoVLAN, ll, 115, 1, intBits(1), false),
	pl("vlan cfi", ProtoVLAN, ll, 115, 1, intBits(1), false),
	pl("vlan id", ProtoVLAN, ll, 116, 12, intBits(12), false),
	pl("vlan type", ProtoVLAN, ll, 128, 16, TypeEtherType, false),

	// meta (nft_meta_get_eval). Host-order integers.
	metaF("meta protocol", unix.NFT_META_PROTOCOL, TypeEtherType, false, ""),
	metaF("meta priority", unix.NFT_META_PRIORITY, TypeClassid, true, koSkb),
	metaF("meta iiftype", unix.NFT_META_IIFTYPE, TypeIfType, true, koIface),
	metaF("meta oiftype", unix.NFT_META_OIFTYPE, TypeIfType, true, koIface),
	metaF("meta skuid", unix.NFT_META_SKUID, TypeUID, true, koSocket),
	metaF("meta skgid", unix.NFT_META_SKGID, TypeGID, true, koSocket),
	metaF("meta nftrace", unix.NFT_META_NFTRACE, intBits(1), false, koSkb),
	metaF("meta rtclassid", unix.NFT_META_RTCLASSID, TypeRealm, true, koRoute),
	{Name: "meta ibrname", Type: TypeIfname, Base: BaseMeta, Key: unix.NFT_META_BRI_IIFNAME, KernelOnly: koIface, Refuse: "`meta ibrname` works only in bridge tables"},
	{Name: "meta obrname", Type: TypeIfname, Base: BaseMeta, Key: unix.NFT_META_BRI_OIFNAME, KernelOnly: koIface, Refuse: "`meta obrname` works only in bridge tables"},
	metaF("meta cpu", unix.NFT_META_CPU, TypeU32, true, koSkb),
	metaF("meta iifgroup", unix.NFT_META_IIFGROUP, TypeDevgroup, true, koIface),
	metaF("meta oifgroup", unix.NFT_META_OIFGROUP, TypeDevgroup, true, koIface),
	metaF("meta cgroup", unix.NFT_META_CGROUP, TypeU32, true, koSocket),
	metaF("meta random", unix.NFT_META_PRANDOM, TypeU32, false, koSkb),
	metaF("meta secpath", xNFT_META_SECPATH, TypeBool, false, koXfrm),
	metaF("meta iifkind", xNFT_META_IIFKIND, TypeIfname, false, koIface),
	metaF("meta oifkind", xNFT_META_OIFKIND, TypeIfname, false, koIface),
	metaF("meta time", xNFT_META_TIME_NS, TypeTime, true, koSkb),
	metaF("meta day", xNFT_META_TIME_DAY, TypeDay, false, koSkb),
	metaF("meta hour", xNFT_META_TIME_HOUR, TypeHour, true, koSkb),
	metaF("meta sdif", xNFT_META_SDIF, TypeIfindexN, true, koIface),
	metaF("meta sdifname", xNFT_META_SDIFNAME, TypeIfname, false, koIface),

	// ct (nft_ct_get_eval), without a direction.
	ctF("ct expiration", unix.NFT_CT_EXPIRATION, TypeCtTime, true, koCt),
	ctF("ct helper", unix.NFT_CT_HELPER, TypeString16, false, koCt),
	ctF("ct l3proto", unix.NFT_CT_L3PROTOCOL, TypeNfProto, false, koCt),
	ctF("ct protocol", unix.NFT_CT_PROTOCOL, TypeProto, false, koCt),
	ctF("ct bytes", unix.NFT_CT_BYTES, TypeU64, true, koCt),
	ctF("ct packets", unix.NFT_CT_PKTS, TypeU64, true, koCt),
	ctF("ct avgpkt", unix.NFT_CT_AVGPKT, TypeU64, true, koCt),
	ctF("ct zone", unix.NFT_CT_ZONE, TypeU16, true, koCt),
	ctF("ct label", unix.NFT_CT_LABELS, TypeCtLabel, true, koCt),
	ctF("ct id", xNFT_CT_ID, TypeU32, false, koCt),

	// socket (nft_socket): kernel-only.
	// transparent and wildcard are 0 or 1 (nft: "exceeds valid range 0-1"),
	// in 8 bits.
	{Name: "socket transparent", Type: typeU8Bool, Base: BaseSocket, Key: xNFT_SOCKET_TRANSPARENT, KernelOnly: koSocket},
	{Name: "socket mark", Type: TypeMark, Base: BaseSocket, Key: xNFT_SOCKET_MARK, Host: true, KernelOnly: koSocket},
	{Name: "socket wildcard", Type: typeU8Bool, Base: BaseSocket, Key: xNFT_SOCKET_WILDCARD, KernelOnly: koSocket},

	// rt (nft_rt).
	{Name: "rt classid", Type: TypeRealm, Base: BaseRt, Key: xNFT_RT_CLASSID, Host: true, KernelOnly: koRoute},
	{Name: "rt mtu", Type: TypeU16, Base: BaseRt, Key: xNFT_RT_TCPMSS, Host: true, KernelOnly: koRoute, Hooks: hooksOut}, // nft_rt_validate()
	{Name: "rt ip nexthop", Type: TypeIPv4, Proto: ProtoIP, Base: BaseRt, Key: xNFT_RT_NEXTHOP4, KernelOnly: koRoute},
	{Name: "rt ip6 nexthop", Type: TypeIPv6, Proto: ProtoIP6, Base: BaseRt, Key: xNFT_RT_NEXTHOP6, KernelOnly: koRoute},
	{Name: "rt ipsec", Type: TypeBool, Base: BaseRt, Key: xNFT_RT_XFRM, KernelOnly: koRoute},
}

func init() {
	for f := Field(1); f < numNamedFields; f++ {
		fieldTab[f] = namedFields[f]
		fieldIndex[namedFields[f]] = f
		registerNamed(f)
	}
	for _, fi := range moreFields {
		registerNamed(mustIntern(fi))
	}
	// One-word selectors, as nft's grammar has them (meta_key_unqualified).
	for _, w := range []string{"iif", "oif", "iifname", "oifname", "mark", "l4proto"} {
		if f := byName[w]; f != 0 {
			shorthands[w] = f
		} else {
			shorthands[w] = byName["meta "+w]
		}
	}
	for _, w := range []string{"iiftype", "oiftype", "skuid", "skgid", "nftrace", "rtclassid", "ibrname", "obrname",
		"pkttype", "cpu", "iifgroup", "oifgroup", "cgroup", "random", "ipsec", "iifkind", "oifkind"} {
		k := w
		if w == "ipsec" {
			k = "secpath"
		}
		shorthands[w] = byName["meta "+k]
	}
	// `meta iif`, `meta oifname`, ... print as the one-word forms.
	for _, w := range []string{"iif", "oif", "iifname", "oifname"} {
		selectors["meta"][w] = byName[w]
	}
	selectors["meta"]["ipsec"] = byName["meta secpath"]
	sealStaticFields()
}

// typeU8Bool is an 8-bit integer nft takes only 0 or 1 for.
var typeU8Bool = &Type{Name: "integer", Size: 1, Max: 1}
