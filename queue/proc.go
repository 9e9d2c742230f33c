package queue

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
)

// Drops are the packets the kernel dropped for one queue.
type Drops struct {
	QueueFull   uint64 // the queue was full
	UserDropped uint64 // the netlink socket was full
}

// Total is both kinds of drops.
func (d Drops) Total() uint64 { return d.QueueFull + d.UserDropped }

// ReadProcDrops parses /proc/net/netfilter/nfnetlink_queue (one line per
// bound queue: queue, peer portid, waiting, copy mode, copy range, queue
// dropped, user dropped, last id, 1; seq_show() in nfnetlink_queue.c).
func ReadProcDrops(r io.Reader) map[uint16]Drops {
	out := map[uint16]Drops{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		q, err1 := strconv.ParseUint(f[0], 10, 16)
		full, err2 := strconv.ParseUint(f[5], 10, 64)
		user, err3 := strconv.ParseUint(f[6], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out[uint16(q)] = Drops{QueueFull: full, UserDropped: user}
	}
	return out
}

// ProcDrops reads the drops of the current network namespace's queues;
// nil when the file cannot be read.
func ProcDrops() map[uint16]Drops {
	f, err := os.Open("/proc/net/netfilter/nfnetlink_queue")
	if err != nil {
		return nil
	}
	defer f.Close()
	return ReadProcDrops(f)
}
