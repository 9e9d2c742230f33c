// Package queue reads packets from NFQUEUE and answers them, behind a
// small Reader interface with two implementations (nfd's own socket and
// go-nfqueue) and a fake for tests.
package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func unsafePointer(m *mmsghdr) unsafe.Pointer { return unsafe.Pointer(m) }

// nfq is nfd's own NFQUEUE socket: the same netlink protocol go-nfqueue
// speaks, with a receive loop that reuses one buffer, reads many messages
// per system call (recvmmsg) and answers accepts in batches
// (NFQNL_MSG_VERDICT_BATCH). go-nfqueue allocates a buffer per receive
// and sends one verdict per packet; bench/README.md has the numbers that
// justify this file. The goroutine that calls run owns the socket's read
// side; verdicts are written only from that goroutine too.
type nfq struct {
	fd    int
	queue uint16
	seq   uint32

	rbufs [][]byte
	iovs  []unix.Iovec
	msgs  []mmsghdr
	wbuf  []byte

	// Accepted packet ids not yet answered: one batch verdict covers every
	// id up to the last, as long as nothing else was decided in between.
	pending   bool
	pendingID uint32
	// held are NF_REPEAT verdicts (with their marks) waiting for the next
	// flush, which sends them and the batch accept in one write: a batch
	// verdict carries no mark, so continuations cannot join it, but they
	// can share its system call. They go first, so the batch, which
	// covers only ids still queued, never covers them.
	held []byte

	pkt  Packet               // the packet being handled, reused
	dest unix.SockaddrNetlink // the kernel, for sendto

	// full is set when the last receive filled every buffer, so more
	// messages may be waiting; otherwise the socket was empty when it
	// returned and the next receive can block at once.
	full bool
	// busyPoll is how long recv keeps reading without sleeping before it
	// blocks (Config.BusyPoll); 0 blocks at once.
	busyPoll time.Duration
}

// Netlink and nfnetlink_queue constants (include/uapi/linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue    = 3
	nfqnlMsgPacket     = 0
	nfqnlMsgVerdict    = 1
	nfqnlMsgConfig     = 2
	nfqnlMsgVerdictBat = 3

	nfqaPacketHdr  = 1
	nfqaVerdictHdr = 2
	nfqaMark       = 3
	nfqaIfIndexIn  = 5
	nfqaIfIndexOut = 6
	nfqaPayload    = 10
	nfqaCapLen     = 13
	nfqaSkbInfo    = 14

	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgQueueMax = 3
	nfqaCfgMask     = 4
	nfqaCfgFlags    = 5

	nfqnlCfgCmdBind   = 1
	nfqnlCfgCmdUnbind = 2
	nfqnlCopyPacket   = 2

	cfgFlagFailOpen = 0x1
	cfgFlagGSO      = 0x4

	recvBatch = 64
	recvSize  = 0xffff + 512 // a whole GSO packet and its headers
)

// mmsghdr is struct mmsghdr for recvmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func openNFQ(queue uint16, copyRange uint32, maxLen uint32, flags uint32, rcvbuf int) (*nfq, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	// Wake up now and then so the owning goroutine can notice it should stop.
	tv := unix.NsecToTimeval(int64(250 * time.Millisecond))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	q := &nfq{fd: fd, queue: queue, wbuf: make([]byte, 0, 256), held: make([]byte, 0, recvBatch*48)}
	q.dest.Family = unix.AF_NETLINK
	q.rbufs = make([][]byte, recvBatch)
	q.iovs = make([]unix.Iovec, recvBatch)
	q.msgs = make([]mmsghdr, recvBatch)
	for i := range q.rbufs {
		q.rbufs[i] = make([]byte, recvSize)
		q.iovs[i].Base = &q.rbufs[i][0]
		q.iovs[i].SetLen(recvSize)
		q.msgs[i].hdr.Iov = &q.iovs[i]
		q.msgs[i].hdr.SetIovlen(1)
	}
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, copyRange)
	params[4] = nfqnlCopyPacket
	be32 := func(v uint32) []byte { b := make([]byte, 4); binary.BigEndian.PutUint32(b, v); return b }
	steps := [][]attr{
		{{nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0}}},
		{{nfqaCfgParams, params}, {nfqaCfgQueueMax, be32(maxLen)}},
		{{nfqaCfgFlags, be32(flags)}, {nfqaCfgMask, be32(cfgFlagFailOpen | cfgFlagGSO)}},
	}
	for _, attrs := range steps {
		if err := q.request(nfqnlMsgConfig, attrs); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("configuring queue %d: %w", queue, err)
		}
	}
	return q, nil
}

type attr struct {
	typ  uint16
	data []byte
}

// header writes an nlmsghdr and nfgenmsg for msgType into q.wbuf.
func (q *nfq) header(msgType uint16, flags uint16) {
	q.seq++
	b := q.wbuf[:0]
	b = binary.NativeEndian.AppendUint32(b, 0) // length, patched in finish
	b = binary.NativeEndian.AppendUint16(b, nfnlSubsysQueue<<8|msgType)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, q.seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, unix.AF_UNSPEC, 0)              // nfgen_family, version NFNETLINK_V0
	b = binary.BigEndian.AppendUint16(b, q.queue) // res_id
	q.wbuf = b
}

func (q *nfq) attr(typ uint16, data []byte) {
	b := q.wbuf
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	q.wbuf = b
}

func (q *nfq) send() error {
	binary.NativeEndian.PutUint32(q.wbuf, uint32(len(q.wbuf)))
	return unix.Sendto(q.fd, q.wbuf, 0, &q.dest)
}

// request sends a config message and waits for its acknowledgement.
func (q *nfq) request(msgType uint16, attrs []attr) error {
	q.header(msgType, unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	for _, a := range attrs {
		q.attr(a.typ, a.data)
	}
	if err := q.send(); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(q.fd, buf, 0)
		if err != nil {
			return err
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return errors.New("short netlink message")
			}
			typ := binary.NativeEndian.Uint16(b[4:])
			seq := binary.NativeEndian.Uint32(b[8:])
			if typ == unix.NLMSG_ERROR && seq == q.seq {
				if l < unix.NLMSG_HDRLEN+4 {
					return errors.New("short netlink error")
				}
				if code := int32(binary.NativeEndian.Uint32(b[16:])); code != 0 {
					return unix.Errno(-code)
				}
				return nil
			}
			b = b[(l+3)&^3:]
		}
	}
}

// verdict answers one packet, flushing pending accepts first so that
// batch verdicts never cover it.
func (q *nfq) verdict(id uint32, v uint32, mark *uint32) error {
	if q.pending {
		if err := q.flush(); err != nil {
			return err
		}
	}
	q.header(nfqnlMsgVerdict, unix.NLM_F_REQUEST)
	var vh [8]byte
	binary.BigEndian.PutUint32(vh[:], v)
	binary.BigEndian.PutUint32(vh[4:], id)
	q.attr(nfqaVerdictHdr, vh[:])
	if mark != nil {
		var m [4]byte
		binary.BigEndian.PutUint32(m[:], *mark)
		q.attr(nfqaMark, m[:])
	}
	return q.send()
}

// accept queues an accept for a batch verdict.
func (q *nfq) accept(id uint32) {
	q.pending, q.pendingID = true, id
}

// hold keeps a verdict with a mark for the next flush.
func (q *nfq) hold(id uint32, v uint32, mark uint32) {
	q.header(nfqnlMsgVerdict, unix.NLM_F_REQUEST)
	var vh [8]byte
	binary.BigEndian.PutUint32(vh[:], v)
	binary.BigEndian.PutUint32(vh[4:], id)
	q.attr(nfqaVerdictHdr, vh[:])
	var m [4]byte
	binary.BigEndian.PutUint32(m[:], mark)
	q.attr(nfqaMark, m[:])
	binary.NativeEndian.PutUint32(q.wbuf, uint32(len(q.wbuf)))
	q.held = append(q.held, q.wbuf...)
}

// flush sends the held verdicts and the batch of pending accepts, in one
// write (the kernel's netlink_rcv_skb() takes the messages in order).
func (q *nfq) flush() error {
	if !q.pending && len(q.held) == 0 {
		return nil
	}
	if q.pending {
		q.pending = false
		q.header(nfqnlMsgVerdictBat, unix.NLM_F_REQUEST)
		var vh [8]byte
		binary.BigEndian.PutUint32(vh[:], Accept)
		binary.BigEndian.PutUint32(vh[4:], q.pendingID)
		q.attr(nfqaVerdictHdr, vh[:])
		binary.NativeEndian.PutUint32(q.wbuf, uint32(len(q.wbuf)))
		q.held = append(q.held, q.wbuf...)
	}
	err := unix.Sendto(q.fd, q.held, 0, &q.dest)
	q.held = q.held[:0]
	return err
}

// Receive reads one batch (recv) and calls fn for each packet in it.
func (q *nfq) Receive(fn func(p *Packet)) error {
	n, err := q.recv()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		q.each(i, fn)
	}
	return nil
}

// Verdict answers a packet: a plain accept waits for the next batch
// verdict (Flush), anything else is sent at once.
func (q *nfq) Verdict(id uint32, v Verdict) error {
	switch {
	case v.Verdict == Accept && !v.SetMark:
		q.accept(id)
		return nil
	case v.Verdict == Repeat && v.SetMark:
		q.hold(id, v.Verdict, v.Mark)
		return nil
	case v.SetMark:
		return q.verdict(id, v.Verdict, &v.Mark)
	}
	return q.verdict(id, v.Verdict, nil)
}

// Flush sends the batch of pending accepts.
func (q *nfq) Flush() error { return q.flush() }

// Close unbinds the queue and closes the socket.
func (q *nfq) Close() { q.close() }

// recv reads up to recvBatch messages; it blocks until at least one
// arrives, flushing pending accepts first when the socket is empty.
// MSG_WAITFORONE returns as soon as one message is read and the socket is
// empty, so a receive that did not fill every buffer left the socket empty:
// the next one flushes and blocks without a non-blocking probe first.
// With busyPoll set it first keeps polling for that long: a thread that
// sleeps costs each packet that wakes it the kernel's wake-up, 50-60 µs on
// this project's VMs (bench/README.md), against about 12 µs for a trip
// through the queue to a reader that is awake.
func (q *nfq) recv() (int, error) {
	for {
		var n int
		var err error = unix.EAGAIN
		if q.full {
			n, err = recvmmsg(q.fd, q.msgs, unix.MSG_DONTWAIT)
		}
		if err == unix.EAGAIN {
			if err := q.flush(); err != nil {
				return 0, err
			}
			if q.busyPoll > 0 {
				for t := time.Now(); err == unix.EAGAIN && time.Since(t) < q.busyPoll; {
					n, err = recvmmsg(q.fd, q.msgs, unix.MSG_DONTWAIT)
				}
			}
			if err == unix.EAGAIN {
				n, err = recvmmsg(q.fd, q.msgs, unix.MSG_WAITFORONE)
			}
		}
		if err == unix.EINTR {
			continue
		}
		q.full = err == nil && n == len(q.msgs)
		if err == unix.EAGAIN {
			return 0, nil // receive timeout: nothing arrived
		}
		return n, err
	}
}

func recvmmsg(fd int, msgs []mmsghdr, flags int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafePointer(&msgs[0])), uintptr(len(msgs)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// each calls fn for every packet message in the i-th received buffer.
func (q *nfq) each(i int, fn func(p *Packet)) {
	b := q.rbufs[i][:q.msgs[i].len]
	p := &q.pkt
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		msg := b[unix.NLMSG_HDRLEN:l]
		b = b[min((l+3)&^3, len(b)):]
		if typ != nfnlSubsysQueue<<8|nfqnlMsgPacket || len(msg) < 4 {
			continue
		}
		*p = Packet{}
		ok := false
		for a := msg[4:]; len(a) >= 4; {
			al := int(binary.NativeEndian.Uint16(a))
			at := binary.NativeEndian.Uint16(a[2:]) & 0x3fff
			if al < 4 || al > len(a) {
				break
			}
			d := a[4:al]
			switch at {
			case nfqaPacketHdr:
				if len(d) >= 7 {
					p.ID, p.Hook, ok = binary.BigEndian.Uint32(d), d[6], true
				}
			case nfqaMark:
				if len(d) >= 4 {
					p.Mark, p.HasMark = binary.BigEndian.Uint32(d), true
				}
			case nfqaIfIndexIn:
				if len(d) >= 4 {
					p.InDev, p.HasInDev = binary.BigEndian.Uint32(d), true
				}
			case nfqaIfIndexOut:
				if len(d) >= 4 {
					p.OutDev, p.HasOutDev = binary.BigEndian.Uint32(d), true
				}
			case nfqaPayload:
				p.Payload = d
			case nfqaCapLen:
				if len(d) >= 4 {
					p.CapLen = binary.BigEndian.Uint32(d)
				}
			case nfqaSkbInfo:
				if len(d) >= 4 {
					p.SkbInfo = binary.BigEndian.Uint32(d)
				}
			}
			a = a[min((al+3)&^3, len(a)):]
		}
		if ok {
			fn(p)
		}
	}
}

// close unbinds the queue and closes the socket; only the owning
// goroutine calls it.
func (q *nfq) close() {
	_ = q.flush()
	_ = q.request(nfqnlMsgConfig, []attr{{nfqaCfgCmd, []byte{nfqnlCfgCmdUnbind, 0, 0, 0}}})
	unix.Close(q.fd)
}
