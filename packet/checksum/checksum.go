// Package checksum computes the Internet checksum (RFC 1071) that IPv4,
// TCP, UDP, ICMP and ICMPv6 headers carry, as gVisor's tcpip/checksum
// does; the packet builders and checkers of nfd and its tests share it.
package checksum

import "encoding/binary"

// Sum adds b to the partial sum sum, 16 bits at a time in network order
// (an odd last byte is padded with zero).
func Sum(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// Fold folds a partial sum into 16 bits with end-around carry.
func Fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// Checksum is what goes into a checksum field (zero in b while summing):
// the complement of b's folded sum, starting from sum (a pseudo-header's).
func Checksum(sum uint32, b []byte) uint16 { return ^Fold(Sum(sum, b)) }

// Pseudo is the partial sum of the pseudo-header of a transport segment
// of n bytes (RFC 793, RFC 768; RFC 8200 section 8.1 for IPv6, whose
// 32-bit length sums the same).
func Pseudo(src, dst []byte, proto uint8, n int) uint32 {
	return Sum(Sum(0, src), dst) + uint32(proto) + uint32(n>>16) + uint32(n&0xffff)
}
