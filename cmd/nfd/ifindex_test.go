package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

// iifRules drops pings that arrive on vi0 as it was when the rules loaded:
// nft resolves `iif vi0` to vi0's index then (ifindex_type_parse), and the
// kernel compares indexes (NFT_META_IIF).
const iifRules = `table inet t {
	chain in {
		type filter hook input priority 0; policy accept;
		iif vi0 icmp type echo-request counter drop comment "iif"
		iifname "vi0" icmp type echo-request counter comment "byname"
		icmp type echo-request counter comment "all"
	}
}
`

// TestIifByIndex: issue 13. `iif NAME` matches the interface the name had
// when the rules were loaded, by index: pings on vi0 are dropped, and once
// vi0 is deleted and created again under the same name (a new index) the
// rule no longer matches them, while `iifname "vi0"` still does. The same
// pings, outcomes and per-rule counts under `nft -f` and under nfd with
// --offload=none (the index comes from NFQA_IFINDEX_INDEV) and
// --offload=auto (the rule runs natively as meta iif).
func TestIifByIndex(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "ping")
	cli, fw := netns.New(t, "ifc"), netns.New(t, "iff")
	link := func() {
		t.Helper()
		_, _ = cli.Run("ip", "link", "del", "c0") // takes vi0 with it
		netns.Veth(t, cli, "c0", []string{"10.77.0.1/24"}, fw, "vi0", []string{"10.77.0.2/24"})
		deadline := time.Now().Add(3 * time.Second)
		for !fw.Ping("10.77.0.1", 200*time.Millisecond) { // fw → cli: not an input echo request
			if time.Now().After(deadline) {
				t.Fatal("the veth does not carry pings")
			}
		}
	}
	pings := func() string {
		var out []string
		for i := 0; i < 3; i++ {
			if cli.Ping("10.77.0.2", 300*time.Millisecond) {
				out = append(out, "reply")
			} else {
				out = append(out, "none")
			}
		}
		return strings.Join(out, ",")
	}
	// Each run: load, ping, recreate vi0, ping again.
	type result struct{ before, after string }

	link()
	f := t.TempDir() + "/iif.nft"
	must(t, os.WriteFile(f, []byte(iifRules), 0o644))
	if out, err := fw.Run("nft", "-f", f); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	oracle := result{before: pings()}
	link()
	oracle.after = pings()
	listing, err := fw.Run("nft", "list", "ruleset")
	must(t, err)
	oracleCounts := ruleCounts(t, listing, false)
	if oracle.before != "none,none,none" || oracle.after != "reply,reply,reply" {
		t.Fatalf("the kernel does not behave as this test assumes: before %s, after %s\n%s", oracle.before, oracle.after, listing)
	}
	if _, err := fw.Run("nft", "flush", "ruleset"); err != nil {
		t.Fatal(err)
	}

	for _, mode := range []string{"none", "auto"} {
		t.Run(mode, func(t *testing.T) {
			link()
			d := startDaemon(t, fw, iifRules, "--offload", mode)
			got := result{before: pings()}
			link()
			got.after = pings()
			if got != oracle {
				t.Errorf("--offload=%s: pings %+v, nft -f %+v", mode, got, oracle)
			}
			out, errOut, code := runIn(t, fw, "rules", "--socket", d.socket)
			if code != 0 {
				t.Fatalf("nfd rules: %s", errOut)
			}
			if diffs := oracleDiffs(oracleCounts, ruleCounts(t, out, true), "nft"); len(diffs) > 0 {
				t.Errorf("--offload=%s: rule counts differ from nft -f:\n%s\n%s", mode, strings.Join(diffs, "\n"), out)
			}
			must(t, d.stop(15))
			t.Logf("--offload=%s: pings %+v and counts %v, as nft -f", mode, got, oracleCounts)
		})
	}
}
