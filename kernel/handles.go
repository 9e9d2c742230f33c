package kernel

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/planner"
)

// Dumping a chain to learn its rules' handles costs the kernel time
// quadratic in its length (nf_tables_dump_rules skips the rules already
// sent for every buffer it fills: seconds at 10^5 rules). nfd knows the
// handles instead: the kernel gives each new chain, set and rule of a
// table the table's next handle (nf_tables_alloc_handle:
// ++table->hgenerator), in the batch's order, starting from 0 in a table
// the batch creates. So after a batch that created a table, or changed one
// whose last handle nfd knew, nfd knows every handle in it, as long as
// nothing else committed meanwhile: the ruleset generation (GETGEN) must
// be the one nfd's own commit made. Otherwise the next diff dumps.

// handleGen follows the handles one table's new objects take.
type handleGen struct{ last uint64 }

func (h *handleGen) take() uint64 {
	if h == nil {
		return 0
	}
	h.last++
	return h.last
}

// tableHandles is what nfd knows of one table it programmed.
type tableHandles struct {
	hgen   uint64              // the table's last handle
	chains map[string][]uint64 // each chain's rule handles, in order
}

// known is the handles of the tables the last batch in a namespace left,
// valid while the namespace's generation is gen.
type known struct {
	gen    uint32
	tables map[*planner.TablePlan]*tableHandles
}

// lastKnown is by namespace (nsID): the daemon has one, tests several.
var lastKnown struct {
	sync.Mutex
	k map[[2]uint64]*known
}

// nsID names a network namespace by its nsfs inode.
func nsID(fd int) [2]uint64 {
	var st unix.Stat_t
	var err error
	if fd > 0 {
		err = unix.Fstat(fd, &st)
	} else {
		err = unix.Stat("/proc/thread-self/ns/net", &st)
	}
	if err != nil {
		return [2]uint64{}
	}
	return [2]uint64{st.Dev, st.Ino}
}

// knownHandles returns what is known of the tables now, when the
// generation says nothing committed since nfd's last batch; and the
// generation read (ok false when unreadable).
func knownHandles(netnsFd int) (map[*planner.TablePlan]*tableHandles, uint32, bool) {
	gen, err := nlbatch.Generation(netnsFd)
	if err != nil {
		return nil, 0, false
	}
	lastKnown.Lock()
	defer lastKnown.Unlock()
	k := lastKnown.k[nsID(netnsFd)]
	if k == nil || k.gen != gen {
		return nil, gen, true
	}
	return k.tables, gen, true
}

// rememberHandles records the tables a batch committed at generation
// before+1 left; any other generation means another commit came between,
// and nothing is known.
func rememberHandles(netnsFd int, before uint32, ok bool, tables map[*planner.TablePlan]*tableHandles) {
	lastKnown.Lock()
	defer lastKnown.Unlock()
	id := nsID(netnsFd)
	delete(lastKnown.k, id)
	if !ok {
		return
	}
	gen, err := nlbatch.Generation(netnsFd)
	if err != nil || gen != before+1 {
		return
	}
	if lastKnown.k == nil {
		lastKnown.k = map[[2]uint64]*known{}
	}
	lastKnown.k[id] = &known{gen: gen, tables: tables}
}

// forgetHandles drops what is known (a batch failed: its handles were
// taken all the same).
func forgetHandles(netnsFd int) {
	lastKnown.Lock()
	delete(lastKnown.k, nsID(netnsFd))
	lastKnown.Unlock()
}
