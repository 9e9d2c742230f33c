package conntrack

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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
						if t.kernelDestroyed(tup) {
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

// KernelResolver returns a Resolver that looks connections up in the
// kernel's table over ctnetlink, and a function to close its socket. It is
// used once per connection nfd meets mid-way, so one socket behind a mutex
// suffices.
func KernelResolver() (Resolver, func(), error) {
	c, err := ct.Dial(nil)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	resolve := func(tup Tuple) (KernelEntry, bool) {
		q := ct.Flow{TupleOrig: ct.Tuple{
			IP:    ct.IPTuple{SourceAddress: tup.SrcAddr(), DestinationAddress: tup.DstAddr()},
			Proto: ct.ProtoTuple{Protocol: tup.Proto, SourcePort: tup.Sport, DestinationPort: tup.Dport},
		}}
		types := []uint8{0}
		if tup.isICMP() {
			// The kernel's ICMP tuple holds the type: ask for an echo
			// request's tuple, then an echo reply's.
			q.TupleOrig.Proto = ct.ProtoTuple{Protocol: tup.Proto, ICMPID: tup.Sport, ICMPv4: tup.Proto == 1, ICMPv6: tup.Proto == 58}
			types = []uint8{8, 0}
			if tup.Proto == 58 {
				types = []uint8{128, 129}
			}
		}
		var f ct.Flow
		var err error
		for _, typ := range types {
			q.TupleOrig.Proto.ICMPType = typ
			mu.Lock()
			f, err = c.Get(q)
			mu.Unlock()
			if err == nil {
				break
			}
		}
		if err != nil {
			return KernelEntry{}, false
		}
		o := f.TupleOrig
		port := o.Proto.SourcePort
		if o.Proto.ICMPv4 || o.Proto.ICMPv6 {
			port = o.Proto.ICMPID
		}
		ke := KernelEntry{
			Orig:    TupleOf(o.Proto.Protocol, o.IP.SourceAddress.Unmap(), o.IP.DestinationAddress.Unmap(), port, o.Proto.DestinationPort),
			Status:  uint32(f.Status),
			Mark:    f.Mark,
			Timeout: time.Duration(f.Timeout) * time.Second,
		}
		if f.ProtoInfo.TCP != nil {
			ke.TCPState = f.ProtoInfo.TCP.State
		}
		return ke, true
	}
	return resolve, func() { c.Close() }, nil
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
