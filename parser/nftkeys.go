package parser

// Kernel expression keys that golang.org/x/sys/unix does not define
// (include/uapi/linux/netfilter/nf_tables.h).
const (
	xNFT_META_SECPATH   = 25
	xNFT_META_IIFKIND   = 26
	xNFT_META_OIFKIND   = 27
	xNFT_META_TIME_NS   = 30
	xNFT_META_TIME_DAY  = 31
	xNFT_META_TIME_HOUR = 32
	xNFT_META_SDIF      = 33
	xNFT_META_SDIFNAME  = 34

	xNFT_SOCKET_TRANSPARENT = 0
	xNFT_SOCKET_MARK        = 1
	xNFT_SOCKET_WILDCARD    = 2
	xNFT_SOCKET_CGROUPV2    = 3

	xNFT_RT_CLASSID  = 0
	xNFT_RT_NEXTHOP4 = 1
	xNFT_RT_NEXTHOP6 = 2
	xNFT_RT_TCPMSS   = 3
	xNFT_RT_XFRM     = 4

	xNFT_XFRM_KEY_DADDR_IP4 = 1
	xNFT_XFRM_KEY_DADDR_IP6 = 2
	xNFT_XFRM_KEY_SADDR_IP4 = 3
	xNFT_XFRM_KEY_SADDR_IP6 = 4
	xNFT_XFRM_KEY_REQID     = 5
	xNFT_XFRM_KEY_SPI       = 6

	xNFT_CT_SRC_IP  = 19
	xNFT_CT_DST_IP  = 20
	xNFT_CT_SRC_IP6 = 21
	xNFT_CT_DST_IP6 = 22
	xNFT_CT_ID      = 23
)
