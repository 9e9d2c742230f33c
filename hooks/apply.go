package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nfdproject/nfd/parser"
)

// Apply with automatic rollback, as Junos `commit confirmed` and
// iptables-apply do: a ruleset applied with a deadline reverts to the one
// before unless confirmed in time. The previous ruleset's text and the
// deadline are kept in the state directory, so a daemon restarted within
// the window still rolls back. d.mu guards the timer.

// pendingApply is the state directory's pending.json.
type pendingApply struct {
	Deadline     time.Time `json:"deadline"`
	PreviousFile string    `json:"previous_file"` // where the previous ruleset came from
	Applied      string    `json:"applied"`
}

const (
	pendingName  = "pending.json"
	rollbackName = "rollback.nft"
)

// ErrNoPending: confirm without a pending apply.
var ErrNoPending = errors.New("no apply is waiting for confirmation")

func (d *Daemon) stateFile(name string) string { return filepath.Join(d.cfg.StateDir, name) }

// Apply loads file like a reload and arms a rollback to the current
// ruleset after timeout, unless Confirm comes first.
func (d *Daemon) Apply(file string, timeout time.Duration) (time.Time, error) {
	if d.cfg.StateDir == "" {
		return time.Time{}, errors.New("apply needs a state directory (--state-dir)")
	}
	if timeout <= 0 {
		return time.Time{}, errors.New("apply needs a positive confirmation timeout")
	}
	if !d.reloadGate.TryLock() {
		return time.Time{}, ErrReloadInProgress
	}
	defer d.reloadGate.Unlock()
	d.prog.begin("apply", file)
	defer d.prog.end()
	// As in Reload, the file is read, parsed and compiled without d.mu:
	// status, metrics and the packet path do not wait for it.
	if dl, ok := d.Pending(); ok {
		return time.Time{}, fmt.Errorf("an apply is already waiting for confirmation until %s", dl.Format(time.RFC3339))
	}
	d.mu.Lock()
	dctx := d.ctx
	d.mu.Unlock()
	if dctx == nil {
		dctx = context.Background()
	}
	old := d.st.Load()
	src, err := parser.ReadRuleFile(old.file)
	if err != nil {
		return time.Time{}, fmt.Errorf("saving the current ruleset for rollback: %w", err)
	}
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil {
		return time.Time{}, err
	}
	if err := os.WriteFile(d.stateFile(rollbackName), src, 0o600); err != nil {
		return time.Time{}, err
	}
	fail := func(err error) (time.Time, error) {
		d.reloadErr.Add(1)
		d.lastFailed.Store(true)
		return time.Time{}, err
	}
	st, err := d.load(dctx, file, old)
	if err != nil {
		return fail(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending != nil {
		return time.Time{}, fmt.Errorf("an apply is already waiting for confirmation until %s", d.pending.Deadline.Format(time.RFC3339))
	}
	if err := dctx.Err(); err != nil {
		return fail(fmt.Errorf("apply abandoned: %w", err))
	}
	if cur := d.st.Load(); cur != old {
		// Replaced meanwhile: compile again so that the rules running
		// now lend their counters.
		old = cur
		if st, err = d.load(dctx, file, old); err != nil {
			return fail(err)
		}
	}
	if err := d.commit(old, st, file, file); err != nil {
		return fail(err)
	}
	d.reloads.Add(1)
	d.lastFailed.Store(false)
	d.lastSuccess.Store(time.Now().UnixNano())
	p := &pendingApply{Deadline: time.Now().Add(timeout), PreviousFile: old.file, Applied: file}
	b, _ := json.Marshal(p)
	if err := os.WriteFile(d.stateFile(pendingName), b, 0o600); err != nil {
		return time.Time{}, err
	}
	d.armRollback(p)
	d.log.Warn("ruleset applied; it reverts unless confirmed", "file", file, "deadline", p.Deadline.Format(time.RFC3339))
	return p.Deadline, nil
}

// armRollback starts the timer. Called with d.mu held.
func (d *Daemon) armRollback(p *pendingApply) {
	d.pending = p
	dl := p.Deadline
	d.pendingDeadline.Store(&dl)
	d.rollback = time.AfterFunc(time.Until(p.Deadline), d.doRollback)
}

func (d *Daemon) doRollback() {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pending
	if p == nil || d.ctx.Err() != nil { // confirmed, or stopping: the next start resumes it
		return
	}
	d.pending, d.rollback = nil, nil
	d.pendingDeadline.Store(nil)
	d.prog.begin("rollback", p.PreviousFile)
	defer d.prog.end()
	err := d.reloadAs(d.stateFile(rollbackName), p.PreviousFile)
	if err != nil {
		d.reloadErr.Add(1)
		d.log.Error("rollback failed; the applied ruleset stays", "err", err)
		return
	}
	_ = os.Remove(d.stateFile(pendingName))
	d.log.Warn("apply not confirmed in time: previous ruleset restored", "file", p.PreviousFile)
}

// Confirm keeps the applied ruleset.
func (d *Daemon) Confirm() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending == nil {
		return ErrNoPending
	}
	d.rollback.Stop()
	d.pending, d.rollback = nil, nil
	d.pendingDeadline.Store(nil)
	_ = os.Remove(d.stateFile(pendingName))
	_ = os.Remove(d.stateFile(rollbackName))
	d.log.Info("apply confirmed")
	return nil
}

// Pending returns the rollback deadline, if an apply waits.
// It takes no lock: status asks while a load holds d.mu.
func (d *Daemon) Pending() (time.Time, bool) {
	dl := d.pendingDeadline.Load()
	if dl == nil {
		return time.Time{}, false
	}
	return *dl, true
}

// resumePending re-arms a rollback left by a previous daemon: at once if
// its deadline passed while nfd was down. Called by Start with d.mu held.
func (d *Daemon) resumePending() {
	if d.cfg.StateDir == "" {
		return
	}
	b, err := os.ReadFile(d.stateFile(pendingName))
	if err != nil {
		return
	}
	var p pendingApply
	if json.Unmarshal(b, &p) != nil {
		return
	}
	d.log.Warn("resuming a pending apply from before the restart", "deadline", p.Deadline.Format(time.RFC3339))
	d.armRollback(&p)
}
