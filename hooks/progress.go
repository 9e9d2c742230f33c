package hooks

import (
	"sync/atomic"
	"time"
)

// Load phases, in order: what a start, reload or apply is doing.
const (
	PhaseReading     = "reading"
	PhaseParsing     = "parsing"
	PhaseCompiling   = "compiling"
	PhasePlanning    = "planning"
	PhaseProgramming = "programming"
)

var phaseStep = map[string]int{PhaseReading: 1, PhaseParsing: 2, PhaseCompiling: 3, PhasePlanning: 4, PhaseProgramming: 5}

// LoadProgress is where a load in progress is, as status shows it.
type LoadProgress struct {
	Kind  string `json:"kind"` // start, reload, apply or rollback
	File  string `json:"file"`
	Phase string `json:"phase"`
	// Step is the phase's place among Steps (reading 1 ... programming 5).
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Bytes is the file's size once read (includes too); Rules and Sets
	// count the parsed ruleset's rules and set elements once parsed.
	Bytes    int     `json:"bytes,omitempty"`
	Rules    int     `json:"rules,omitempty"`
	Elements int     `json:"set_elements,omitempty"`
	Seconds  float64 `json:"elapsed_seconds"`
	// PhaseSeconds is the time spent in the current phase so far.
	PhaseSeconds float64   `json:"phase_elapsed_seconds"`
	Since        time.Time `json:"since"`
	phaseSince   time.Time
}

// Progress tracks the load in progress, if any. Its methods may be called
// from any goroutine: status reads it without a lock while a load runs.
// The zero value is ready to use; a nil one tracks nothing.
type Progress struct {
	cur atomic.Pointer[LoadProgress]
	// onPhase, when set, hears every phase change (the daemon's log).
	onPhase func(LoadProgress)
}

// begin starts tracking a load of file.
func (p *Progress) begin(kind, file string) {
	if p == nil {
		return
	}
	now := time.Now()
	p.cur.Store(&LoadProgress{Kind: kind, File: file, Phase: PhaseReading, Step: 1, Steps: len(phaseStep), Since: now, phaseSince: now})
}

// update copies the current progress, lets f change it and publishes it.
func (p *Progress) update(f func(*LoadProgress)) {
	if p == nil {
		return
	}
	cur := p.cur.Load()
	if cur == nil {
		return
	}
	n := *cur
	f(&n)
	p.cur.Store(&n)
}

// phase moves the load to its next phase.
func (p *Progress) phase(name string) {
	if p == nil {
		return
	}
	p.update(func(l *LoadProgress) {
		l.Phase, l.Step, l.phaseSince = name, phaseStep[name], time.Now()
	})
	if l := p.Current(); l != nil && p.onPhase != nil {
		p.onPhase(*l)
	}
}

// end stops tracking: no load is in progress.
// Every begin has one end.
func (p *Progress) end() {
	if p == nil {
		return
	}
	p.cur.Store(nil)
}

// Current is the load in progress, nil when none is.
func (p *Progress) Current() *LoadProgress {
	if p == nil {
		return nil
	}
	cur := p.cur.Load()
	if cur == nil {
		return nil
	}
	l := *cur
	now := time.Now()
	l.Seconds = now.Sub(l.Since).Seconds()
	l.PhaseSeconds = now.Sub(l.phaseSince).Seconds()
	return &l
}

// Busy reports whether a load is in progress.
func (p *Progress) Busy() bool { return p.Current() != nil }
