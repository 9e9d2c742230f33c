package rules

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/parser"
)

// TestLimitObjectCarriesOver: a named limit keeps its bucket across a
// reload that keeps the object unchanged (other rules may change), as
// named counters and quotas keep their state; a changed limit starts
// full.
func TestLimitObjectCarriesOver(t *testing.T) {
	const src = `table ip f {
	limit l1 { rate 1/hour burst 3 packets; }
	chain in { type filter hook input priority 0; policy drop;
		udp dport 1 limit name "l1" accept
		udp dport 2 accept
	} }`
	clock := int64(1e12)
	now := func() int64 { return clock }
	load := func(t *testing.T, text string, prev *Engine) *Engine {
		t.Helper()
		rs, err := parser.Parse("t.nft", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		e, err := Compile(rs, Options{Prev: prev, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	x := pk{src: "10.0.0.1", dst: "10.0.0.2", proto: udpP, dport: 1, hook: input}
	verdicts := func(e *Engine, n int) string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, e.Eval(x.ctx()).Verdict.String())
		}
		return strings.Join(out, " ")
	}
	e1 := load(t, src, nil)
	if got := verdicts(e1, 4); got != "accept accept accept drop" {
		t.Fatalf("first load: %s", got)
	}
	// The same object, another rule changed: the bucket stays empty.
	e2 := load(t, strings.Replace(src, "udp dport 2 accept", "udp dport 3 accept", 1), e1)
	if got := verdicts(e2, 1); got != "drop" {
		t.Fatalf("after a reload keeping the limit: %s, want drop (bucket refilled)", got)
	}
	// An hour later one token is back.
	clock += 3600e9
	if got := verdicts(e2, 2); got != "accept drop" {
		t.Fatalf("an hour later: %s", got)
	}
	// A changed burst is a new bucket, full.
	e3 := load(t, strings.Replace(src, "burst 3 packets", "burst 2 packets", 1), e2)
	if got := verdicts(e3, 3); got != "accept accept drop" {
		t.Fatalf("after a reload changing the limit: %s", got)
	}
}
