package hooks

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrReloadInProgress is the answer to a reload (or apply) asked for while
// another one runs: reloads never queue up behind each other.
var ErrReloadInProgress = errors.New("a reload is in progress; try again when it has finished")

// Reload loads file (or the current file when empty) as one transaction:
// on any error nothing changes. Conntrack state is kept.
//
// Only one reload runs at a time; a second one is refused at once with
// ErrReloadInProgress. Reading, parsing and compiling the file happen
// without d.mu, so status, metrics, trace and the packet path never wait
// for them; d.mu is held only while the new state is programmed. The
// reload gives up when ctx ends or the daemon stops.
func (d *Daemon) Reload(ctx context.Context, file string) error {
	if !d.reloadGate.TryLock() {
		return ErrReloadInProgress
	}
	defer d.reloadGate.Unlock()
	show := file
	if show == "" {
		show = d.st.Load().file
	}
	d.prog.begin("reload", show)
	defer d.prog.end()
	err := d.reloadOutsideLock(ctx, file)
	if err != nil {
		d.reloadErr.Add(1)
		d.lastFailed.Store(true)
		d.log.Error("reload failed; previous ruleset still active", "err", err)
		return err
	}
	d.reloads.Add(1)
	d.lastFailed.Store(false)
	d.lastSuccess.Store(time.Now().UnixNano())
	return nil
}

func (d *Daemon) reloadOutsideLock(ctx context.Context, file string) error {
	d.mu.Lock()
	dctx := d.ctx
	d.mu.Unlock()
	if dctx != nil { // Start ran: the daemon stopping ends the reload too
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(dctx, cancel)
		defer stop()
	}
	old := d.st.Load()
	if file == "" {
		file = old.file
	}
	st, err := d.load(ctx, file, old)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reload abandoned: %w", err)
	}
	if cur := d.st.Load(); cur != old {
		// An apply's rollback replaced the ruleset meanwhile: compile
		// again so that the rules it runs now lend their counters.
		old = cur
		if st, err = d.load(ctx, file, old); err != nil {
			return err
		}
	}
	return d.commit(old, st, file, file)
}
