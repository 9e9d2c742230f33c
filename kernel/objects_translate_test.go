package kernel

import (
	"regexp"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/planner"
)

// objectCases are tables with the stateful objects only the kernel keeps,
// and rules assigning them by name and through object maps.
var objectCases = []string{
	`table inet t {
	ct helper ftp-standard { type "ftp" protocol tcp; l3proto inet; }
	ct helper sip-5060 { type "sip" protocol udp; l3proto inet; }
	ct helper tftp-69 { type "tftp" protocol udp
		l3proto inet
	}
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		tcp dport 21 ct helper set "ftp-standard"
		ct helper set udp dport map { 69 : "tftp-69", 5060 : "sip-5060" }
	}
}`,
	`table ip t {
	ct helper h1 { type "sip" protocol udp; }
	ct timeout tu { protocol udp; policy = { unreplied: 10, replied: 20 }; }
	ct timeout agressive-tcp { protocol tcp; l3proto ip; policy = { established: 100, close_wait: 4, close: 4 }; }
	ct expectation e_pgsql { protocol tcp; dport 5432; timeout 1h; size 12; l3proto ip; }
	ct expectation e1 { protocol udp; dport 53; timeout 10s; size 3; }
	chain c {
		type filter hook prerouting priority 0; policy accept;
		ct helper set "h1"
		udp dport 53 ct timeout set "tu"
		tcp dport 22 ct timeout set "agressive-tcp"
		ct expectation set "e_pgsql"
		ct timeout set ip saddr map { 10.0.0.1 : "tu", 10.0.0.2 : "agressive-tcp" }
	}
}`,
	`table ip t {
	synproxy https-synproxy { mss 1460; wscale 7; timestamp sack-perm; }
	synproxy s2 { mss 1400 wscale 2; }
	chain c {
		type filter hook input priority 0; policy accept;
		ct state invalid,untracked synproxy name "https-synproxy"
		synproxy name tcp dport map { 443 : "https-synproxy", 8443 : "s2" }
		synproxy name ip saddr map { 192.168.1.0/24 : "https-synproxy", 10.0.0.1 : "s2" }
	}
}`,
	`table ip t {
	synproxy s1 { mss 1460; wscale 7; timestamp sack-perm; }
	synproxy s2 { mss 1400 wscale 2; }
	map sm { type inet_service : synproxy; elements = { 443 : "s1", 8443 : "s2" }; }
	map sn { type ipv4_addr : synproxy; flags interval; elements = { 192.168.1.0/24 : "s1", 10.0.0.1 : "s2" }; }
	chain c {
		type filter hook input priority 0; policy accept;
		synproxy name tcp dport map @sm
		synproxy name ip saddr map @sn
		ct state invalid synproxy name ip saddr map @sn
	}
}`,
	`table ip6 t {
	ct helper ftp6 { type "ftp" protocol tcp; l3proto ip6; }
	ct timeout t6 { protocol tcp; policy = { syn_sent: 5, unack: 7 }; }
	ct expectation x6 { protocol tcp; dport 21; timeout 30s; size 4; l3proto ip6; }
	synproxy sp6 { mss 1440 wscale 0; }
	chain c {
		type filter hook forward priority 0; policy accept;
		tcp dport 21 ct helper set "ftp6" ct timeout set "t6" ct expectation set "x6"
		tcp dport 443 synproxy name "sp6"
	}
}`,
}

var handleRE = regexp.MustCompile(` # handle \d+`)

// TestKernelObjectsMatchNft loads each case with `nft -f` as table t and
// through nfd's planner and programmer as nfd_t, in one namespace, and
// compares `nft list table` of the two (objects, object maps and rules),
// without the counters and the policy counter nfd adds; then reloads the
// same plan (objects replaced in place) and compares again.
func TestKernelObjectsMatchNft(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	ns := netns.New(t, "obj")
	newConn := connIn(t, ns)
	list := func(fam, name string) string {
		out, err := ns.Run("nft", "list", "table", fam, name)
		if err != nil {
			t.Fatalf("nft list %s: %v\n%s", name, err, out)
		}
		out = strings.Replace(out, "table "+fam+" "+name+" {", "table "+fam+" T {", 1)
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) == "counter packets 0 bytes 0" {
				continue // nfd's policy counter
			}
			lines = append(lines, counterRE.ReplaceAllString(l, ""))
		}
		return strings.Join(lines, "\n")
	}
	for _, src := range objectCases {
		fam := strings.Fields(src)[1]
		rs := loadNativeBoth(t, ns, newConn, src[:20], src)
		want, got := list(fam, "t"), list(fam, planner.KernelTableName("t"))
		for _, o := range rs.Tables[0].Objects {
			if !strings.Contains(got, o.Kind+" "+o.Name+" {") {
				t.Errorf("nfd's table lacks %s %s:\n%s", o.Kind, o.Name, got)
			}
		}
		if strings.Contains(src, "map {") && !strings.Contains(got, "map {") {
			t.Errorf("nfd's table lacks the object map:\n%s", got)
		}
		if got != want {
			t.Errorf("nft loads:\n%s\nnfd loads:\n%s", want, got)
			continue
		}
		// A reload of the same plan replaces the objects.
		plans, _, err := planner.PlanRuleset(rs, planner.OffloadAuto)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := newConn()
		if err := ProgramPlans(c, QueueCompat, plans); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if again := list(fam, planner.KernelTableName("t")); again != want {
			t.Errorf("after a reload nfd has:\n%s\nnft:\n%s", again, want)
		}
	}
}
