package kernel

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// When the kernel refuses a batch, it says which message failed: the
// error carries the message's sequence number, and nlbatch maps it back to
// the message's tag, so a refused rule or set is named at once by its
// file:line:col, as nft -f does. Some refusals name no message: those
// the kernel finds at commit (nf_tables_commit), after every message was
// taken. For them nfd bisects: it adds a prefix of the table's sets and
// rules to a throwaway table that hooks nowhere, commits, removes it, and
// halves the prefix until it finds the first set or rule whose addition
// fails: about log2(n) batches. This runs only after a failed commit,
// which changed nothing (batches are atomic); the probe table is removed
// before it returns. Checks the kernel makes only for chains reachable
// from a hook (NAT or reject at the wrong hook) are not reproduced there;
// the parser refuses those before anything reaches the kernel.

// probeTableName does not start with planner.TablePrefix, so nothing else of nfd
// (restores, removal) ever takes it for one of its own tables.
func probeTableName() string { return fmt.Sprintf("nfdprobe_%d", os.Getpid()) }

// ExplainCommit turns a failed commit of plans into an error naming what
// the kernel refused, when it can find it.
func ExplainCommit(newConn func() (*nftables.Conn, error), plans []*planner.TablePlan, rs *parser.Ruleset, commitErr error) error {
	if found := tagged(rs, commitErr); found != nil {
		return found
	}
	found, err := diagnose(newConn, plans, rs)
	if err != nil || found == nil {
		return fmt.Errorf("the kernel refused nfd's nftables batch: %w%s", commitErr, errnoHint(commitErr))
	}
	return found
}

// tagged names the rule or set of the message the kernel refused, when
// the error says which one it was.
func tagged(rs *parser.Ruleset, err error) error {
	var be *nlbatch.Error
	if !errors.As(err, &be) {
		return nil
	}
	tag, ok := be.Tag.(batchTag)
	if !ok || tag.tp == nil {
		return nil
	}
	ut := userTable(rs, tag.tp)
	switch {
	case tag.ref != nil:
		return refused(rulePos(ut, *tag.ref), "rule", err)
	case tag.set != "":
		pos := parser.Pos{}
		if ut != nil {
			if us := ut.Set(tag.set); us != nil {
				pos = us.Pos
			}
		}
		return refused(pos, "set `"+tag.set+"`", err)
	case tag.chain != "":
		pos := parser.Pos{}
		if ut != nil {
			if uc := ut.Chain(tag.chain); uc != nil {
				pos = uc.Pos
			}
		}
		return refused(pos, tag.what+" of chain `"+tag.chain+"`", err)
	}
	return nil
}

func rulePos(ut *parser.Table, ref planner.RuleRef) parser.Pos {
	if ut != nil {
		if uc := ut.Chain(ref.Chain); uc != nil && ref.Index < len(uc.Rules) {
			return uc.Rules[ref.Index].Pos
		}
	}
	return parser.Pos{}
}

func diagnose(newConn func() (*nftables.Conn, error), plans []*planner.TablePlan, rs *parser.Ruleset) (error, error) {
	for _, tp := range plans {
		found, err := diagnoseTable(newConn, tp, rs)
		if found != nil || err != nil {
			return found, err
		}
	}
	return nil, nil
}

// probeItem is one named set, or one rule with the anonymous sets it binds.
type probeItem struct {
	set   *planner.PendingSet
	chain string
	rule  []expr.Any
	ref   planner.RuleRef
	anon  []planner.PendingSet
}

func probeItems(tp *planner.TablePlan) []probeItem {
	var items []probeItem
	anon := map[uint32]planner.PendingSet{}
	for i, ps := range tp.Sets {
		if ps.Set.Anonymous {
			anon[ps.Set.ID] = ps
			continue
		}
		items = append(items, probeItem{set: &tp.Sets[i]})
	}
	for _, cp := range tp.Chains {
		add := func(r []expr.Any, ref planner.RuleRef) {
			it := probeItem{chain: cp.Name, rule: r, ref: ref}
			for _, e := range r {
				if l, ok := e.(*expr.Lookup); ok {
					if ps, ok := anon[l.SetID]; ok {
						it.anon = append(it.anon, ps)
					}
				}
			}
			items = append(items, it)
		}
		for i, r := range cp.Rules {
			add(r, cp.Refs[i])
		}
		for i, r := range cp.After {
			add(r, cp.AfterRefs[i])
		}
	}
	return items
}

// diagnoseTable finds the first item of tp whose addition the kernel
// refuses, by bisection over prefixes.
func diagnoseTable(newConn func() (*nftables.Conn, error), tp *planner.TablePlan, rs *parser.Ruleset) (found error, err error) {
	c, err := newConn()
	if err != nil {
		return nil, err
	}
	items := probeItems(tp)
	ut := userTable(rs, tp)
	name := func(it probeItem, err error) error {
		if it.set != nil {
			pos := parser.Pos{}
			if ut != nil {
				if us := ut.Set(it.set.Set.Name); us != nil {
					pos = us.Pos
				}
			}
			return refused(pos, "set `"+it.set.Set.Name+"`", err)
		}
		return refused(rulePos(ut, it.ref), "rule", err)
	}
	// try commits items[:n] into the probe table and removes it; a
	// refusal the kernel pins on one message is the answer at once.
	var lastErr error
	try := func(n int) (ok bool, named error, err error) {
		perr := probe(c, tp, items[:n])
		if perr == nil {
			return true, nil, nil
		}
		var be *nlbatch.Error
		if !errors.As(perr, &be) {
			return false, nil, perr
		}
		if i, ok := be.Tag.(int); ok && i >= 0 {
			return false, name(items[i], perr), nil
		}
		lastErr = perr
		return false, nil, nil
	}
	ok, named, err := try(len(items))
	if ok || named != nil || err != nil {
		return named, err
	}
	lo, hi := 0, len(items) // items[:lo] commit, items[:hi] do not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		ok, named, err := try(mid)
		if named != nil || err != nil {
			return named, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	if hi == 0 {
		return nil, nil
	}
	if _, _, err := try(hi); err != nil {
		return nil, err
	}
	return name(items[hi-1], lastErr), nil
}

// probe commits items into a throwaway table with tp's chains (hooked
// nowhere) and then deletes that table.
func probe(c *nftables.Conn, tp *planner.TablePlan, items []probeItem) error {
	b := nlbatch.New()
	bc := b.Conn()
	t := &nftables.Table{Name: probeTableName(), Family: tp.Kernel.Family}
	bc.AddTable(t)
	b.Tag(-1)
	chains := map[string]*nftables.Chain{}
	for _, cp := range tp.Chains {
		chains[cp.Name] = bc.AddChain(&nftables.Chain{Name: cp.Name, Table: t})
		b.Tag(-1)
	}
	for i, it := range items {
		if it.set != nil {
			s := *it.set.Set
			s.Table = t
			b.AddSet(&s, it.set.Elements(), i)
			continue
		}
		for _, ps := range it.anon {
			s := *ps.Set
			s.Table = t
			b.AddSet(&s, ps.Elems, i)
		}
		bc.AddRule(&nftables.Rule{Table: t, Chain: chains[it.chain], Exprs: it.rule})
		b.Tag(i)
	}
	msgs, tags, err := b.Messages()
	if err != nil {
		return err
	}
	err = nlbatch.Send(c.NetNS, msgs, tags)
	if err == nil {
		d := nlbatch.New()
		d.Conn().DelTable(t)
		d.Tag(-1)
		msgs, tags, derr := d.Messages()
		if derr == nil {
			derr = nlbatch.Send(c.NetNS, msgs, tags)
		}
		if derr != nil {
			return fmt.Errorf("removing the probe table: %w", derr)
		}
	}
	return err
}

func userTable(rs *parser.Ruleset, tp *planner.TablePlan) *parser.Table {
	if rs == nil {
		return nil
	}
	for _, t := range rs.Tables {
		if t.Family == tp.Family && t.Name == tp.Name {
			return t
		}
	}
	return nil
}

func refused(pos parser.Pos, what string, err error) error {
	msg := fmt.Sprintf("the kernel refused this %s: %v%s", what, errnoOf(err), errnoHint(err))
	if pos.Line == 0 {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", pos, msg)
}

func errnoOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// errnoHint says what an errno from nf_tables usually means.
func errnoHint(err error) string {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch errno {
	case unix.EOVERFLOW:
		return " (a value is beyond what the kernel can hold, such as a limit's burst at its rate)"
	case unix.ENOENT:
		return " (the kernel lacks an expression this needs: its CONFIG_NFT_* option or module)"
	case unix.EOPNOTSUPP:
		return " (not supported by this kernel)"
	case unix.ENFILE:
		return " (a set is full: more elements than its size)"
	case unix.EEXIST:
		return " (an element or interval overlaps another)"
	case unix.ENAMETOOLONG:
		return " (a name is longer than the kernel takes)"
	}
	return ""
}
