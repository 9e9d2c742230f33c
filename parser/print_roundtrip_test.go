package parser_test

import (
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
)

// TestPrintedAccepted: for every corpus line nft and nfd both accept,
// `nfd check --print` output (parser.Print) is accepted by nft -f too, and
// reads back in nfd to the same printed form (the printer is a fixpoint).
func TestPrintedAccepted(t *testing.T) {
	if !nftAvailable() {
		t.Skip("needs root, ip and nft")
	}
	_, entries := loadLines(t)
	var texts []string
	var srcs []*entry
	for _, e := range entries {
		if e.nft != '+' {
			continue
		}
		rs, err := parser.Parse("x.nft", []byte(e.wrap()))
		if err != nil {
			continue
		}
		printed := parser.Print(rs)
		rs2, err := parser.Parse("printed.nft", []byte(printed))
		if err != nil {
			t.Errorf("%s (%s) %q: nfd refuses its own printed form: %v\n%s", e.where(), e.family, e.rule, err, printed)
			continue
		}
		if again := parser.Print(rs2); again != printed {
			t.Errorf("%s (%s) %q: printing is not a fixpoint:\n%s\nthen\n%s", e.where(), e.family, e.rule, printed, again)
		}
		texts = append(texts, printed)
		srcs = append(srcs, e)
	}
	var nss []*netns.NS
	for w := 0; w < 4; w++ {
		nss = append(nss, judgeNamespace(t))
	}
	ok, msg := judge(t, nss, texts)
	bad := 0
	for i, e := range srcs {
		if !ok[i] {
			bad++
			t.Errorf("%s (%s) %q: nft refuses nfd's printed form: %s\n%s", e.where(), e.family, e.rule, msg[i], strings.TrimSpace(texts[i]))
		}
	}
	t.Logf("%d printed rulesets judged by nft, %d refused", len(texts), bad)
}
