package main

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

const ctObjectRules = `table inet ctobj {
	ct helper ftp-standard { type "ftp" protocol tcp; l3proto inet; }
	ct timeout fast-tcp { protocol tcp; l3proto ip; policy = { established: 100 }; }
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		tcp dport 21 ct helper set "ftp-standard"
		ct timeout set tcp dport map { 2222 : "fast-tcp" }
	}
	chain forward_c {
		type filter hook forward priority 0; policy accept;
		tcp dport 80 reject with tcp reset
	}
}
`

var ctTimeoutRE = regexp.MustCompile(`^tcp\s+\d+\s+(\d+)\s`)

// ctEntries describes the firewall's conntrack entries to ports 21 and
// 2222: the helper of the first, and whether the second's timeout is the
// policy's (at most 100 s) rather than the default established 5 days.
func ctEntries(t *testing.T, tp *netns.Topology) string {
	t.Helper()
	var out []string
	for _, port := range []string{"21", "2222"} {
		l, err := tp.FW.Run("conntrack", "-L", "-p", "tcp", "--dport", port)
		if err != nil {
			t.Fatalf("conntrack -L: %v %s", err, l)
		}
		line := "" // the entry (Run also returns conntrack's summary on stderr)
		for _, x := range strings.Split(l, "\n") {
			if strings.HasPrefix(x, "tcp ") {
				line = x
				break
			}
		}
		switch port {
		case "21":
			out = append(out, "helper="+strconv.FormatBool(strings.Contains(line, "helper=ftp")))
		default:
			m := ctTimeoutRE.FindStringSubmatch(line)
			short := false
			if m != nil {
				n, _ := strconv.Atoi(m[1])
				short = n <= 100
			}
			out = append(out, "timeout<=100="+strconv.FormatBool(short))
		}
	}
	return strings.Join(out, " ")
}

// TestCtHelperAndTimeoutObjects: a ct helper object assigned by name and
// a ct timeout object through a map reach the connections as they do
// under nft -f: the FTP connection has the ftp helper, the other the
// policy's established timeout; with --offload=none and auto (the rules
// are kernel-only, so they run natively in both).
func TestCtHelperAndTimeoutObjects(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "conntrack")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{21, 2222}, nil)
	probe := func() string {
		_, _ = tp.FW.Run("conntrack", "-F")
		dialServer(t, tp, 21)
		c := dialServer(t, tp, 2222)
		if _, err := c.Write([]byte("x\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2)
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		return ctEntries(t, tp)
	}
	nftLoad(t, tp.FW, ctObjectRules)
	want := probe()
	if want != "helper=true timeout<=100=true" {
		t.Fatalf("nft -f: %s", want)
	}
	resetFW(t, tp)
	for _, mode := range []string{"none", "auto"} {
		d := startDaemon(t, tp.FW, ctObjectRules, "--offload", mode)
		if got := probe(); got != want {
			t.Errorf("--offload=%s: %s, nft -f %s", mode, got, want)
		}
		if err := d.stop(syscall.SIGTERM); err != nil {
			t.Logf("nfd exit: %v", err)
		}
		resetFW(t, tp)
	}
}
