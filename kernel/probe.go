// Package kernel programs nfd's plans into nftables over netlink (one
// atomic batch per change), probes how the kernel can queue, reads rule
// counters back, and explains a batch the kernel refused.
package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/nfdproject/nfd/planner"
	"golang.org/x/sys/unix"
)

// QueueMode is how nfd's kernel chains hand packets to userspace.
type QueueMode int

const (
	// QueueNative is nftables' own queue expression (CONFIG_NFT_QUEUE).
	QueueNative QueueMode = iota + 1
	// QueueCompat is the xtables NFQUEUE target through nft_compat, as
	// iptables-nft writes it (CONFIG_NFT_COMPAT, CONFIG_NETFILTER_XT_TARGET_NFQUEUE).
	QueueCompat
)

func (m QueueMode) String() string {
	switch m {
	case QueueNative:
		return "native"
	case QueueCompat:
		return "compat-xt"
	}
	return "none"
}

// ErrNoQueue is returned when the kernel can queue packets neither way.
var ErrNoQueue = errors.New("this kernel cannot queue packets from nftables: it needs CONFIG_NFT_QUEUE, " +
	"or CONFIG_NFT_COMPAT with CONFIG_NETFILTER_XT_TARGET_NFQUEUE, and CONFIG_NETFILTER_NETLINK_QUEUE")

// queueExprs returns the expressions that queue to queues [num, num+total).
//
// When nobody listens on the queue, a queue with the bypass flag lets the
// packet go on to the next hook function (nf_queue() returns 1 on -ESRCH:
// the packet leaves this chain accepted), and one without drops it. The
// queue rule is the chain's last rule, so giving the bypass flag exactly to
// accept-policy chains makes a missing nfd behave as the chain's policy:
// policy accept fails open, policy drop fails closed.
func queueExprs(mode QueueMode, num, total uint16, bypass bool) []expr.Any {
	if total == 0 {
		total = 1
	}
	if mode == QueueNative {
		var flags expr.QueueFlag
		if bypass {
			flags |= expr.QueueFlagBypass
		}
		if total > 1 {
			flags |= expr.QueueFlagFanout
		}
		return []expr.Any{&expr.Queue{Num: num, Total: total, Flag: flags}}
	}
	// struct xt_NFQ_info_v3 { __u16 queuenum, queues_total, flags; } in
	// host byte order, padded to 8 bytes.
	info := make([]byte, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], total)
	flags := uint16(0)
	if bypass {
		flags |= 0x1 // NFQ_FLAG_BYPASS
	}
	if total > 1 {
		flags |= 0x2 // NFQ_FLAG_CPU_FANOUT
	}
	binary.NativeEndian.PutUint16(info[4:], flags)
	u := xt.Unknown(info)
	return []expr.Any{&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}}
}

// ProbeQueue finds out how this kernel can queue. Each attempt is its own
// batch that adds a throw-away table with one queue rule and deletes it
// again, so nothing is ever visible and a refused expression cancels only
// the probe.
func ProbeQueue(newConn func() (*nftables.Conn, error)) (QueueMode, error) {
	var errs []error
	for _, mode := range []QueueMode{QueueNative, QueueCompat} {
		c, err := newConn()
		if err != nil {
			return 0, fmt.Errorf("nftables netlink: %w", err)
		}
		t := c.AddTable(&nftables.Table{Name: fmt.Sprintf("%sprobe_%d", planner.TablePrefix, os.Getpid()), Family: nftables.TableFamilyINet})
		ch := c.AddChain(&nftables.Chain{Name: "probe", Table: t})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: queueExprs(mode, 0, 1, true)})
		c.DelTable(t)
		err = c.Flush()
		if err == nil {
			return mode, nil
		}
		if errors.Is(err, unix.EPERM) {
			return 0, fmt.Errorf("programming nftables needs CAP_NET_ADMIN: %w", err)
		}
		errs = append(errs, fmt.Errorf("%s queue: %w", mode, err))
	}
	return 0, fmt.Errorf("%w (%v)", ErrNoQueue, errors.Join(errs...))
}
