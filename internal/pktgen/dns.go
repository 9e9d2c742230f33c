package pktgen

import "encoding/binary"

// DNSRR is one answer record of DNSResponse: Addr for A (4 bytes) and
// AAAA (16 bytes), Target for CNAME.
type DNSRR struct {
	Name   string
	Type   uint16
	TTL    uint32
	Addr   []byte
	Target string
}

// DNSName appends name in wire form, uncompressed.
func DNSName(b []byte, name string) []byte {
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			if i > start {
				b = append(b, byte(i-start))
				b = append(b, name[start:i]...)
			}
			start = i + 1
		}
	}
	return append(b, 0)
}

// DNSResponse builds a response to a query of qname/qtype with id, its
// answer section rrs (names uncompressed).
func DNSResponse(id uint16, qname string, qtype uint16, rrs []DNSRR) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x81, 0x80, 0, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rrs)))
	b = append(b, 0, 0, 0, 0)
	b = DNSName(b, qname)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = append(b, 0, 1)
	for _, r := range rrs {
		b = DNSName(b, r.Name)
		b = binary.BigEndian.AppendUint16(b, r.Type)
		b = append(b, 0, 1)
		b = binary.BigEndian.AppendUint32(b, r.TTL)
		data := r.Addr
		if r.Type == 5 {
			data = DNSName(nil, r.Target)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		b = append(b, data...)
	}
	return b
}
