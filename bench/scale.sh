#!/usr/bin/env bash
# Large rulesets and sets, in one run (issues 20 and 16.2): load time of
# nfd against `nft -f` of the same file, reload with one rule / element
# changed against the full load (reload_over_load: targets 0.1 for rules,
# 0.25 for elements; the same ratio in CPU seconds beside it, which a
# busy machine disturbs less; the batch's size is from nfd's log), and nfd's
# resident memory. Everything
# runs in throwaway namespaces (nfd-scale-*), removed on exit.
#   sudo bench/scale.sh            # RULES=100000 ELEMS=1000000
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10}
cd "$(dirname "$0")/.."
RULES=${RULES:-100000}
ELEMS=${ELEMS:-1000000}
W=$(mktemp -d)
NS=nfd-scale-$$
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	ip netns del "$NS-nft" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p bench/out
OUT=bench/out/scale-$(date +%Y%m%d-%H%M%S).txt
go build -o "$W/nfd" ./cmd/nfd

# rules FILE N CHANGED: N rules in one chain; CHANGED moves rule N/2's port.
rules() {
	awk -v n="$2" -v ch="$3" 'BEGIN {
		print "table ip t {\n  chain input {\n    type filter hook input priority 0; policy accept;"
		for (i = 0; i < n; i++) {
			p = 1 + i % 60000; if (ch && i == int(n/2)) p = 65000
			printf "    ip saddr 10.%d.%d.%d tcp dport %d counter drop\n", int(i/65536)%256, int(i/256)%256, i%256, p
		}
		print "  }\n}" }' > "$1"
}
# set FILE N CHANGED: a named IPv4 set of N elements and one rule using it.
set_file() {
	awk -v n="$2" -v ch="$3" 'BEGIN {
		print "table ip t {\n  set block {\n    type ipv4_addr\n    elements = {"
		for (i = 0; i < n; i++) {
			a = 167772160 + i; if (ch && i == int(n/2)) a = 3221225985
			printf "      %d.%d.%d.%d,\n", int(a/16777216)%256, int(a/65536)%256, int(a/256)%256, a%256
		}
		print "    }\n  }\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip saddr @block counter drop\n  }\n}" }' > "$1"
}
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

# nft_load FILE: seconds `nft -f` takes in a fresh namespace.
nft_load() {
	ip netns add "$NS-nft"
	local s e; s=$(now); /usr/bin/time -f "%U %S" -o "$W/nft.cpu" ip netns exec "$NS-nft" nft -f "$1"; e=$(now)
	ip netns del "$NS-nft"
	echo "$(secs "$s" "$e") cpu_s=$(awk '{print $1+$2}' "$W/nft.cpu")"
}
# nfd_cycle FILE CHANGED LABEL: start nfd on a copy of FILE (time to "nfd
# running"), then edit that file into CHANGED and reload it (time of `nfd
# reload`: what an operator does), RSS after each.
nfd_cycle() {
	ip netns add "$NS"
	local sock="$W/s.sock" log="$W/run.log" live="$W/live.nft" s e load reload
	cp "$1" "$live"
	s=$(now)
	ip netns exec "$NS" "$W/nfd" run --rules "$live" --socket "$sock" --metrics-addr "" --state-dir "$W/st" >"$log" 2>&1 &
	PID=$!
	until grep -q "nfd running" "$log"; do
		kill -0 "$PID" 2>/dev/null || { cat "$log"; exit 1; }
		sleep 0.05
	done
	e=$(now); load=$(secs "$s" "$e")
	# CPU seconds (user+system) nfd used to get there: a measure the
	# shared machine's other load disturbs less than wall time.
	local cpu; cpu=$(awk '{print ($14+$15)/100}' /proc/$PID/stat)
	local rss1; rss1=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
	sleep 2 # nfd returns a load's freed memory to the OS beside it
	local rss1s; rss1s=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
	local c0; c0=$(awk '{print $14+$15}' /proc/$PID/stat)
	cp "$2" "$live"
	s=$(now); ip netns exec "$NS" "$W/nfd" reload --socket "$sock" >/dev/null; e=$(now)
	reload=$(secs "$s" "$e")
	# The reload's CPU seconds, as the load's: what a busy machine
	# disturbs less than the wall time.
	local rcpu; rcpu=$(awk -v c0="$c0" '{print ($14+$15-c0)/100}' /proc/$PID/stat)
	sleep 2
	local rss2 hwm; rss2=$(awk '/VmRSS/ {print $2}' /proc/$PID/status); hwm=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
	kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
	ip netns del "$NS"
	local msgs; msgs=$(grep -o 'rules_reused=[0-9]* batch_messages=[0-9]* tables_whole=[0-9]* chains_dumped=[0-9]*' "$log" | tail -1)
	echo "$3 load_s=$load load_cpu_s=$cpu reload_s=$reload reload_cpu_s=$rcpu reload_over_load=$(echo "scale=3; $reload / $load" | bc) reload_cpu_over_load_cpu=$(echo "scale=3; $rcpu / $cpu" | bc) $msgs rss_kb=$rss1 rss_settled_kb=$rss1s rss_after_reload_kb=$rss2 peak_kb=$hwm"
}

rules "$W/r.nft" "$RULES" 0
rules "$W/r1.nft" "$RULES" 1
set_file "$W/s.nft" "$ELEMS" 0
set_file "$W/s1.nft" "$ELEMS" 1
{
	echo "rules=$RULES elems=$ELEMS $(uname -r) $(date -u +%FT%TZ)"
	echo "nft_rules_load_s=$(nft_load "$W/r.nft")"
	nfd_cycle "$W/r.nft" "$W/r1.nft" nfd_rules
	echo "nft_set_load_s=$(nft_load "$W/s.nft")"
	nfd_cycle "$W/s.nft" "$W/s1.nft" nfd_set
} | tee "$OUT"
echo "results: $OUT"
