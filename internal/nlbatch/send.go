package nlbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Error is the kernel refusing a batch; nothing of it took effect.
type Error struct {
	// Index is the failing message's position in the batch (as returned
	// by Messages), -1 when the kernel did not name one: the commit
	// itself failed, or the batch as a whole was refused.
	Index int
	Tag   any
	Errno unix.Errno
	// Msg is the kernel's extended-ack text, when it gave one.
	Msg string
	// More counts further failing messages.
	More int
}

func (e *Error) Error() string {
	s := e.Errno.Error()
	if e.Msg != "" {
		s += " (" + e.Msg + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Errno }

const (
	nlmsgHdrLen = 16
	// sequence numbers start here, so an answer to a batch of another
	// socket user is never mistaken for one of ours.
	seqBase = 1
)

// Send commits msgs as one nftables transaction on a NETLINK_NETFILTER
// socket in the network namespace netnsFd (0: the current one). It
// returns nil when the kernel committed the batch, an *Error when it
// refused it (nothing changed), another error when it could not be sent.
func Send(netnsFd int, msgs []netlink.Message, tags []any) error {
	if len(msgs) == 0 {
		return nil
	}
	buf, lastSeq, err := marshalBatch(msgs)
	if err != nil {
		return err
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFd})
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	var answers [][]byte
	cerr := raw.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			if nl, ok := sa.(*unix.SockaddrNetlink); ok {
				remember(nl.Pid)
			}
		}
		serr = sendAndCollect(int(fd), buf, &answers, make([]byte, 1<<20))
	})
	if cerr != nil {
		return cerr
	}
	if serr != nil && !errors.Is(serr, unix.ENOBUFS) {
		return serr
	}
	return verdict(answers, msgs, tags, lastSeq, serr != nil)
}

// marshalBatch lays out BATCH_BEGIN, msgs with sequence numbers
// seqBase+1.., and BATCH_END in one buffer. Only the last message asks
// for an acknowledgement, none for an echo.
func marshalBatch(msgs []netlink.Message) ([]byte, uint32, error) {
	size := 2 * (nlmsgHdrLen + 4)
	for i := range msgs {
		size += nlmsgAlign(nlmsgHdrLen + len(msgs[i].Data))
	}
	if size > math.MaxInt32/2-64 {
		return nil, 0, fmt.Errorf("the nftables batch is %d bytes, more than a netlink socket can take", size)
	}
	buf := make([]byte, 0, size)
	put := func(typ uint16, flags netlink.HeaderFlags, seq uint32, data []byte) {
		l := nlmsgHdrLen + len(data)
		var h [nlmsgHdrLen]byte
		binary.NativeEndian.PutUint32(h[0:], uint32(l))
		binary.NativeEndian.PutUint16(h[4:], typ)
		binary.NativeEndian.PutUint16(h[6:], uint16(flags))
		binary.NativeEndian.PutUint32(h[8:], seq)
		buf = append(buf, h[:]...)
		buf = append(buf, data...)
		for len(buf)%4 != 0 {
			buf = append(buf, 0)
		}
	}
	// struct nfgenmsg: family, version, res_id (the subsystem, big endian)
	batchHdr := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}
	put(unix.NFNL_MSG_BATCH_BEGIN, netlink.Request, seqBase, batchHdr)
	last := uint32(0)
	for i := range msgs {
		// No echo either: google/nftables asks for rules back
		// (NLM_F_ECHO), one message per rule.
		flags := msgs[i].Header.Flags &^ (netlink.Acknowledge | netlink.Echo)
		seq := uint32(seqBase + 1 + i)
		if i == len(msgs)-1 {
			flags |= netlink.Acknowledge
			last = seq
		}
		put(uint16(msgs[i].Header.Type), flags, seq, msgs[i].Data)
	}
	put(unix.NFNL_MSG_BATCH_END, netlink.Request, uint32(seqBase+1+len(msgs)), batchHdr)
	return buf, last, nil
}

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }

// nlmsg is one netlink message of a datagram: its header's type, flags
// and sender port id, and its body.
type nlmsg struct {
	typ, flags uint16
	seq, pid   uint32
	body       []byte
}

// eachMessage calls f for each netlink message in the datagram b, in
// order, until f returns false; a truncated or malformed message ends the
// walk (the kernel never sends one).
func eachMessage(b []byte, f func(m nlmsg) bool) {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		if l < nlmsgHdrLen || l > len(b) {
			return
		}
		m := nlmsg{
			typ:   binary.NativeEndian.Uint16(b[4:]),
			flags: binary.NativeEndian.Uint16(b[6:]),
			seq:   binary.NativeEndian.Uint32(b[8:]),
			pid:   binary.NativeEndian.Uint32(b[12:]),
			body:  b[nlmsgHdrLen:l],
		}
		b = b[min(nlmsgAlign(l), len(b)):]
		if !f(m) {
			return
		}
	}
}

// sendAndCollect sends the batch in one sendmsg and reads every answer.
// The kernel handles a netfilter batch synchronously inside sendmsg
// (netlink_unicast_kernel -> nfnetlink_rcv -> nfnetlink_rcv_batch, commit
// included), so when sendmsg returns every answer is already queued on
// the socket: the answers are read without blocking until none is left.
func sendAndCollect(fd int, buf []byte, answers *[][]byte, rb []byte) error {
	// nft's mnl_set_sndbuffer: netlink_sendmsg refuses len > sk_sndbuf - 32
	// and the kernel doubles the value it is given.
	want := len(buf) + 64<<10
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, want); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, want); err != nil {
			return fmt.Errorf("sizing the netlink send buffer to %d bytes: %w", want, err)
		}
	}
	// Errors are small with NETLINK_CAP_ACK (the failing message is not
	// echoed); NETLINK_EXT_ACK adds the kernel's reason text. Errors past
	// what the receive buffer holds are dropped (ENOBUFS on read), but
	// the first ones, which name the culprit, stay.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	for {
		err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			// The socket is non-blocking (Go's poller); the buffer was
			// sized to fit, so this means memory pressure: wait for room.
			var fds = []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds, 1000)
			continue
		}
		if err != nil {
			return fmt.Errorf("sending the nftables batch (%d bytes): %w", len(buf), err)
		}
		break
	}
	for {
		n, _, err := unix.Recvfrom(fd, rb, unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return nil
		}
		if err == unix.ENOBUFS {
			// Answers were dropped: more than one was queued, and only
			// errors come besides the final acknowledgement, so the
			// batch failed. Keep reading what is left.
			*answers = append(*answers, nil)
			continue
		}
		if err != nil {
			return fmt.Errorf("reading the kernel's answer: %w", err)
		}
		*answers = append(*answers, append([]byte(nil), rb[:n]...))
	}
}

// verdict reads the answers: the batch committed when the final message's
// acknowledgement came and no error did.
func verdict(answers [][]byte, msgs []netlink.Message, tags []any, lastSeq uint32, overrun bool) error {
	var first *Error
	more := 0
	acked := false
	lost := overrun
	for _, a := range answers {
		if a == nil {
			lost = true
			continue
		}
		eachMessage(a, func(m nlmsg) bool {
			flags, body := m.flags, m.body
			if m.typ != unix.NLMSG_ERROR || len(body) < 4+nlmsgHdrLen {
				return true
			}
			errno := -int32(binary.NativeEndian.Uint32(body[0:]))
			seq := binary.NativeEndian.Uint32(body[4+8:])
			if errno == 0 {
				if seq == lastSeq {
					acked = true
				}
				return true
			}
			e := &Error{Index: -1, Errno: unix.Errno(errno)}
			if i := int(seq) - seqBase - 1; i >= 0 && i < len(msgs) {
				e.Index = i
				if i < len(tags) {
					e.Tag = tags[i]
				}
			}
			if flags&0x200 != 0 { // NLM_F_ACK_TLVS
				off := 4 + nlmsgHdrLen
				if flags&0x100 == 0 { // not NLM_F_CAPPED: the message is echoed
					if ol := int(binary.NativeEndian.Uint32(body[4:])); ol >= nlmsgHdrLen {
						off = 4 + nlmsgAlign(ol)
					}
				}
				e.Msg = extackMsg(body[min(off, len(body)):])
			}
			if first == nil || (first.Index < 0 && e.Index >= 0) {
				if first != nil {
					more++
				}
				first = e
			} else {
				more++
			}
			return true
		})
	}
	if first != nil {
		first.More = more
		return first
	}
	if lost {
		return &Error{Index: -1, Errno: unix.ENOBUFS, Msg: "the kernel's error reports overflowed the socket"}
	}
	if !acked {
		return errors.New("the kernel did not acknowledge the nftables batch")
	}
	return nil
}

// extackMsg finds NLMSGERR_ATTR_MSG among the extended-ack attributes.
func extackMsg(b []byte) string {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NLMSGERR_ATTR_MSG {
			return ad.String()
		}
	}
	return ""
}
