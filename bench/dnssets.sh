#!/usr/bin/env bash
# Sets filled from DNS answers (`dns names`): the added latency of DNS
# answers (p50/p99, with and without nfd, one run) and the TCP throughput
# of a name-allowed flow against a static-set-allowed one. Runs in
# throw-away namespaces (cmd/nfd TestDNSSetsBench); needs root, dnsmasq
# and iperf3. LOOKUPS= (1000), SECS= per iperf3 run (4), ROUNDS= (3),
# BUSY_POLL= (nfd's --busy-poll, default none).
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10}
cd "$(dirname "$0")/.."
mkdir -p bench/out
out=bench/out/dnssets-$(date +%Y%m%d-%H%M%S).txt
NFD_BENCH_DNS=1 go test -count=1 -run '^TestDNSSetsBench$' -v -timeout 20m ./cmd/nfd | tee "$out" | grep -E 'RESULT|FAIL|ok ' || true
echo "raw output: $out"
