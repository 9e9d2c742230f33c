// Package packet decodes IPv4 and IPv6 packets, as NFQUEUE hands them over
// (starting at the network header), into a flat struct without allocating.
//
// Header views follow gVisor's tcpip/header: a view is a byte slice with
// named offsets, valid only after its length was checked once.
package packet

import "encoding/binary"

// IP protocol numbers used here.
const (
	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	ProtoGRE     = 47
	ProtoESP     = 50
	ProtoAH      = 51
	ProtoICMPv6  = 58
	ProtoSCTP    = 132
	ProtoUDPLite = 136
)

// IPv6 extension headers walked to find the transport header, as
// ipv6_find_hdr() in net/ipv6/exthdrs_core.c does.
const (
	ext6HopByHop = 0
	ext6Routing  = 43
	ext6Fragment = 44
	ext6None     = 59
	ext6DestOpts = 60
)

// IPv4 is a view of an IPv4 header.
type IPv4 []byte

const (
	ipv4VersIHL   = 0
	ipv4TotalLen  = 2
	ipv4FlagsFrag = 6
	ipv4TTL       = 8
	ipv4Protocol  = 9
	// IPv4ChecksumOffset is where the header checksum is.
	IPv4ChecksumOffset = 10
	ipv4Src            = 12
	ipv4Dst            = 16
	// IPv4MinSize is the size of a header without options.
	IPv4MinSize = 20
)

func (b IPv4) IHL() int            { return int(b[ipv4VersIHL]&0xf) * 4 }
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLen:]) }
func (b IPv4) FragOffset() uint16  { return binary.BigEndian.Uint16(b[ipv4FlagsFrag:]) & 0x1fff }
func (b IPv4) MoreFragments() bool { return b[ipv4FlagsFrag]&0x20 != 0 }
func (b IPv4) TTL() uint8          { return b[ipv4TTL] }
func (b IPv4) Protocol() uint8     { return b[ipv4Protocol] }
func (b IPv4) Src() []byte         { return b[ipv4Src : ipv4Src+4] }
func (b IPv4) Dst() []byte         { return b[ipv4Dst : ipv4Dst+4] }

// IPv6 is a view of the fixed IPv6 header.
type IPv6 []byte

const (
	ipv6PayloadLen = 4
	ipv6NextHdr    = 6
	ipv6HopLimit   = 7
	ipv6Src        = 8
	ipv6Dst        = 24
	// IPv6Size is the size of the fixed header.
	IPv6Size = 40
)

func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ipv6PayloadLen:]) }
func (b IPv6) NextHeader() uint8     { return b[ipv6NextHdr] }
func (b IPv6) HopLimit() uint8       { return b[ipv6HopLimit] }
func (b IPv6) Src() []byte           { return b[ipv6Src : ipv6Src+16] }
func (b IPv6) Dst() []byte           { return b[ipv6Dst : ipv6Dst+16] }

// TCP is a view of a TCP header.
type TCP []byte

const (
	tcpSrcPort = 0
	tcpDstPort = 2
	tcpSeq     = 4
	tcpAck     = 8
	tcpDataOff = 12
	tcpFlags   = 13
	tcpWindow  = 14
	// TCPChecksumOffset is where the checksum is.
	TCPChecksumOffset = 16
	// TCPMinSize is the size of a header without options.
	TCPMinSize = 20
)

// TCP flags as in the header's 13th byte.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
	TCPEce = 0x40
	TCPCwr = 0x80
)

func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }
func (b TCP) Seq() uint32     { return binary.BigEndian.Uint32(b[tcpSeq:]) }
func (b TCP) AckNum() uint32  { return binary.BigEndian.Uint32(b[tcpAck:]) }
func (b TCP) DataOffset() int { return int(b[tcpDataOff]>>4) * 4 }
func (b TCP) Flags() uint8    { return b[tcpFlags] }

// UDP is a view of a UDP header.
type UDP []byte

const (
	// UDPSize is the UDP header size.
	UDPSize = 8
	// UDPChecksumOffset is where the checksum is.
	UDPChecksumOffset = 6
)

func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:]) }
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:]) }

// ICMP is a view of an ICMP or ICMPv6 header (same layout for what we read).
type ICMP []byte

const (
	icmpType = 0
	icmpCode = 1
	// ICMPChecksumOffset is where the checksum is.
	ICMPChecksumOffset = 2
	// ICMPMinSize covers type, code, checksum and the 4-byte rest of header.
	ICMPMinSize = 8
)

func (b ICMP) Type() uint8 { return b[icmpType] }
func (b ICMP) Code() uint8 { return b[icmpCode] }
func (b ICMP) ID() uint16  { return binary.BigEndian.Uint16(b[4:]) }
