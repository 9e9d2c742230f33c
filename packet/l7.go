package packet

import "encoding/binary"

// Layer-7 names for nfd's own matches. Each extractor reads only the bytes
// of this one packet: nothing is reassembled across TCP segments or IP
// fragments. A ClientHello, request line or query that does not fit in the
// first data packet yields "no value", never an error. Every name is
// bounded to MaxNameLen bytes; matching folds ASCII case (HostMatch).

// MaxNameLen bounds an extracted name, as DNS bounds a name.
const MaxNameLen = 253

// TLSServerName returns the server_name of a TLS ClientHello that starts
// payload, or nil. The slice aliases payload; it is not case-folded.
func TLSServerName(payload []byte) []byte {
	// TLS record header: type 22 (handshake), version, length.
	if len(payload) < 5 || payload[0] != 22 || payload[1] != 3 {
		return nil
	}
	rec := payload[5:]
	if n := int(binary.BigEndian.Uint16(payload[3:])); n < len(rec) {
		rec = rec[:n]
	}
	// Handshake header: type 1 (ClientHello), 3-byte length.
	if len(rec) < 4 || rec[0] != 1 {
		return nil
	}
	hs := rec[4:]
	if n := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3]); n < len(hs) {
		hs = hs[:n]
	}
	// client_version(2) random(32)
	if len(hs) < 34 {
		return nil
	}
	b := hs[34:]
	skip := func(lenBytes int) bool {
		if len(b) < lenBytes {
			return false
		}
		n := 0
		for i := 0; i < lenBytes; i++ {
			n = n<<8 | int(b[i])
		}
		if len(b) < lenBytes+n {
			return false
		}
		b = b[lenBytes+n:]
		return true
	}
	if !skip(1) || !skip(2) || !skip(1) { // session_id, cipher_suites, compression_methods
		return nil
	}
	if len(b) < 2 {
		return nil
	}
	ext := b[2:]
	if n := int(binary.BigEndian.Uint16(b)); n < len(ext) {
		ext = ext[:n]
	}
	for len(ext) >= 4 {
		typ := binary.BigEndian.Uint16(ext)
		n := int(binary.BigEndian.Uint16(ext[2:]))
		if len(ext) < 4+n {
			return nil
		}
		data := ext[4 : 4+n]
		ext = ext[4+n:]
		if typ != 0 { // server_name
			continue
		}
		// ServerNameList: length(2), then entries type(1) length(2) name.
		if len(data) < 2 {
			return nil
		}
		list := data[2:]
		if l := int(binary.BigEndian.Uint16(data)); l < len(list) {
			list = list[:l]
		}
		for len(list) >= 3 {
			nt := list[0]
			nl := int(binary.BigEndian.Uint16(list[1:]))
			if len(list) < 3+nl {
				return nil
			}
			if nt == 0 {
				return validName(list[3 : 3+nl])
			}
			list = list[3+nl:]
		}
		return nil
	}
	return nil
}

// validName accepts a host name of 1 to MaxNameLen bytes made of letters,
// digits, '-', '_' and '.', with an optional trailing dot dropped.
func validName(n []byte) []byte {
	if len(n) > 0 && n[len(n)-1] == '.' {
		n = n[:len(n)-1]
	}
	if len(n) == 0 || len(n) > MaxNameLen || n[0] == '.' {
		return nil
	}
	for i, c := range n {
		if c == '.' && i > 0 && n[i-1] == '.' {
			return nil // an empty label
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil
		}
	}
	return n
}

var httpMethods = [...]string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "}

// MaxHTTPHeader bounds how far into a request the Host header is sought.
const MaxHTTPHeader = 8192

// httpMethod reports whether payload starts with an HTTP method and a space.
func httpMethod(payload []byte) bool {
	for _, m := range httpMethods {
		if len(payload) >= len(m) && string(payload[:len(m)]) == m {
			return true
		}
	}
	return false
}

// HTTPRequestPending reports whether payload starts an HTTP/1.x request
// whose header block it does not hold whole (no blank line yet, shorter
// than MaxHTTPHeader): a Host header may still come in later segments, as
// when a long request line fills the first one.
func HTTPRequestPending(payload []byte) bool {
	if !httpMethod(payload) || len(payload) >= MaxHTTPHeader {
		return false
	}
	for i := 0; i+3 < len(payload); i++ {
		if payload[i] == '\r' && payload[i+1] == '\n' && payload[i+2] == '\r' && payload[i+3] == '\n' {
			return false
		}
	}
	return true
}

// HTTPHost returns the Host header of an HTTP/1.x request that starts
// payload, without a port, or nil.
func HTTPHost(payload []byte) []byte {
	if !httpMethod(payload) {
		return nil
	}
	if len(payload) > MaxHTTPHeader {
		payload = payload[:MaxHTTPHeader]
	}
	// Skip the request line, then read header lines up to the blank one.
	i := indexCRLF(payload)
	if i < 0 {
		return nil
	}
	payload = payload[i+2:]
	for {
		i = indexCRLF(payload)
		if i <= 0 {
			return nil // incomplete, or the end of the headers
		}
		h := payload[:i]
		payload = payload[i+2:]
		if len(h) > 5 && asciiEqualFold(h[:5], "host:") {
			v := trimSpace(h[5:])
			// Strip a port.
			for j := len(v) - 1; j >= 0; j-- {
				if v[j] == ':' {
					v = v[:j]
					break
				}
				if v[j] < '0' || v[j] > '9' {
					break
				}
			}
			return validName(v)
		}
	}
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// maxDNSPointers bounds compression-pointer hops, so a loop ends.
const maxDNSPointers = 8

// DNSQueryName writes the first question name of a DNS query in payload
// (a UDP payload) into buf, dotted, and returns it; nil for anything that
// is not a well-formed query. buf must hold MaxNameLen+2 bytes.
func DNSQueryName(payload []byte, buf *[MaxNameLen + 2]byte) []byte {
	if len(payload) < 12 {
		return nil
	}
	flags := binary.BigEndian.Uint16(payload[2:])
	if flags&0x8000 != 0 || (flags>>11)&0xf != 0 { // a response, or not a standard query
		return nil
	}
	if binary.BigEndian.Uint16(payload[4:]) == 0 { // QDCOUNT
		return nil
	}
	n := 0
	off := 12
	hops := 0
	for {
		if off >= len(payload) {
			return nil
		}
		l := int(payload[off])
		switch {
		case l == 0:
			if n == 0 {
				return nil // the root
			}
			return buf[:n]
		case l&0xc0 == 0xc0:
			if off+1 >= len(payload) || hops >= maxDNSPointers {
				return nil
			}
			hops++
			off = (l&0x3f)<<8 | int(payload[off+1])
			continue
		case l&0xc0 != 0:
			return nil
		}
		if off+1+l > len(payload) {
			return nil
		}
		if n > 0 {
			buf[n] = '.'
			n++
		}
		if n+l > MaxNameLen {
			return nil
		}
		for _, c := range payload[off+1 : off+1+l] {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return nil
			}
			buf[n] = lower(c)
			n++
		}
		off += 1 + l
	}
}

// HostMatch reports whether name matches pattern, folding ASCII case.
// pattern is lower case (the parser folds it); "*.example.com" matches any
// name with one or more labels before ".example.com", not "example.com".
func HostMatch(pattern string, name []byte) bool {
	if len(pattern) > 1 && pattern[0] == '*' && pattern[1] == '.' {
		suffix := pattern[1:] // ".example.com"
		if len(name) <= len(suffix) {
			return false
		}
		tail := name[len(name)-len(suffix):]
		return asciiEqualFold(tail, suffix)
	}
	return asciiEqualFold(name, pattern)
}

// MaxHelloRecord bounds the ClientHello record nfd reassembles across
// TCP segments (a TLS record may hold 16 KiB; real ClientHellos, even with
// post-quantum key shares, stay under 4 KiB).
const MaxHelloRecord = 8192

// TLSHelloRecordLen returns the length (header included) of the TLS
// record payload starts with, when it is a handshake record whose message
// is a ClientHello and no longer than MaxHelloRecord; 0 otherwise. A
// ClientHello larger than one segment (a post-quantum key share makes it
// ~1.8 KB) needs the following segments before TLSServerName can be sure
// to find its name.
func TLSHelloRecordLen(payload []byte) int {
	if len(payload) < 6 || payload[0] != 22 || payload[1] != 3 || payload[5] != 1 {
		return 0
	}
	n := 5 + int(binary.BigEndian.Uint16(payload[3:]))
	if n > MaxHelloRecord {
		return 0
	}
	return n
}
