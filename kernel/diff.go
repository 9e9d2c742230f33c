package kernel

import (
	"fmt"

	"github.com/google/nftables"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/planner"
)

// Programmed says how ProgramDiff made the tables.
type Programmed struct {
	// Full counts the tables programmed whole: new ones, and those the
	// kernel did not hold as the old plans say (another tool changed
	// them) or whose named set changed its definition.
	Full int
	// Messages is the size of the batch.
	Messages int
	// Dumped counts the chains whose handles were dumped from the
	// kernel (nothing known of them: another commit came between).
	Dumped int
}

// ProgramDiff makes nfd's tables what plans say, changing only what
// differs from old, the plans the kernel holds now (the previous
// ProgramPlans or ProgramDiff), in one batch. In a table and chain both
// have, unchanged rules stay (their handles and counters too), removed
// ones are deleted by handle and new ones added at their position; a
// named set whose definition is unchanged stays, with the elements the
// kernel added to it, and only the elements the file added or removed
// change. Chains, sets and tables that come or go, and base chains whose
// hook changes, are added or deleted as ProgramPlans does. A table the
// kernel does not hold as old says (its chain lengths differ) is
// programmed whole in the same batch. When the kernel refuses the batch,
// ProgramDiff programs the plans whole (ProgramPlans) and returns its
// outcome.
func ProgramDiff(c *nftables.Conn, mode QueueMode, old, plans []*planner.TablePlan) (Programmed, error) {
	if old == nil {
		return Programmed{Full: len(plans)}, ProgramPlans(c, mode, plans)
	}
	knownTabs, gen, genOK := knownHandles(c.NetNS)
	b, res, handles, err := diffBatch(c, mode, old, plans, knownTabs)
	if err != nil {
		return res, err
	}
	res.Messages = b.Len()
	if err := sendBatch(c, b, nil); err != nil {
		forgetHandles(c.NetNS)
		return Programmed{Full: len(plans)}, ProgramPlans(c, mode, plans)
	}
	rememberHandles(c.NetNS, gen, genOK, handles)
	return res, nil
}

// diffBatch builds ProgramDiff's batch.
func diffBatch(c *nftables.Conn, mode QueueMode, old, plans []*planner.TablePlan, knownTabs map[*planner.TablePlan]*tableHandles) (*nlbatch.Batch, Programmed, map[*planner.TablePlan]*tableHandles, error) {
	var res Programmed
	handles := map[*planner.TablePlan]*tableHandles{}
	have, err := ownedTables(c)
	if err != nil {
		return nil, res, nil, fmt.Errorf("listing tables: %w", err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return nil, res, nil, fmt.Errorf("listing chains: %w", err)
	}
	wanted := map[string]bool{}
	for _, tp := range plans {
		wanted[tableKey(tp.Kernel)] = true
	}
	oldOf := map[string]*planner.TablePlan{}
	for _, tp := range old {
		oldOf[tableKey(tp.Kernel)] = tp
	}
	kernelChains := map[string][]*nftables.Chain{}
	for _, ch := range chains {
		k := tableKey(ch.Table)
		kernelChains[k] = append(kernelChains[k], ch)
	}
	b := nlbatch.New()
	existing := map[string]*nftables.Table{}
	for _, t := range have {
		if !wanted[tableKey(t)] {
			b.Conn().DelTable(t)
			b.Tag(batchTag{what: "old table"})
			continue
		}
		existing[tableKey(t)] = t
	}
	for _, tp := range plans {
		k := tableKey(tp.Kernel)
		wt := desired(mode, tp)
		kt := existing[k]
		if kt == nil {
			res.Full++
			h := &handleGen{}
			handles[tp] = &tableHandles{chains: addTable(b, wt, h)}
			handles[tp].hgen = h.last
			continue
		}
		if otp := oldOf[k]; otp != nil {
			kh := knownTabs[otp]
			if d := diffTable(c, desired(mode, otp), wt, kernelChains[k], kh); d != nil {
				if kh == nil {
					res.Dumped += len(d.keeps)
				}
				d.emit(b)
				if th := d.after(wt); th != nil {
					handles[tp] = th
				}
				continue
			}
		}
		res.Full++
		if err := replaceTable(b, c, kt, kernelChains[k], wt); err != nil {
			return nil, res, nil, err
		}
	}
	return b, res, handles, nil
}

// replaceTable programs a table the kernel has whole: its rules flushed
// and added again, its named sets replaced, and only base chains whose
// hook, priority or type changed deleted and re-created. Keeping the
// hooks registered matters: unregistering one drops every packet still
// waiting in a queue for a verdict (nf_queue_nf_hook_drop), so a reload
// that re-created the tables would lose the packets in flight.
func replaceTable(b *nlbatch.Batch, c *nftables.Conn, kt *nftables.Table, kchains []*nftables.Chain, wt *wantTable) error {
	bc := b.Conn()
	bc.FlushTable(kt)
	b.Tag(batchTag{what: "old table"})
	sets, err := c.GetSets(kt)
	if err != nil {
		return fmt.Errorf("listing sets: %w", err)
	}
	for _, s := range sets {
		if !s.Anonymous {
			bc.DelSet(s)
			b.Tag(batchTag{what: "old set"})
		}
	}
	if err := delKernelObjects(c, b, kt); err != nil {
		return err
	}
	for _, ch := range kchains {
		if kc := wt.tp.ChainSpec(ch.Name); kc != nil && sameHook(kc, ch) {
			continue // stays registered; its rules were flushed
		}
		bc.DelChain(ch)
		b.Tag(batchTag{what: "old chain"})
	}
	addTable(b, wt, nil)
	return nil
}
