#!/usr/bin/env bash
# Cost of a continuation (issue 15): the forward path client -> firewall ->
# server in namespaces, every packet queued to nfd by a name rule without
# a port (`http host ... drop`), then decided by
#   accept     nfd: `ip daddr S udp dport 5201 accept` (queued, accepted)
#   cont       the same rules behind `meta pkttype host`, which only the
#              kernel can evaluate: nfd answers NF_REPEAT, the kernel's
#              dispatch rule goes to the continuation chain, which accepts
#              (queued, then continued in the kernel)
#   cont-back  as cont with --offload=none and a `meta pkttype host counter`
#              rule first: continued in the kernel, queued back to nfd at
#              the next rule, accepted there (two trips through the queue)
#   native     the accept rules loaded with nft -f (no queue)
# all in one run. For each: UDP 64-byte packets/s (iperf3, unlimited), and
# ping RTT median/p99 with no other load. Results: bench/out/continue-*.txt.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10} # see Makefile
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
SECS=${SECS:-4}
MODES=${MODES:-"native accept cont cont-back"}
mkdir -p bench/out
go build -o bin/nfd ./cmd/nfd
P=nfd-bench-$$
C=$P-c F=$P-f S=$P-s
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in "$C" "$F" "$S"; do ip netns del "$n" 2>/dev/null || true; done
	rm -f /tmp/$P-*.nft
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
rules() { # name-rule first-rule match -> file
	local f=/tmp/$P-$RANDOM.nft
	cat > "$f" <<R
table inet bench {
	chain forward {
		type filter hook forward priority 0; policy drop;
		$1
		$2
		$3 ip daddr 10.10.2.2 udp dport 5201 accept
		$3 ip daddr 10.10.2.2 tcp dport 5201 accept
		$3 icmp type echo-request accept
		$3 ct state established,related accept
	}
}
R
	echo "$f"
}
SOCK=/tmp/$P.sock
start_mode() {
	local f off=auto
	case $1 in
	native) ip netns exec "$F" nft -f "$(rules "" "" "")"; return ;;
	accept) f=$(rules 'http host "bench.example" drop' "" "") ;;
	cont) f=$(rules 'http host "bench.example" drop' "" "meta pkttype host") ;;
	cont-back) f=$(rules 'http host "bench.example" drop' "meta pkttype host counter" ""); off=none ;;
	esac
	ip netns exec "$F" bin/nfd run --rules "$f" --offload $off --socket "$SOCK" --metrics-addr "" --queues 1 >/tmp/$P.log 2>&1 & pids+=($!)
	for _ in $(seq 50); do ip netns exec "$F" bin/nfd status --socket "$SOCK" >/dev/null 2>&1 && return; sleep 0.1; done
	echo "nfd did not start for mode $1:"; cat /tmp/$P.log; exit 1
}
stop_mode() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && { kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; }; done
	pids=()
	ip netns exec "$F" nft flush ruleset
}
udp_pps() {
	ip netns exec "$S" iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.3
	ip netns exec "$C" iperf3 -c 10.10.2.2 -u -l 64 -b 0 -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]["sum"]; print(int((d["packets"]-d["lost_packets"])/d["seconds"]))'
}
rtt() { # "median p99" in microseconds, idle
	ip netns exec "$C" ping -q -c 100 -i 0.01 10.10.2.2 >/dev/null 2>&1 || true
	ip netns exec "$C" ping -c 400 -i 0.005 10.10.2.2 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' |
		sort -n | awk '{a[NR]=$1} END {printf "%d %d", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'
}
OUT=bench/out/continue-$(date +%Y%m%d-%H%M%S).txt
printf "%-10s %10s %10s %10s %10s\n" mode udp_pps rtt_p50_us rtt_p99_us continued | tee "$OUT"
for round in $(seq "${ROUNDS:-1}"); do
	for m in $MODES; do
		start_mode "$m"
		pps=$(udp_pps)
		lat=$(rtt)
		cont=-
		[ "$m" != native ] && cont=$(ip netns exec "$F" bin/nfd status --socket "$SOCK" --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("continued_in_kernel", 0))')
		printf "%-10s %10s %10s %10s %10s\n" "$m" "$pps" $lat "$cont" | tee -a "$OUT"
		stop_mode
	done
done
echo "results: $OUT"
