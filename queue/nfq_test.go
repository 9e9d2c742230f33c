package queue

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// packetMsg builds the netlink message the kernel sends for a queued
// packet: nlmsghdr, nfgenmsg, then NFQA_PACKET_HDR, NFQA_MARK, NFQA_PAYLOAD.
func packetMsg(id uint32, payload []byte) []byte {
	attr := func(b []byte, typ uint16, data []byte) []byte {
		b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	body := []byte{unix.AF_INET, 0, 0, 7}
	hdr := binary.BigEndian.AppendUint32(nil, id)
	hdr = append(hdr, 0x08, 0x00, 1) // hw protocol, hook input
	body = attr(body, nfqaPacketHdr, hdr)
	body = attr(body, nfqaMark, binary.BigEndian.AppendUint32(nil, 0x42))
	body = attr(body, nfqaPayload, payload)
	msg := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	msg = binary.NativeEndian.AppendUint16(msg, nfnlSubsysQueue<<8|nfqnlMsgPacket)
	msg = append(msg, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	return append(msg, body...)
}

func TestNFQParseAndAllocs(t *testing.T) {
	q := &nfq{rbufs: [][]byte{make([]byte, 4096)}, msgs: make([]mmsghdr, 1)}
	payload := make([]byte, 60)
	payload[0] = 0x45
	m := packetMsg(99, payload)
	m = append(m, packetMsg(100, payload)...) // two messages in one buffer
	copy(q.rbufs[0], m)
	q.msgs[0].len = uint32(len(m))
	var ids []uint32
	q.each(0, func(p *Packet) {
		if !p.HasMark || p.Mark != 0x42 || p.Hook != 1 || len(p.Payload) != 60 {
			t.Fatalf("parsed %+v", p)
		}
		ids = append(ids, p.ID)
	})
	if len(ids) != 2 || ids[0] != 99 || ids[1] != 100 {
		t.Fatalf("ids %v", ids)
	}
	n := 0
	fn := func(p *Packet) { n += int(p.ID) }
	if a := testing.AllocsPerRun(1000, func() { q.each(0, fn) }); a != 0 {
		t.Fatalf("parsing a receive batch allocates %v times", a)
	}
	// A truncated message stops the walk, never reads past the buffer.
	q.msgs[0].len = uint32(len(m) - 3)
	q.each(0, func(*Packet) {})
}
