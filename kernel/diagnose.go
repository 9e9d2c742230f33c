package kernel

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// When the kernel refuses a batch, netlink says why (an errno) but
// google/nftables does not say which message: nft -f attributes the error
// to a rule by its sequence number. nfd finds the culprit after the fact:
// it adds each of the plans' sets and rules, one per batch, to a
// throwaway table that hooks nowhere, and names the first one the kernel
// refuses by its file:line:col. This runs only after a failed commit,
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
	found, err := diagnose(newConn, plans, rs)
	if err != nil || found == nil {
		return fmt.Errorf("the kernel refused nfd's nftables batch: %w%s", commitErr, errnoHint(commitErr))
	}
	return found
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

func diagnoseTable(newConn func() (*nftables.Conn, error), tp *planner.TablePlan, rs *parser.Ruleset) (found error, err error) {
	c, err := newConn()
	if err != nil {
		return nil, err
	}
	t := &nftables.Table{Name: probeTableName(), Family: tp.Kernel.Family}
	c.AddTable(t)
	chains := map[string]*nftables.Chain{}
	for _, cp := range tp.Chains {
		chains[cp.Name] = c.AddChain(&nftables.Chain{Name: cp.Name, Table: t})
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	defer func() {
		c.DelTable(t)
		_ = c.Flush()
	}()
	ut := userTable(rs, tp)
	sets := map[uint32]planner.PendingSet{}
	for _, ps := range tp.Sets {
		if ps.Set.Anonymous {
			sets[ps.Set.ID] = ps
			continue
		}
		s := *ps.Set
		s.Table = t
		if err := c.AddSet(&s, ps.Elems); err != nil {
			return nil, err
		}
		if err := c.Flush(); err != nil {
			pos := parser.Pos{}
			if ut != nil {
				if us := ut.Set(ps.Set.Name); us != nil {
					pos = us.Pos
				}
			}
			return refused(pos, "set `"+ps.Set.Name+"`", err), nil
		}
	}
	for _, cp := range tp.Chains {
		for i, r := range cp.Rules {
			for _, e := range r {
				if l, ok := e.(*expr.Lookup); ok {
					if ps, ok := sets[l.SetID]; ok {
						s := *ps.Set
						s.Table = t
						if err := c.AddSet(&s, ps.Elems); err != nil {
							return nil, err
						}
					}
				}
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: chains[cp.Name], Exprs: r})
			if err := c.Flush(); err != nil {
				pos := parser.Pos{}
				if ut != nil && i < len(cp.Refs) {
					if uc := ut.Chain(cp.Name); uc != nil && cp.Refs[i].Index < len(uc.Rules) {
						pos = uc.Rules[cp.Refs[i].Index].Pos
					}
				}
				return refused(pos, "rule", err), nil
			}
		}
	}
	return nil, nil
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
