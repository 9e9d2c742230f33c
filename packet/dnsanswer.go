package packet

import (
	"encoding/binary"
	"errors"
)

// DNS record types nfd reads from answers (RFC 1035 3.2.2, RFC 3596).
const (
	DNSTypeA     = 1
	DNSTypeCNAME = 5
	DNSTypeAAAA  = 28
)

// Bounds of an answer nfd reads. An answer beyond them is refused whole:
// a resolver's real answers stay far below (a CNAME chain of a few links,
// a few dozen addresses).
const (
	// MaxDNSRecords is the most answer records read from one message.
	MaxDNSRecords = 64
	// maxDNSChain is the most CNAME links followed from the question.
	maxDNSChain = 16
)

// Errors of ParseDNSAnswer, each a reason an answer is skipped.
var (
	ErrDNSShort    = errors.New("dns: truncated message")
	ErrDNSNotReply = errors.New("dns: not a standard response")
	ErrDNSName     = errors.New("dns: bad name (pointer loop, bad label or too long)")
	ErrDNSCounts   = errors.New("dns: too many questions or records")
)

// DNSRecord is one answer record: Name and Data are offsets of names in
// the message (read them with DNSAnswer.Name); Addr holds an A record's 4
// or an AAAA record's 16 bytes.
type DNSRecord struct {
	Type    uint16
	TTL     uint32
	nameOff int
	dataOff int // CNAME target name
	Addr    [16]byte
	AddrLen uint8
}

// DNSAnswer is a parsed DNS response. It is meant to be reused: parsing
// into it allocates nothing.
type DNSAnswer struct {
	ID    uint16
	RCode uint8
	TC    bool // truncated (the client retries over TCP)
	// QType, QClass of the (single) question; qnameOff its name.
	QType, QClass uint16
	qnameOff      int
	Records       []DNSRecord // the answer section's A, AAAA and CNAME records
	recs          [MaxDNSRecords]DNSRecord
	msg           []byte
	names         [3][MaxNameLen + 2]byte // Resolve's scratch
}

// ParseDNSAnswer reads a DNS response message (the UDP payload, or a TCP
// payload after its 2-byte length). It keeps a reference to msg until the
// next parse. Messages with other than one question, more than
// MaxDNSRecords answer records, bad names (compression loops, forward
// chains longer than a name can be) or that end early are refused.
func ParseDNSAnswer(msg []byte, a *DNSAnswer) error {
	a.Records = a.recs[:0]
	a.msg = msg
	if len(msg) < 12 {
		return ErrDNSShort
	}
	a.ID = binary.BigEndian.Uint16(msg)
	flags := binary.BigEndian.Uint16(msg[2:])
	if flags&0x8000 == 0 || (flags>>11)&0xf != 0 {
		return ErrDNSNotReply
	}
	a.TC = flags&0x0200 != 0
	a.RCode = uint8(flags & 0xf)
	qd := binary.BigEndian.Uint16(msg[4:])
	an := binary.BigEndian.Uint16(msg[6:])
	if qd != 1 || an > MaxDNSRecords {
		return ErrDNSCounts
	}
	off := 12
	a.qnameOff = off
	off, err := skipName(msg, off)
	if err != nil {
		return err
	}
	if off+4 > len(msg) {
		return ErrDNSShort
	}
	a.QType = binary.BigEndian.Uint16(msg[off:])
	a.QClass = binary.BigEndian.Uint16(msg[off+2:])
	off += 4
	for i := 0; i < int(an); i++ {
		nameOff := off
		if off, err = skipName(msg, off); err != nil {
			return err
		}
		if off+10 > len(msg) {
			return ErrDNSShort
		}
		typ := binary.BigEndian.Uint16(msg[off:])
		class := binary.BigEndian.Uint16(msg[off+2:])
		ttl := binary.BigEndian.Uint32(msg[off+4:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if off+rdlen > len(msg) {
			return ErrDNSShort
		}
		rd := msg[off : off+rdlen]
		if ttl > 0x7fffffff { // RFC 2181 8: treat as zero
			ttl = 0
		}
		if class == 1 {
			r := DNSRecord{Type: typ, TTL: ttl, nameOff: nameOff}
			ok := true
			switch {
			case typ == DNSTypeA && rdlen == 4, typ == DNSTypeAAAA && rdlen == 16:
				copy(r.Addr[:], rd)
				r.AddrLen = uint8(rdlen)
			case typ == DNSTypeCNAME:
				end, err := skipName(msg, off)
				if err != nil || end != off+rdlen {
					return ErrDNSName
				}
				r.dataOff = off
			default:
				ok = false
			}
			if ok {
				a.Records = append(a.Records, r)
			}
		}
		off += rdlen
	}
	return nil
}

// skipName returns the offset after the name at off, checking the whole
// name (following pointers, bounded) without copying it.
func skipName(msg []byte, off int) (int, error) {
	var buf [MaxNameLen + 2]byte
	if _, err := readName(msg, off, &buf); err != nil {
		return 0, err
	}
	end := off
	for {
		if end >= len(msg) {
			return 0, ErrDNSShort
		}
		l := int(msg[end])
		if l&0xc0 == 0xc0 {
			return end + 2, nil
		}
		if l == 0 {
			return end + 1, nil
		}
		end += 1 + l
	}
}

// readName writes the name at off in lower case, dot-separated, without
// the final dot (the root is ""). Pointers may only point backwards
// (RFC 1035 4.1.4 compresses to prior occurrences), so a loop is
// impossible, and their number is bounded.
func readName(msg []byte, off int, buf *[MaxNameLen + 2]byte) ([]byte, error) {
	n := 0
	hops := 0
	limit := off // a pointer must go before this
	for {
		if off >= len(msg) {
			return nil, ErrDNSShort
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return buf[:n], nil
		case l&0xc0 == 0xc0:
			if off+1 >= len(msg) {
				return nil, ErrDNSShort
			}
			p := (l&0x3f)<<8 | int(msg[off+1])
			if p >= limit || hops >= 2*maxDNSPointers {
				return nil, ErrDNSName
			}
			hops++
			off, limit = p, p
			continue
		case l&0xc0 != 0:
			return nil, ErrDNSName
		}
		if off+1+l > len(msg) {
			return nil, ErrDNSShort
		}
		if n > 0 {
			if n >= MaxNameLen {
				return nil, ErrDNSName
			}
			buf[n] = '.'
			n++
		}
		if n+l > MaxNameLen {
			return nil, ErrDNSName
		}
		for _, c := range msg[off+1 : off+1+l] {
			buf[n] = lower(c)
			n++
		}
		off += 1 + l
	}
}

// QName writes the question's name into buf.
func (a *DNSAnswer) QName(buf *[MaxNameLen + 2]byte) []byte {
	b, _ := readName(a.msg, a.qnameOff, buf)
	return b
}

// Name writes record r's owner name into buf.
func (a *DNSAnswer) Name(r *DNSRecord, buf *[MaxNameLen + 2]byte) []byte {
	b, _ := readName(a.msg, r.nameOff, buf)
	return b
}

// Target writes a CNAME record's target name into buf.
func (a *DNSAnswer) Target(r *DNSRecord, buf *[MaxNameLen + 2]byte) []byte {
	b, _ := readName(a.msg, r.dataOff, buf)
	return b
}

// DNSAddr is one address an answer gives its question's name, with the
// smallest TTL along its CNAME chain.
type DNSAddr struct {
	Addr    [16]byte
	AddrLen uint8
	TTL     uint32
}

// Resolve follows the CNAME chain from the question's name through the
// answer records (as a stub resolver does, RFC 1034 3.6.2; bounded to
// maxDNSChain links), calling visit for each name of the chain, the
// question's first, then addr for each A or AAAA record of the name the
// chain ends at, with the smallest TTL along the chain. Records of names
// outside the chain are ignored: a server cannot make nfd believe an
// address belongs to a name it was not asked about. The name passed to
// visit is valid only during the call.
func (a *DNSAnswer) Resolve(visit func(name []byte), addr func(DNSAddr)) {
	cur, nb, tb := &a.names[0], &a.names[1], &a.names[2]
	name := a.QName(cur)
	if name == nil {
		return
	}
	ttl := uint32(0x7fffffff)
	for hop := 0; ; hop++ {
		visit(name)
		next := -1
		for i := range a.Records {
			r := &a.Records[i]
			if r.Type == DNSTypeCNAME && string(a.Name(r, nb)) == string(name) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		if hop == maxDNSChain {
			return // a chain too long (or a CNAME loop): no addresses
		}
		r := &a.Records[next]
		ttl = min(ttl, r.TTL)
		n := copy(tb[:], a.Target(r, nb))
		name = cur[:copy(cur[:], tb[:n])]
	}
	for i := range a.Records {
		r := &a.Records[i]
		if r.AddrLen != 0 && string(a.Name(r, nb)) == string(name) {
			addr(DNSAddr{Addr: r.Addr, AddrLen: r.AddrLen, TTL: min(ttl, r.TTL)})
		}
	}
}

// DNSQuestion reads a standard query's id, first question name (lower
// case, into buf) and type; ok is false for anything else.
func DNSQuestion(msg []byte, buf *[MaxNameLen + 2]byte) (id uint16, name []byte, qtype uint16, ok bool) {
	if len(msg) < 12 {
		return 0, nil, 0, false
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	if flags&0x8000 != 0 || (flags>>11)&0xf != 0 || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return 0, nil, 0, false
	}
	name, err := readName(msg, 12, buf)
	if err != nil {
		return 0, nil, 0, false
	}
	end, err := skipName(msg, 12)
	if err != nil || end+4 > len(msg) {
		return 0, nil, 0, false
	}
	return binary.BigEndian.Uint16(msg), name, binary.BigEndian.Uint16(msg[end:]), true
}
