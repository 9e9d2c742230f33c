package rulegen

import (
	"math/rand/v2"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// KernelElems is a random kernel element list (for tests of the packed
// element forms) with every field a plan
// sets: keys, range ends, interval end flags, data, verdicts, timeouts,
// expiry and comments; plain (only 4-byte keys) when plain is set.
func KernelElems(r *rand.Rand, n int, plain bool) []nftables.SetElement {
	bs := func(min, max int) []byte {
		b := make([]byte, min+r.IntN(max-min+1))
		for i := range b {
			b[i] = byte(r.IntN(4)) // few values: equal keys happen
		}
		return b
	}
	els := make([]nftables.SetElement, n)
	for i := range els {
		e := &els[i]
		if plain {
			e.Key = bs(4, 4)
			continue
		}
		e.Key = bs(1, 6)
		if r.IntN(5) == 0 {
			e.KeyEnd = bs(1, 6)
		}
		e.IntervalEnd = r.IntN(4) == 0
		if r.IntN(4) == 0 {
			e.Val = bs(0, 5)
		}
		if r.IntN(4) == 0 {
			e.VerdictData = &expr.Verdict{Kind: expr.VerdictKind(r.IntN(7) - 5), Chain: string(bs(0, 3))}
		}
		if r.IntN(3) == 0 {
			e.Timeout = time.Duration(r.Int64N(1 << 40))
		}
		if r.IntN(5) == 0 {
			e.Expires = time.Duration(r.Int64N(1 << 40))
		}
		if r.IntN(4) == 0 {
			e.Comment = string(bs(1, 10))
		}
	}
	return els
}
