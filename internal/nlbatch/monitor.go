package nlbatch

import (
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Port ids of the sockets Send used recently: the kernel stamps every
// nftables notification with the port id of the socket whose batch
// caused it (nf_tables_*_notify: nlmsg_pid = ctx->portid), so a monitor
// can tell nfd's own changes from another tool's.
var (
	portsMu sync.Mutex
	ports   [64]uint32
	portsN  int
)

func remember(pid uint32) {
	portsMu.Lock()
	ports[portsN%len(ports)] = pid
	portsN++
	portsMu.Unlock()
}

// Ours reports whether a notification with this port id came from a batch
// Send committed.
func Ours(pid uint32) bool {
	if pid == 0 {
		return false
	}
	portsMu.Lock()
	defer portsMu.Unlock()
	for _, p := range ports {
		if p == pid {
			return true
		}
	}
	return false
}

// Event is one nftables notification, reduced to what a watcher needs.
type Event struct {
	Type uint16 // NFT_MSG_*
	Ours bool   // caused by a batch of this process
	// Lost: the socket overflowed (ENOBUFS) and events were dropped;
	// Type is 0.
	Lost bool
}

// Monitor reads nftables notifications (NFNLGRP_NFTABLES) without
// decoding them: a batch of 10^5 rules makes 10^5 notifications, which
// google/nftables' monitor parses one by one into rules.
type Monitor struct {
	c   *netlink.Conn
	buf []byte // the receive buffer, reused by Read (one reader at a time)
}

// NewMonitor subscribes to nftables notifications in the current
// namespace.
func NewMonitor() (*Monitor, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, err
	}
	if err := c.JoinGroup(unix.NFNLGRP_NFTABLES); err != nil {
		c.Close()
		return nil, err
	}
	if raw, err := c.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		})
	}
	return &Monitor{c: c, buf: make([]byte, 256<<10)}, nil
}

// Close ends Read.
func (m *Monitor) Close() error { return m.c.Close() }

// Read blocks for the next notifications.
func (m *Monitor) Read() ([]Event, error) {
	raw, err := m.c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out []Event
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), m.buf, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			return false
		}
		if err == unix.ENOBUFS {
			out = append(out, Event{Lost: true})
			return true
		}
		if err != nil {
			rerr = err
			return true
		}
		eachMessage(m.buf[:n], func(msg nlmsg) bool {
			if msg.typ>>8 == unix.NFNL_SUBSYS_NFTABLES {
				out = append(out, Event{Type: msg.typ & 0xff, Ours: Ours(msg.pid)})
			}
			return true
		})
		return true
	})
	if err == nil {
		err = rerr
	}
	return out, err
}
