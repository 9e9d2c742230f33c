package kernel

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// KernelChain is one base chain nfd creates: the same family, hook and
// priority as the user's chain, ending in a queue rule to its queue group.
type KernelChain struct {
	Family     parser.Family
	Table      string // the user's table name; the kernel table is planner.TablePrefix+Table
	Chain      string
	Hook       parser.Hook
	Priority   int
	Policy     parser.VerdictKind
	QueueNum   uint16
	QueueTotal uint16
}

// familyName is the nft name of a table family.
func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	}
	return fmt.Sprint(f)
}

// ownedTables lists the tables nfd owns now (by prefix).
func ownedTables(c *nftables.Conn) ([]*nftables.Table, error) {
	ts, err := c.ListTables()
	if err != nil {
		return nil, err
	}
	var out []*nftables.Table
	for _, t := range ts {
		if strings.HasPrefix(t.Name, planner.TablePrefix) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Program makes nfd's tables hold exactly chains, each with only its queue
// rule, in one batch (ProgramPlans: leftovers of a crashed run go in the
// same transaction).
func Program(c *nftables.Conn, mode QueueMode, chains []KernelChain) error {
	return ProgramPlans(c, mode, queueOnlyPlans(chains))
}

// queueOnlyPlans lays out kernel chains that hold nothing but their queue
// rule, one table per user table.
func queueOnlyPlans(chains []KernelChain) []*planner.TablePlan {
	var plans []*planner.TablePlan
	byTable := map[string]*planner.TablePlan{}
	for _, kc := range chains {
		key := kc.Family.String() + " " + kc.Table
		tp := byTable[key]
		if tp == nil {
			tp = &planner.TablePlan{Family: kc.Family, Name: kc.Table,
				Kernel: &nftables.Table{Name: planner.KernelTableName(kc.Table), Family: planner.TableFamily(kc.Family)}}
			byTable[key] = tp
			plans = append(plans, tp)
		}
		tp.Chains = append(tp.Chains, &planner.ChainPlan{Name: kc.Chain, Queue: true, QueueNum: kc.QueueNum, QueueTotal: kc.QueueTotal,
			Base: &parser.BaseSpec{Type: parser.ChainFilter, Hook: kc.Hook, Priority: kc.Priority, Policy: kc.Policy}})
	}
	return plans
}

// Remove deletes every table nfd owns, in one batch.
func Remove(c *nftables.Conn) error {
	old, err := ownedTables(c)
	if err != nil {
		return err
	}
	if len(old) == 0 {
		return nil
	}
	for _, t := range old {
		c.DelTable(t)
	}
	return c.Flush()
}

// OwnedTables names nfd's tables now in the kernel ("family name").
func OwnedTables(c *nftables.Conn) ([]string, error) {
	ts, err := ownedTables(c)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range ts {
		out = append(out, familyName(t.Family)+" "+t.Name)
	}
	return out, nil
}

// bigReceiveBuffer lets a large batch's acknowledgements fit: the kernel
// answers every message of a transaction, and a ruleset with thousands of
// rules overflows the default buffer (ENOBUFS).
func bigReceiveBuffer(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
	}); err != nil {
		return err
	}
	if serr != nil {
		return c.SetReadBuffer(32 << 20)
	}
	return nil
}

// NewConn opens an nftables connection in the current namespace, or in
// the one of netnsFd when it is not negative.
func NewConn(netnsFd int) (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(bigReceiveBuffer)}
	if netnsFd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFd))
	}
	return nftables.New(opts...)
}
