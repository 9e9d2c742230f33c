package hooks

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/google/nftables"
)

// Guarding nfd's tables: if another tool flushes the ruleset or deletes
// nfd's tables or chains, nfd notices, by nftables monitor events where
// they arrive and by comparing its objects with the kernel's every 300 ms
// (one table and chain dump), and restores them in one batch, within a
// second. Deleting single rules inside nfd's chains is not
// noticed. The watcher goroutine is started by Start and ends with the
// daemon's context.

// expectedObjects lists "family table chain" of what st programs.
func expectedObjects(st *state) []string {
	var out []string
	for _, tp := range st.plans {
		fam := tp.Family.String()
		name := KernelTableName(tp.Name)
		out = append(out, fam+" "+name)
		for _, cp := range tp.Chains {
			out = append(out, fam+" "+name+" "+cp.Name)
			if cp.Queue && cp.BypassBit != 0 {
				out = append(out, fam+" "+name+" nfd-bypass-"+cp.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func kernelObjects(c *nftables.Conn) ([]string, error) {
	tables, err := ownedTables(c)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range tables {
		out = append(out, familyName(t.Family)+" "+t.Name)
	}
	chains, err := c.ListChains()
	if err != nil {
		return nil, err
	}
	for _, ch := range chains {
		if strings.HasPrefix(ch.Table.Name, TablePrefix) {
			out = append(out, familyName(ch.Table.Family)+" "+ch.Table.Name+" "+ch.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// checkTables restores nfd's tables if they no longer match what runs.
func (d *Daemon) checkTables() {
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
	have, err := kernelObjects(c)
	if err != nil {
		return
	}
	want := expectedObjects(st)
	if strings.Join(have, "\n") == strings.Join(want, "\n") {
		return
	}
	d.log.Warn("nfd's nftables tables were changed by another tool; restoring them", "missing_or_extra", diffList(want, have))
	c, err = d.cfg.NewConn()
	if err == nil {
		err = ProgramPlans(c, d.mode, st.plans)
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
	if c, err := d.cfg.NewConn(); err == nil {
		mon := nftables.NewMonitor(nftables.WithMonitorAction(nftables.MonitorActionDel),
			nftables.WithMonitorObject(nftables.MonitorObjectTables|nftables.MonitorObjectChains|nftables.MonitorObjectRules))
		if ch, err := c.AddMonitor(mon); err == nil {
			events = ch
			defer mon.Close()
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
		case _, ok := <-events:
			if !ok {
				events = nil
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
			d.checkTables()
		case <-tick.C:
			d.checkTables()
		}
	}
}
