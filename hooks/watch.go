package hooks

import (
	"context"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/nfdproject/nfd/kernel"
)

// Guarding nfd's tables: if another tool flushes the ruleset or deletes
// nfd's tables or chains, nfd notices, by nftables monitor events
// (NFNLGRP_NFTABLES deletions; tens of milliseconds) and, as a backstop,
// by comparing its objects with the kernel's every 300 ms (one table and
// chain dump), and restores them in one batch, within a second. Deleting single rules inside nfd's chains is not
// noticed. The watcher goroutine is started by Start and ends with the
// daemon's context.

// checkTables restores nfd's tables if they no longer match what runs. A
// monitor event also has the rules of each chain counted (a dump per
// chain, too much for the periodic check).
func (d *Daemon) checkTables(noticedBy string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		return
	}
	st := d.st.Load()
	c, err := d.cfg.NewConn()
	if err != nil {
		return
	}
	have, err := kernel.Objects(c)
	if err != nil {
		return
	}
	want := kernel.ExpectedObjects(st.plans)
	diff := ""
	if strings.Join(have, "\n") != strings.Join(want, "\n") {
		if diff = diffList(want, have); diff == "" {
			diff = "objects nfd did not make"
		}
	} else if noticedBy == "monitor" {
		if what, changed := kernel.RulesChanged(c, st.plans); changed {
			diff = what
		}
	}
	if diff == "" {
		return
	}
	d.log.Warn("nfd's nftables tables were changed by another tool; restoring them", "missing_or_extra", diff, "noticed_by", noticedBy)
	c, err = d.cfg.NewConn()
	if err == nil {
		err = kernel.ProgramPlans(c, d.mode, st.plans)
	}
	if err != nil {
		d.log.Error("restoring nfd's tables failed", "err", err)
		return
	}
	d.decidedAtProgram.Store(d.decidedTotal())
	d.Stats.Restores.Add(1)
}

func diffList(want, have []string) string {
	h := map[string]bool{}
	for _, x := range have {
		h[x] = true
	}
	var missing []string
	for _, x := range want {
		if !h[x] {
			missing = append(missing, x)
		}
	}
	return strings.Join(missing, ", ")
}

func (d *Daemon) watchTables(ctx context.Context) {
	var events chan *nftables.MonitorEvent
	// The monitor needs a lasting connection: on a per-request one
	// (google/nftables' default) no event ever arrives. It subscribes to
	// every event and nfd picks the deletions itself: google/nftables
	// v0.3.0 tests its action filter as (flags&1)<<type, so any filter
	// other than "all" drops every event.
	if c, err := nftables.New(nftables.AsLasting()); err == nil {
		defer c.CloseLasting()
		mon := nftables.NewMonitor()
		if ch, err := c.AddMonitor(mon); err == nil {
			events = ch
			defer mon.Close()
			d.monitorActive.Store(true)
		} else {
			d.log.Warn("nftables monitor unavailable; checking nfd's tables every 300ms", "err", err)
		}
	}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch ev.Type {
			case nftables.MonitorEventTypeDelTable, nftables.MonitorEventTypeDelChain,
				nftables.MonitorEventTypeDelRule, nftables.MonitorEventTypeDelSet:
			default:
				continue
			}
			// Let a burst of events (a whole flush) arrive, then look once.
			time.Sleep(50 * time.Millisecond)
			for drained := false; !drained; {
				select {
				case <-events:
				default:
					drained = true
				}
			}
			d.checkTables("monitor")
		case <-tick.C:
			d.checkTables("periodic check")
		}
	}
}
