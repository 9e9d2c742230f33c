#!/usr/bin/env bash
# The long soak of the reliability issue: mixed TCP and UDP exchanges
# through nfd with a reload every 2 seconds, for SOAK_SECONDS (default
# 300). It is TestSoak with a longer clock; its last line reports
# exchanges, failures, reloads, goroutines and heap before and after.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10} # see Makefile
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
mkdir -p bench/out
OUT=bench/out/soak-$(date +%Y%m%d-%H%M%S).txt
NFD_SOAK_SECONDS=${SOAK_SECONDS:-300} go test -count=1 -timeout 30m -run '^TestSoak$' -v ./cmd/nfd 2>&1 | tee "$OUT" | grep -E 'soak|PASS|FAIL|ok'
echo "results: $OUT"
