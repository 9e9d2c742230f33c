package hooks

import (
	"context"
	"strings"
	"time"

	"github.com/nfdproject/nfd/kernel"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/internal/nlbatch"
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
		// The sets come back with the addresses learned from DNS.
		d.dnsMu.Lock()
		learnedInPlans(st)
		err = kernel.ProgramPlans(c, d.mode, st.plans)
		d.dnsMu.Unlock()
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
	// nlbatch.Monitor reads only each notification's type and sender:
	// a reload of 10^5 rules makes 2x10^5 of them, which
	// google/nftables' monitor would decode rule by rule. nfd's own
	// batches are recognized by their socket's port id and skipped.
	events := make(chan []nlbatch.Event, 16)
	if mon, err := nlbatch.NewMonitor(); err == nil {
		defer mon.Close()
		d.monitorActive.Store(true)
		// Both goroutines are the daemon's (Stop waits for them): the
		// reader ends when the monitor is closed, which the second does
		// when ctx ends.
		d.spawn(func() {
			defer close(events)
			for {
				evs, err := mon.Read()
				if err != nil {
					return
				}
				select {
				case events <- evs:
				case <-ctx.Done():
					return
				}
			}
		})
		d.spawn(func() { <-ctx.Done(); _ = mon.Close() })
	} else {
		events = nil
		d.log.Warn("nftables monitor unavailable; checking nfd's tables every 300ms", "err", err)
	}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case evs, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			why := foreignDeletion(evs)
			if why == "" {
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
			d.checkTables(why)
		case <-tick.C:
			d.checkTables("periodic check")
		}
	}
}

// foreignDeletion tells whether events hold a deletion another tool made
// ("monitor": tables, chains and rule counts are checked) or lost some
// events, as a large batch of nfd's own overflows the socket ("periodic
// check": tables and chains, as the timer does), or neither ("").
func foreignDeletion(evs []nlbatch.Event) string {
	why := ""
	for _, ev := range evs {
		if ev.Lost {
			why = "periodic check"
			continue
		}
		if ev.Ours {
			continue
		}
		switch ev.Type {
		case unix.NFT_MSG_DELTABLE, unix.NFT_MSG_DELCHAIN, unix.NFT_MSG_DELRULE, unix.NFT_MSG_DELSET:
			return "monitor"
		}
	}
	return why
}
