package nlbatch

import (
	"encoding/binary"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/internal/netns"
)

func nsFd(t *testing.T, ns *netns.NS) int {
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// rule: ip saddr 10.x.y.z tcp dport 22 counter drop
func dropRule(i int) []expr.Any {
	a := []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func buildRules(n, bad int) (*Batch, *nftables.Table) {
	b := New()
	c := b.Conn()
	t := c.AddTable(&nftables.Table{Name: "big", Family: nftables.TableFamilyIPv4})
	b.Tag("table")
	ch := c.AddChain(&nftables.Chain{Name: "c", Table: t})
	b.Tag("chain")
	for i := 0; i < n; i++ {
		ex := dropRule(i)
		if i == bad {
			// jump to a chain that does not exist: ENOENT for this message
			ex = []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: "nope"}}
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ex})
		b.Tag(i)
	}
	return b, t
}

func ruleCount(t *testing.T, ns *netns.NS) int {
	out, err := ns.Run("nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(out, " drop")
}

// TestLargeBatch: 10^5 rules in one transaction (google/nftables' Flush
// fails at ~400 with EMSGSIZE).
func TestLargeBatch(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "nlb")
	fd := nsFd(t, ns)
	n := 100000
	if testing.Short() {
		n = 5000
	}
	b, _ := buildRules(n, -1)
	msgs, tags, err := b.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n+2 {
		t.Fatalf("%d messages", len(msgs))
	}
	if err := Send(fd, msgs, tags); err != nil {
		t.Fatal(err)
	}
	if got := ruleCount(t, ns); got != n {
		t.Fatalf("kernel has %d rules, want %d", got, n)
	}
}

// TestAllOrNothing: a refused message in the middle of a large batch
// leaves the kernel unchanged and is named by its position.
func TestAllOrNothing(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "nlb")
	fd := nsFd(t, ns)
	if _, err := ns.Run("nft", "add table ip keep"); err != nil {
		t.Fatal(err)
	}
	n := 20000
	b, _ := buildRules(n, n/2)
	msgs, tags, err := b.Messages()
	if err != nil {
		t.Fatal(err)
	}
	err = Send(fd, msgs, tags)
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("want *Error, got %v", err)
	}
	if be.Tag != n/2 || be.Errno != unix.ENOENT {
		t.Fatalf("error names %v (%v), want rule %d ENOENT", be.Tag, be.Errno, n/2)
	}
	t.Logf("refused: %v at message %d, %d more", be, be.Index, be.More)
	out, _ := ns.Run("nft", "list", "ruleset")
	if strings.Contains(out, "big") || !strings.Contains(out, "keep") {
		t.Fatalf("the kernel changed: %s", out[:min(len(out), 400)])
	}
}

func ipElems(n int) []nftables.SetElement {
	els := make([]nftables.SetElement, n)
	for i := range els {
		k := make([]byte, 4)
		binary.BigEndian.PutUint32(k, 0x0a000000+uint32(i))
		els[i].Key = k
	}
	return els
}

// TestLargeSet: named and anonymous sets of 200,000 elements, split over
// NEWSETELEM messages of one batch.
func TestLargeSet(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "nlb")
	fd := nsFd(t, ns)
	n := 200000
	b := New()
	c := b.Conn()
	tb := c.AddTable(&nftables.Table{Name: "s", Family: nftables.TableFamilyIPv4})
	b.Tag("table")
	ch := c.AddChain(&nftables.Chain{Name: "c", Table: tb})
	b.Tag("chain")
	named := &nftables.Set{Table: tb, Name: "block", KeyType: nftables.TypeIPAddr, ID: 77}
	b.AddSet(named, ipElems(n), "set")
	anon := &nftables.Set{Table: tb, Name: "__set%d", Anonymous: true, Constant: true, KeyType: nftables.TypeIPAddr, ID: 78}
	b.AddSet(anon, ipElems(n), "anon")
	for _, s := range []*nftables.Set{named, anon} {
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
		b.Tag("rule")
	}
	msgs, tags, err := b.Messages()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages", len(msgs))
	if err := Send(fd, msgs, tags); err != nil {
		t.Fatal(err)
	}
	out, err := ns.Run("nft", "list", "set", "ip", "s", "block")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ip10.FindAllString(out, -1)); got != n {
		t.Fatalf("named set has %d elements, want %d", got, n)
	}
	out, _ = ns.Run("nft", "list", "chain", "ip", "s", "c")
	if got := len(ip10.FindAllString(out, -1)); got != n {
		t.Fatalf("anonymous set has %d elements, want %d", got, n)
	}
	// Delete and add a few in another batch: only the difference.
	b = New()
	b.DeleteElements(named, ipElems(3), "del")
	add := []nftables.SetElement{{Key: []byte{192, 0, 2, 1}}}
	b.AddElements(named, add, "add")
	msgs, tags, err = b.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if err := Send(fd, msgs, tags); err != nil {
		t.Fatal(err)
	}
	out, _ = ns.Run("nft", "list", "set", "ip", "s", "block")
	if got := len(ip10.FindAllString(out, -1)); got != n-3 || !strings.Contains(out, "192.0.2.1") {
		t.Fatalf("after the difference: %d elements of 10/8 (want %d), 192.0.2.1 present: %v", got, n-3, strings.Contains(out, "192.0.2.1"))
	}
}

var ip10 = regexp.MustCompile(`10\.\d+\.\d+\.\d+`)
