package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
)

// kernelStmtRules puts statements only the kernel runs (`dup to`, a set
// update, `meta priority set`, and at raw priority before conntrack
// `notrack` and `ct zone set`) and a kernel-only rule that jumps to a
// chain (which nfd then runs, under --offload=none) after a name rule,
// with counters before, at and after them. The chain `dead` is reached
// by no base chain: its kernel-only rule must not stop the file loading.
// The oracle is the file without the name rules under nft -f; the
// server's own counter shows the copies `dup` sent. (The raw chain counts
// only the client's packets to the firewall: the server answers both
// copies, and whether the client's socket is still open for the second
// answer, or sends a port unreachable back, is a matter of timing.)
const kernelStmtRules = `table ip f {
	set seen {
		type ipv4_addr
		flags dynamic
	}
	chain sub {
		counter
		udp dport 8081 counter drop
		counter
	}
	chain dead {
		tls sni "x.example" drop
		meta pkttype host counter drop
	}
	chain input {
		type filter hook input priority 0; policy accept;
		counter
		tls sni "blocked.example" drop
		meta pkttype host udp dport { 8081, 8082 } counter jump sub
		udp dport 8082 counter
		udp dport 8083 counter add @seen { ip saddr }
		ip saddr @seen udp dport 8083 counter
		udp dport 8083 meta priority set 1:2 counter
		meta priority 1:2 counter
		counter
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		tls sni "blocked.example" drop
		udp dport 55 counter dup to 10.10.2.2
		udp dport 55 counter
	}
	chain raw {
		type filter hook prerouting priority raw; policy accept;
		tls sni "blocked.example" drop
		udp dport 8084 counter notrack
		udp dport 8084 ct state untracked counter
		udp dport 8085 counter ct zone set 3
		udp dport 8085 ct zone 3 counter
		udp dport 8080-8090 counter
	}
	chain rawafter {
		type filter hook prerouting priority 0; policy accept;
		udp dport 8084 ct state untracked counter
		udp dport 8085 ct zone 3 counter
		udp dport 8085 ct state new counter
	}
}
`

const serverCount = `table ip s {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport 55 counter
	}
}
`

func kernelStmtTraffic(t *testing.T, tp *netns.Topology, seen *int) map[string]string {
	out := map[string]string{}
	for _, p := range []int{8081, 8082, 8083, 8084, 8085} {
		out["in udp "+hostPort(netns.FWClient4, p)] = udpTry(tp.Client, hostPort(netns.FWClient4, p))
	}
	out["in udp 8083 again"] = udpTry(tp.Client, hostPort(netns.FWClient4, 8083))
	out["fwd udp 55"] = udpTry(tp.Client, hostPort(netns.ServerIP4, 55))
	// the packets the server's rule counted since the last call
	l, err := tp.Server.Run("nft", "list", "table", "ip", "s")
	must(t, err)
	n, _ := strconv.Atoi(strings.Join(counterPackets(l), ""))
	out["server udp 55 packets"] = strconv.Itoa(n - *seen)
	*seen = n
	return out
}

// TestKernelOnlyStatements (issue 15): kernel-only statements and a
// kernel-only jump after a name rule give nft -f's outcomes and counters
// under --offload=none and --offload=auto, each packet counted once
// before the continuation point.
func TestKernelOnlyStatements(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, nil, []int{55})
	servers(t, tp.FW, nil, []int{8081, 8082, 8083, 8084, 8085})
	sf := filepath.Join(t.TempDir(), "server.nft")
	must(t, os.WriteFile(sf, []byte(serverCount), 0o644))
	if out, err := tp.Server.Run("nft", "-f", sf); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	seen := 0
	oracleFile := filepath.Join(t.TempDir(), "oracle.nft")
	must(t, os.WriteFile(oracleFile, l7Line.ReplaceAll([]byte(kernelStmtRules), nil), 0o644))
	if out, err := tp.FW.Run("nft", "-f", oracleFile); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	want := kernelStmtTraffic(t, tp, &seen)
	listing, err := tp.FW.Run("nft", "list", "table", "ip", "f")
	must(t, err)
	wantCounts := counterPackets(listing)
	wantSet := strings.Contains(listing, netns.ClientIP4)
	if out, err := tp.FW.Run("nft", "flush", "ruleset"); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	t.Logf("nft -f: %v, counters %v, set has the client: %v", want, wantCounts, wantSet)
	for _, mode := range []string{"none", "auto"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t, tp.FW, kernelStmtRules, "--offload", mode)
			got := kernelStmtTraffic(t, tp, &seen)
			matchesOracle(t, tp.FW, d, want, got, wantCounts)
			kl, err := tp.FW.Run("nft", "list", "set", "ip", "nfd_f", "seen")
			if err != nil || strings.Contains(kl, netns.ClientIP4) != wantSet {
				t.Errorf("set @seen in the kernel (nft's has the client: %v): %v\n%s", wantSet, err, kl)
			}
			must(t, d.stop(15))
		})
	}
}

// tproxyRules intercepts forwarded TCP to port 84 with `tproxy` (a
// statement only the kernel runs) after a name rule, at prerouting.
const tproxyRules = `table ip t {
	chain pre {
		type filter hook prerouting priority mangle; policy accept;
		counter
		tls sni "blocked.example" drop
		tcp dport 84 counter meta mark set 0x1 tproxy to :9984 accept
		tcp dport 85 counter
		counter
	}
}
`

// tproxyNoPortRules intercepts forwarded TCP to port 84 with a `tproxy`
// to an address without a port: the packet's own port, 84 (nft sends no
// port register, which nfd's netlink library cannot without
// nlbatch.TProxyNoPort).
const tproxyNoPortRules = `table ip t {
	chain pre {
		type filter hook prerouting priority mangle; policy accept;
		counter
		tls sni "blocked.example" drop
		tcp dport 84 counter meta mark set 0x1 tproxy to 127.0.0.1 accept
		tcp dport 85 counter
		counter
	}
}
`

// TestTproxyAfterName (issue 15): a `tproxy` rule after a name rule hands
// the connection to the firewall's transparent socket, as under nft -f,
// in both offload modes; a connection it does not take goes on.
func TestTproxyAfterName(t *testing.T) {
	tproxyAfterName(t, tproxyRules, 9984)
}

// TestTproxyNoPortAfterName: the same with `tproxy to ADDRESS` and the
// transparent socket on the connection's own port.
func TestTproxyNoPortAfterName(t *testing.T) {
	tproxyAfterName(t, tproxyNoPortRules, 84)
}

func tproxyAfterName(t *testing.T, tproxyRules string, port int) {
	netns.SkipUnlessRoot(t, "nft", "ip")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{85}, nil)
	// the transparent socket and the policy routing tproxy needs
	for _, args := range [][]string{{"rule", "add", "fwmark", "1", "lookup", "100"}, {"route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"}} {
		if out, err := tp.FW.Run("ip", args...); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	var l net.Listener
	must(t, tp.FW.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_TRANSPARENT, 1) })
			if err != nil {
				return err
			}
			return serr
		}}
		var err error
		l, err = lc.Listen(context.Background(), "tcp4", "0.0.0.0:"+strconv.Itoa(port))
		return err
	}))
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	traffic := func() map[string]string {
		return map[string]string{
			"fwd tcp 84": tcpTry(tp.Client, hostPort(netns.ServerIP4, 84)),
			"fwd tcp 85": tcpTry(tp.Client, hostPort(netns.ServerIP4, 85)),
		}
	}
	oracleFile := filepath.Join(t.TempDir(), "oracle.nft")
	must(t, os.WriteFile(oracleFile, l7Line.ReplaceAll([]byte(tproxyRules), nil), 0o644))
	if out, err := tp.FW.Run("nft", "-f", oracleFile); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	want := traffic()
	listing, err := tp.FW.Run("nft", "list", "table", "ip", "t")
	must(t, err)
	wantCounts := counterPackets(listing)
	if want["fwd tcp 84"] != ok || want["fwd tcp 85"] != ok {
		t.Fatalf("nft -f: %v: tproxy does not take the connection here", want)
	}
	resetFW(t, tp)
	t.Logf("nft -f: %v, counters %v", want, wantCounts)
	for _, mode := range []string{"none", "auto"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t, tp.FW, tproxyRules, "--offload", mode)
			got := traffic()
			matchesOracle(t, tp.FW, d, want, got, wantCounts)
			must(t, d.stop(15))
			resetFW(t, tp)
		})
	}
}

// synproxyRules answers forwarded SYNs to port 86 with SYN cookies
// (`synproxy`, a statement only the kernel runs) after a name rule, as
// nft(8) sets it up: SYNs untracked at raw priority, the handshake's
// invalid and untracked packets to synproxy, other invalid ones dropped.
const synproxyRules = `table ip y {
	chain raw {
		type filter hook prerouting priority raw; policy accept;
		tcp dport 86 tcp flags syn counter notrack
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		tls sni "blocked.example" drop
		tcp dport 86 ct state invalid,untracked counter synproxy mss 1460 wscale 7 timestamp sack-perm
		ct state invalid counter drop
		tcp dport 86 counter
	}
}
`

// TestSynproxyAfterName (issue 15): a `synproxy` rule after a name rule
// completes the handshake and the connection as under nft -f, in both
// offload modes, with the same counters.
func TestSynproxyAfterName(t *testing.T) {
	netns.SkipUnlessRoot(t, "nft", "sysctl")
	tp := netns.NewTopology(t)
	servers(t, tp.Server, []int{86}, nil)
	for _, kv := range []string{"net.netfilter.nf_conntrack_tcp_loose=0", "net.ipv4.tcp_timestamps=1"} {
		if out, err := tp.FW.Run("sysctl", "-w", kv); err != nil {
			t.Skipf("sysctl %s: %v %s", kv, err, out)
		}
	}
	traffic := func() map[string]string {
		out := map[string]string{}
		for i := 0; i < 2; i++ {
			out["fwd tcp 86 "+strconv.Itoa(i)] = tcpTry(tp.Client, hostPort(netns.ServerIP4, 86))
		}
		return out
	}
	oracleFile := filepath.Join(t.TempDir(), "oracle.nft")
	must(t, os.WriteFile(oracleFile, l7Line.ReplaceAll([]byte(synproxyRules), nil), 0o644))
	if out, err := tp.FW.Run("nft", "-f", oracleFile); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	want := traffic()
	listing, err := tp.FW.Run("nft", "list", "table", "ip", "y")
	must(t, err)
	wantCounts := counterPackets(listing)
	resetFW(t, tp)
	t.Logf("nft -f: %v, counters %v", want, wantCounts)
	for _, mode := range []string{"none", "auto"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t, tp.FW, synproxyRules, "--offload", mode)
			got := traffic()
			matchesOracle(t, tp.FW, d, want, got, wantCounts)
			must(t, d.stop(15))
			resetFW(t, tp)
		})
	}
}
