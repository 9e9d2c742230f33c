package conntrack

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
)

// KernelSync keeps the table honest against the kernel: it listens for
// ctnetlink destroy events (NFNLGRP_CONNTRACK_DESTROY) and removes the
// connections the kernel has ended. It needs CONFIG_NF_CT_NETLINK and
// CONFIG_NF_CONNTRACK_EVENTS.
//
// One goroutine, started by StartKernelSync and ended by its context, owns
// the netlink socket; ti-mo/conntrack runs one worker goroutine that feeds
// it events.
type KernelSync struct {
	active  atomic.Bool
	events  atomic.Uint64
	lastErr atomic.Pointer[string]
}

// Active reports whether events are flowing now.
func (k *KernelSync) Active() bool { return k != nil && k.active.Load() }

// Events is the number of destroy events received.
func (k *KernelSync) Events() uint64 { return k.events.Load() }

// LastError is the last socket error, if any.
func (k *KernelSync) LastError() string {
	if p := k.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// StartKernelSync subscribes to destroy events. It fails at once when the
// kernel cannot deliver them, so the caller can say so; afterwards it
// re-subscribes on its own after socket errors (such as ENOBUFS).
func (t *Table) StartKernelSync(ctx context.Context, log *slog.Logger) (*KernelSync, error) {
	k := &KernelSync{}
	conn, evCh, errCh, err := subscribe()
	if err != nil {
		return nil, fmt.Errorf("conntrack event subscription (needs CONFIG_NF_CT_NETLINK and CONFIG_NF_CONNTRACK_EVENTS): %w", err)
	}
	k.active.Store(true)
	go func() {
		for {
			select {
			case <-ctx.Done():
				conn.Close()
				k.active.Store(false)
				return
			case ev := <-evCh:
				if ev.Flow != nil {
					k.events.Add(1)
					o := ev.Flow.TupleOrig
					if o.IP.SourceAddress.IsValid() && o.IP.DestinationAddress.IsValid() {
						port := o.Proto.SourcePort
						if o.Proto.ICMPv4 || o.Proto.ICMPv6 {
							port = o.Proto.ICMPID
						}
						tup := TupleOf(o.Proto.Protocol, o.IP.SourceAddress.Unmap(), o.IP.DestinationAddress.Unmap(), port, o.Proto.DestinationPort)
						if t.Delete(tup) {
							t.stats.kernelDeleted.Add(1)
						}
					}
				}
			case err := <-errCh:
				msg := err.Error()
				k.lastErr.Store(&msg)
				k.active.Store(false)
				conn.Close()
				log.Warn("conntrack event socket failed; resubscribing", "err", err)
				for {
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
					if conn, evCh, errCh, err = subscribe(); err == nil {
						k.active.Store(true)
						break
					}
				}
			}
		}
	}()
	return k, nil
}

func subscribe() (*ct.Conn, chan ct.Event, chan error, error) {
	c, err := ct.Dial(nil)
	if err != nil {
		return nil, nil, nil, err
	}
	_ = c.SetReadBuffer(4 << 20)
	evCh := make(chan ct.Event, 1024)
	errCh, err := c.Listen(evCh, 1, []netfilter.NetlinkGroup{netfilter.GroupCTDestroy})
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return c, evCh, errCh, nil
}
