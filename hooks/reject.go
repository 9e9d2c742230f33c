package hooks

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/packet"
	"github.com/nfdproject/nfd/parser"
)

// rejecter answers rejected packets as the kernel's nf_reject_ipv4/ipv6
// do: a TCP RST, or an ICMP/ICMPv6 destination unreachable. It sends
// through raw sockets with the IP header included; the packets leave by
// the output hook like the kernel's own.
type rejecter struct {
	fd4, fd6 int
}

func newRejecter() (*rejecter, error) {
	r := &rejecter{fd4: -1, fd6: -1}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("raw IPv4 socket for reject: %w", err)
	}
	r.fd4 = fd
	fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err == nil {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1)
		r.fd6 = fd
	}
	return r, nil
}

func (r *rejecter) Close() {
	if r.fd4 >= 0 {
		unix.Close(r.fd4)
	}
	if r.fd6 >= 0 {
		unix.Close(r.fd6)
	}
}

// icmpCode maps a reject to the code for the packet's family.
func icmpCode(kind parser.RejectKind, code uint8, fam uint8) (uint8, bool) {
	switch kind {
	case parser.RejectDefault:
		if fam == 4 {
			return 3, true // port unreachable
		}
		return 4, true
	case parser.RejectICMP:
		return code, fam == 4
	case parser.RejectICMPv6:
		return code, fam == 6
	case parser.RejectICMPx:
		// NFT_REJECT_ICMPX_* → per-family codes (nft_reject_icmp_code).
		v4 := [...]uint8{0, 3, 1, 13}
		v6 := [...]uint8{0, 4, 3, 1}
		if int(code) >= len(v4) {
			return 0, false
		}
		if fam == 4 {
			return v4[code], true
		}
		return v6[code], true
	}
	return 0, false
}

// expectReply records the reply the kernel's nft_reject is about to build
// for p (nfd handed the packet back to it: planner/rejectcont.go) as
// related to p's connection in ct, for nfd's queues that meet it: the
// kernel attaches it (nf_ct_attach()), and packet.BuildReset builds the
// same TCP header (nf_reject_ip_tcphdr_put()). An ICMP error the kernel
// sends from another address than p's destination (a forwarded packet)
// is not recognised here; conntrack relates it by the packet it quotes.
func expectReply(p *packet.Parsed, kind parser.RejectKind, code uint8, ct *conntrack.Table, ctr *conntrack.Result) {
	if ct == nil || !ctr.Found {
		return
	}
	var out []byte
	if kind == parser.RejectTCPReset {
		out = packet.BuildReset(p)
	} else if c, ok := icmpCode(kind, code, p.Family); ok {
		out = packet.BuildUnreach(p, c)
	}
	if out != nil {
		ct.Attach(out, ctr)
	}
}

// Send answers p, whose connection ct reported as ctr. It sends nothing
// where the kernel would not: a RST for a RST, an ICMP error about an ICMP
// error, a later fragment, multicast. Before sending, it ties the reply to
// p's connection in ct, as nf_send_reset() and nf_send_unreach() do with
// nf_ct_attach(): nfd's queues see the reply again at output (and, looped
// back, at prerouting and input), where it must be related to that
// connection, not tracked as a packet of its own.
func (r *rejecter) Send(p *packet.Parsed, kind parser.RejectKind, code uint8, ct *conntrack.Table, ctr *conntrack.Result) error {
	var out []byte
	if kind == parser.RejectTCPReset {
		out = packet.BuildReset(p)
	} else if c, ok := icmpCode(kind, code, p.Family); ok {
		out = packet.BuildUnreach(p, c)
	}
	if out == nil {
		return nil
	}
	if ct != nil {
		ct.Attach(out, ctr)
	}
	if p.Family == 4 {
		var sa unix.SockaddrInet4
		copy(sa.Addr[:], packet.IPv4(out).Dst())
		return unix.Sendto(r.fd4, out, 0, &sa)
	}
	if r.fd6 < 0 {
		return fmt.Errorf("no raw IPv6 socket")
	}
	var sa unix.SockaddrInet6
	copy(sa.Addr[:], packet.IPv6(out).Dst())
	return unix.Sendto(r.fd6, out, 0, &sa)
}
