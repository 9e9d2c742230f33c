#!/usr/bin/env bash
# Forward-path benchmark: client -> firewall -> server in namespaces, all
# measured in one run so the numbers compare. Modes:
#   none     no firewall
#   native   the same rules loaded with nft -f
#   gonfq    go-nfqueue accept-all on its default path (bench/acceptall)
#   gonfq-gso the same with NFQA_CFG_F_GSO and a 128-byte copy (what a
#            minimal handler reaches when TCP super-packets are queued whole)
#   nfd      nfd run --offload=none (every packet through userspace)
#   nfd-empty nfd --offload=none on an empty policy-accept forward chain:
#            the floor of the queue path (every packet still queued and
#            tracked, no rule to run)
#   nfd-poll nfd --offload=none --busy-poll $BUSY_POLL (default 10ms): the
#            reader polls instead of sleeping between packets
#   nfd-q2   nfd with --queues 2
#   nfd-auto nfd --offload=auto (this ruleset is wholly kernel-expressible)
#   nfd-sni  nfd --offload=auto on the same rules plus one `tls sni` rule
#            after `ct state established,related accept`
# plus new TCP connections per second (bench/connrate, 8 dialling
# goroutines or CONN_WORKERS, each connection opened and closed).
# For each: UDP 64-byte packets/s (iperf3), bulk TCP (iperf3), and ping RTT
# median/p99 under half the mode's UDP peak (RTT_LOAD_PPS=N sets the load
# instead; PACING_US sets iperf3's pacing timer, default 1000;
# UDP_STREAMS=N sends the UDP load as N parallel iperf3 streams).
# TESTS="udp tcp rtt conn" picks the measurements (a skipped one prints -).
# Results: bench/out/forward-*.txt.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10} # see Makefile
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
SECS=${SECS:-5}
MODES=${MODES:-"none native gonfq nfd nfd-q2 nfd-auto nfd-sni"}
mkdir -p bench/out
go build -o bin/nfd ./cmd/nfd
go build -o bin/acceptall ./bench/acceptall
go build -o bin/connrate ./bench/connrate
P=nfd-bench-$$
C=$P-c F=$P-f S=$P-s
pids=()
cleanup() {
	[ -n "${pids_keep:-}" ] && kill "$pids_keep" 2>/dev/null || true
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in "$C" "$F" "$S"; do ip netns del "$n" 2>/dev/null || true; done
	rm -f "${RULES:-}" "${SNIRULES:-}" "${EMPTYRULES:-}"
}
trap cleanup EXIT INT TERM
for n in "$C" "$F" "$S"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add c0 netns "$C" type veth peer name f0 netns "$F"
ip link add f1 netns "$F" type veth peer name s0 netns "$S"
ip -n "$C" addr add 10.10.1.2/24 dev c0; ip -n "$F" addr add 10.10.1.1/24 dev f0
ip -n "$F" addr add 10.10.2.1/24 dev f1; ip -n "$S" addr add 10.10.2.2/24 dev s0
for x in "$C c0" "$F f0" "$F f1" "$S s0"; do set -- $x; ip -n "$1" link set "$2" up; done
ip netns exec "$F" sysctl -qw net.ipv4.ip_forward=1
ip -n "$C" route add default via 10.10.1.1
ip -n "$S" route add default via 10.10.2.1
ip netns exec "$S" iperf3 -s -D -1 >/dev/null 2>&1 || true
ip netns exec "$C" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
ip netns exec "$S" bin/connrate -serve :5202 & pids_keep=$!
RULES=$(mktemp /tmp/nfd-bench-rules.XXXX.nft)
cat > "$RULES" <<'R'
table inet bench {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		ip daddr 10.10.2.2 tcp dport { 5201, 5202 } accept
		ip daddr 10.10.2.2 udp dport 5201 accept
		icmp type echo-request accept
	}
}
R
EMPTYRULES=$(mktemp /tmp/nfd-bench-empty.XXXX.nft)
printf 'table inet bench {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n\t}\n}\n' > "$EMPTYRULES"
SNIRULES=$(mktemp /tmp/nfd-bench-sni.XXXX.nft)
sed 's/\tct state established,related accept/&\n\t\ttcp dport 5201 tls sni "bench.example" accept comment "sni"/' "$RULES" > "$SNIRULES"
SOCK=/tmp/$P.sock
start_mode() {
	case $1 in
	none) ;;
	native) ip netns exec "$F" nft -f "$RULES" ;;
	gonfq) ip netns exec "$F" bin/acceptall & pids+=($!); sleep 1 ;;
	gonfq-gso) ip netns exec "$F" bin/acceptall -gso & pids+=($!); sleep 1 ;;
	nfd|nfd-poll|nfd-empty|nfd-q2|nfd-auto|nfd-sni)
		q=1; [ "$1" = nfd-q2 ] && q=2
		off=none; rules=$RULES
		[ "$1" = nfd-auto ] && off=auto
		[ "$1" = nfd-empty ] && rules=$EMPTYRULES
		[ "$1" = nfd-sni ] && { off=auto; rules=$SNIRULES; }
		prof=""; [ -n "${PROFILE:-}" ] && prof="--cpu-profile bench/out/cpu-$1.pprof"
		poll=0; [ "$1" = nfd-poll ] && poll=${BUSY_POLL:-10ms}
		ip netns exec "$F" bin/nfd run --busy-poll $poll --rules "$rules" --offload $off --socket "$SOCK" --metrics-addr "" --queues $q $prof >/tmp/$P.log 2>&1 & pids+=($!)
		up=""
		for _ in $(seq 50); do ip netns exec "$F" bin/nfd status --socket "$SOCK" >/dev/null 2>&1 && { up=1; break; }; sleep 0.1; done
		# A mode whose daemon did not start would measure no firewall.
		[ -n "$up" ] || { echo "nfd did not start for mode $1:"; cat /tmp/$P.log; exit 1; } ;;
	esac
}
stop_mode() {
	for p in "${pids[@]:-}"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
	ip netns exec "$F" nft flush ruleset
}
udp_pps() { # rate (0 = unlimited) -> packets/s received
	ip netns exec "$S" iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.3
	ip netns exec "$C" iperf3 -c 10.10.2.2 -u -l 64 -b "${1:-0}" -P "${UDP_STREAMS:-1}" -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]["sum"]; print(int((d["packets"]-d["lost_packets"])/d["seconds"]))'
}
tcp_bps() {
	ip netns exec "$S" iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.3
	ip netns exec "$C" iperf3 -c 10.10.2.2 -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}
rtt() { # load pps -> "median p99" in microseconds
	ip netns exec "$S" iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.3
	ip netns exec "$C" iperf3 -c 10.10.2.2 -u -l 64 -b "$(( $1 * 64 * 8 ))" --pacing-timer "${PACING_US:-1000}" -t 4 >/dev/null 2>&1 & local ip=$!
	sleep 0.5
	ip netns exec "$C" ping -q -c 300 -i 0.01 10.10.2.2 >/dev/null 2>&1 || true
	ip netns exec "$C" ping -c 300 -i 0.005 10.10.2.2 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' |
		sort -n | awk '{a[NR]=$1} END {printf "%d %d", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'
	wait $ip 2>/dev/null || true
}
TESTS=${TESTS:-"udp tcp rtt conn"}
want() { case " $TESTS " in *" $1 "*) return 0 ;; esac; return 1; }
OUT=bench/out/forward-$(date +%Y%m%d-%H%M%S).txt
printf "%-8s %12s %14s %10s %10s %10s\n" mode udp_pps tcp_bps rtt_p50_us rtt_p99_us conn_per_s | tee "$OUT"
for m in $MODES; do
	start_mode "$m"
	pps=- bps=- lat="- -" cps=-
	want udp && pps=$(udp_pps 0)
	want tcp && bps=$(tcp_bps)
	want rtt && lat=$(rtt "${RTT_LOAD_PPS:-$((${pps/-/20000} / 2))}")
	want conn && cps=$(ip netns exec "$C" bin/connrate -addr 10.10.2.2:5202 -secs "$SECS" -workers "${CONN_WORKERS:-8}" | awk '{print $1}')
	printf "%-8s %12s %14s %10s %10s %10s\n" "$m" "$pps" "$bps" $lat "$cps" | tee -a "$OUT"
	if [ "$m" = nfd ] && want udp; then
		# queue drops at 80% of nfd's measured peak
		before=$(ip netns exec "$F" cat /proc/net/netfilter/nfnetlink_queue | awk '{d+=$6+$7} END {print d+0}')
		udp_pps $((pps * 80 / 100 * 64 * 8)) >/dev/null
		after=$(ip netns exec "$F" cat /proc/net/netfilter/nfnetlink_queue | awk '{d+=$6+$7} END {print d+0}')
		echo "nfd queue drops at 80% of peak: $((after - before))" | tee -a "$OUT"
	fi
	stop_mode
done
echo "results: $OUT"
