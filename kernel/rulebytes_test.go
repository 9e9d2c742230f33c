package kernel

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/nlbatch"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
)

// TestAddRuleBytes: the batch nfd sends, with rules laid out by
// nlbatch's AddRule, is byte for byte the one google/nftables' Conn
// marshals (nlbatch.NewViaConn), for every ruleset of the parser's and
// the equivalence tests' corpora and the scale benchmark's shapes, in
// both offload modes and both queue modes: every expression type nfd
// emits for them.
func TestAddRuleBytes(t *testing.T) {
	var files []string
	for _, g := range []string{"../parser/testdata/valid/*.nft", "../parser/testdata/acceptance/rulesets/*.nft", "../cmd/nfd/testdata/equiv/*.nft"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	srcs := map[string][]byte{
		"scale-onechain": []byte(scaleRules(300, 1, false)),
		"scale-hoist":    []byte(scaleRules(300, 1, true)),
		"scale-chains":   []byte(scaleRules(300, 30, false)),
	}
	// Conntrack directions (rewritten by fixCtDirections) and other
	// expressions the corpora may lack.
	srcs["ct-and-more"] = []byte(`table inet x {
	set s { type ipv4_addr; flags dynamic; size 100; }
	chain in {
		type filter hook input priority 0; policy accept;
		meta l4proto tcp ct original ip saddr 10.0.0.1 ct reply proto-dst 80 accept
		meta l4proto udp ct reply ip daddr 10.0.0.2 ct original proto-src 1024 counter drop
		ct direction reply ct state established,related accept
		ct mark 0x1 meta mark set ct mark
		fib daddr type local tcp dport 22 accept
		numgen inc mod 2 0 counter
		meta l4proto tcp limit rate 10/second accept
		tcp dport 23 reject with tcp reset
		udp dport 53 log prefix "dns " accept
		ip saddr 10.1.0.0/16 add @s { ip saddr } counter
		ip6 daddr ::1 tcp dport { 80, 443 } accept
		tcp dport vmap { 81 : accept, 82 : drop }
		tcp dport 1000-2000 counter
	}
}
`)
	// Expressions nlbatch writes from placeholders (osf, xfrm, a tproxy
	// without a port) and data maps it marks (fixRawExprs, fixMapData).
	srcs["raw-exprs"] = []byte(`table ip y {
	chain in {
		type filter hook input priority 0; policy accept;
		osf ttl skip version "Linux:3.0" counter
		ct mark set osf version map { "Windows:XP" : 0x00000003, "MacOs:Sierra" : 0x00000004 }
		ipsec in spnum 2 ip saddr { 1.2.3.4, 10.6.0.0/16 } accept
		ipsec in reqid 1 ipsec in ip6 daddr dead::beef
	}
	chain pre {
		type filter hook prerouting priority -150; policy accept;
		meta l4proto udp tproxy to 192.0.2.1
	}
	chain nat {
		type nat hook prerouting priority dstnat; policy accept;
		dnat ip to ip saddr . tcp dport map { 192.168.1.2 . 80 : 10.141.10.0/24 . 8888-8999 }
	}
}
`)
	// Enough rules for the batch to lay them out on several workers
	// (nlbatch.layoutPending), each with its own expression memo.
	srcs["scale-workers"] = []byte(scaleRules(9000, 1, true))
	ct := string(srcs["ct-and-more"])
	body := ct[strings.Index(ct, "policy accept;\n")+len("policy accept;\n") : strings.LastIndex(ct, "\t}\n}")]
	srcs["ct-and-more-x400"] = []byte(strings.Replace(ct, body, strings.Repeat(body, 400), 1))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs[f] = b
	}
	rulesSeen, sets := 0, 0
	for name, src := range srcs {
		rs, err := parser.Parse(name, src)
		if err != nil {
			if name == "ct-and-more" || name == "raw-exprs" || name == "ct-and-more-x400" {
				t.Fatal(err)
			}
			continue
		}
		for _, off := range []string{planner.OffloadAuto, planner.OffloadNone} {
			plans, _, err := planner.PlanRuleset(rs, off)
			if err != nil {
				continue
			}
			sets++
			for _, mode := range []QueueMode{QueueCompat, QueueNative} {
				for _, tp := range plans {
					for _, cp := range tp.Chains {
						// Queue numbers as a daemon assigns them.
						cp.QueueNum, cp.QueueTotal = 1000, 2
					}
				}
				direct, ref := nlbatch.New(), nlbatch.NewViaConn()
				programTables(direct, mode, plans)
				programTables(ref, mode, plans)
				dm, dt, derr := direct.Messages()
				rm, rt, rerr := ref.Messages()
				if (derr == nil) != (rerr == nil) {
					t.Fatalf("%s %s: direct %v, via the Conn %v", name, off, derr, rerr)
				}
				if len(dm) != len(rm) || len(dt) != len(rt) {
					t.Fatalf("%s %s: %d messages (%d tags), via the Conn %d (%d)", name, off, len(dm), len(dt), len(rm), len(rt))
				}
				for i := range dm {
					if dm[i].Header.Type != rm[i].Header.Type || dm[i].Header.Flags != rm[i].Header.Flags || !bytes.Equal(dm[i].Data, rm[i].Data) {
						t.Fatalf("%s %s mode %v: message %d differs:\ndirect  %v %v %x\nvia Conn %v %v %x", name, off, mode, i,
							dm[i].Header.Type, dm[i].Header.Flags, dm[i].Data, rm[i].Header.Type, rm[i].Header.Flags, rm[i].Data)
					}
					if bytes.Contains(dm[i].Data, []byte("nfd-raw-expression")) {
						t.Fatalf("%s %s: message %d still holds a placeholder: %x", name, off, i, dm[i].Data)
					}
					if dt[i] != rt[i] {
						t.Fatalf("%s %s: tag %d differs: %v, %v", name, off, i, dt[i], rt[i])
					}
					if dm[i].Header.Type == 0xa06 { // NFT_MSG_NEWRULE
						rulesSeen++
					}
				}
			}
		}
	}
	t.Logf("%d rulesets x modes, %d rule messages identical", sets, rulesSeen)
	if sets < 100 || rulesSeen < 3000 {
		t.Fatalf("only %d plans, %d rules compared", sets, rulesSeen)
	}
}
