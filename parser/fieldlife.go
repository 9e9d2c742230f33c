package parser

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// The field table's lifetime. The fields of fieldtable.go are interned at
// init and are static. A ruleset makes up more (raw payloads `@th,16,16`,
// fib and hash variants, option offsets, ...): those are dynamic entries,
// deduplicated by content and reference-counted by the rulesets that use
// them. A parse collects its dynamic fields in a fieldOwner that every
// part of the ruleset able to hold a Field (the Ruleset, its tables, sets
// and rules) points to; when none of them is reachable any more — a
// reload's replaced ruleset, a `nfd check` done — the garbage collector
// runs the owner's cleanup, which drops its references, and an entry no
// ruleset uses frees its slot for the next parse. The table is thus
// bounded by what the live rulesets use, not by what was ever loaded.
//
// The table is a fixed array so that entries never move: the evaluator
// reads an entry (without a lock) while a reload interns others; a slot
// is rewritten only once no reachable ruleset names it. A Field is valid
// as long as the ruleset it came from is reachable: code that keeps a
// Field must keep its ruleset (rules.Engine keeps its Ruleset). Freed
// slots keep their entry and are reused oldest first, and only once the
// table has no fresh slot left, so a Field kept past its ruleset by
// mistake stays right for as long as possible.

// maxFields bounds the table: static fields plus the dynamic fields of
// the live rulesets.
const maxFields = 4096

var (
	fieldMu  sync.Mutex
	fieldTab [maxFields]FieldInfo
	// fieldCount: slots ever used (the high-water mark); staticFields:
	// the slots below are permanent (set at the end of init).
	fieldCount   = int(numNamedFields)
	staticFields = maxFields
	fieldIndex   = map[FieldInfo]Field{}
	fieldRefs    [maxFields]int32 // owners of each dynamic field
	freeFields   []Field          // released dynamic slots
	// byName: printed name → field, for named fields of the table.
	byName = map[string]Field{}
)

// sealStaticFields makes every field interned so far permanent.
func sealStaticFields() {
	fieldMu.Lock()
	staticFields = fieldCount
	fieldMu.Unlock()
}

// fieldOwner holds one parse's references to dynamic fields. It is
// reachable from every object of the parsed ruleset that carries fields;
// its cleanup releases them (see above).
type fieldOwner struct {
	refs *ownerRefs
	// full: the table was full for this parse even after collecting;
	// later fields fail at once.
	full bool
}

// ownerRefs is the cleanup's argument: separate from the owner, as
// runtime.AddCleanup requires.
type ownerRefs struct {
	fields []Field
	seen   map[Field]bool
}

func newFieldOwner() *fieldOwner {
	return &fieldOwner{refs: &ownerRefs{seen: map[Field]bool{}}}
}

// attach makes every object of rs that can carry a field point to o, and
// registers o's cleanup: once none of them is reachable, o's fields are
// released.
func (o *fieldOwner) attach(rs *Ruleset) {
	if len(o.refs.fields) == 0 {
		return // only static fields: nothing to own
	}
	rs.fields = o
	for _, t := range rs.Tables {
		t.fields = o
		for _, s := range t.Sets {
			s.fields = o
		}
		for _, c := range t.Chains {
			c.fields = o
			for _, r := range c.Rules {
				r.fields = o
			}
		}
	}
	runtime.AddCleanup(o, releaseFields, o.refs)
}

// addRefs makes o reference fs too: the dynamic fields of statements a
// parse takes from an earlier one (memo.go), alive while that one is.
func (o *fieldOwner) addRefs(fs []Field) {
	if len(fs) == 0 {
		return
	}
	fieldMu.Lock()
	defer fieldMu.Unlock()
	for _, f := range fs {
		if !o.refs.seen[f] {
			o.refs.seen[f] = true
			o.refs.fields = append(o.refs.fields, f)
			fieldRefs[f]++
		}
	}
}

// releaseNow drops the references of a parse that produced no ruleset.
func (o *fieldOwner) releaseNow() { releaseFields(o.refs) }

func releaseFields(r *ownerRefs) {
	fieldMu.Lock()
	defer fieldMu.Unlock()
	for _, f := range r.fields {
		fieldRefs[f]--
		if fieldRefs[f] == 0 {
			delete(fieldIndex, fieldTab[f])
			hashMu.Lock()
			delete(hashSources, f)
			hashMu.Unlock()
			freeFields = append(freeFields, f)
		}
	}
	r.fields, r.seen = nil, nil
}

// internFor returns the field described by fi, adding it to the table if
// it is new; a dynamic field is referenced by o until o is released.
// Fields are interned at parse time, never on the packet path.
func internFor(fi FieldInfo, o *fieldOwner) (Field, error) {
	for attempt := 0; ; attempt++ {
		f, ok := tryIntern(fi, o)
		if ok {
			return f, nil
		}
		if attempt == collectAttempts || o == nil || o.full {
			if o != nil {
				o.full = true
			}
			return 0, fmt.Errorf("too many distinct fields in use (at most %d): the ruleset names too many raw payloads, options or fib/hash variants", maxFields-staticFields)
		}
		// The table is full of entries: some may belong to rulesets
		// nothing references any more, whose cleanups have not run yet.
		runtime.GC()
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
}

// collectAttempts bounds the garbage collections a full table waits for.
const collectAttempts = 20

func tryIntern(fi FieldInfo, o *fieldOwner) (Field, bool) {
	fieldMu.Lock()
	defer fieldMu.Unlock()
	f, ok := fieldIndex[fi]
	if !ok {
		switch {
		case fieldCount < maxFields:
			f = Field(fieldCount)
			fieldCount++
		case len(freeFields) > 0:
			f = freeFields[0]
			freeFields = freeFields[1:]
		default:
			return 0, false
		}
		fieldTab[f] = fi
		fieldIndex[fi] = f
	}
	if int(f) >= staticFields && o != nil && !o.refs.seen[f] {
		o.refs.seen[f] = true
		o.refs.fields = append(o.refs.fields, f)
		fieldRefs[f]++
	}
	return f, true
}

func mustIntern(fi FieldInfo) Field {
	f, err := internFor(fi, nil)
	if err != nil {
		panic(err)
	}
	return f
}

// DynamicFields is the number of dynamic entries in the table now (for
// tests and metrics).
func DynamicFields() int {
	fieldMu.Lock()
	defer fieldMu.Unlock()
	return fieldCount - staticFields - len(freeFields)
}
