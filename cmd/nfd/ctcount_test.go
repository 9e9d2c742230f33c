package main

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nfdproject/nfd/internal/netns"
)

const ctCountRules = `table inet limitconn {
	chain forward_c {
		type filter hook forward priority 0; policy accept;
		tcp dport 80 ct state new ct count over 2 reject with tcp reset
	}
}
`

// TestCtCount: `ct count over 2` refuses the third concurrent connection
// and admits one again once a connection closes, under nfd as under nft -f.
func TestCtCount(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	run := func(t *testing.T, load func(tp *netns.Topology)) string {
		tp := netns.NewTopology(t)
		servers(t, tp.Server, []int{80}, nil)
		load(tp)
		var conns []net.Conn
		var outcome []string
		for i := 0; i < 3; i++ {
			var c net.Conn
			err := tp.Client.Do(func() (err error) {
				c, err = net.DialTimeout("tcp", hostPort(netns.ServerIP4, 80), 2*time.Second)
				return err
			})
			outcome = append(outcome, classify(err))
			if err == nil {
				conns = append(conns, c)
			}
		}
		conns[0].Close()
		time.Sleep(200 * time.Millisecond)
		outcome = append(outcome, tcpTry(tp.Client, hostPort(netns.ServerIP4, 80)))
		for _, c := range conns[1:] {
			c.Close()
		}
		return fmt.Sprint(outcome)
	}
	want := run(t, func(tp *netns.Topology) { nftLoad(t, tp.FW, ctCountRules) })
	if want != fmt.Sprint([]string{ok, ok, refused, ok}) {
		t.Fatalf("nft -f: %s", want)
	}
	if got := run(t, func(tp *netns.Topology) { startDaemon(t, tp.FW, ctCountRules) }); got != want {
		t.Errorf("nfd %s, nft -f %s", got, want)
	}
}
