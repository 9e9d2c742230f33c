#!/usr/bin/env bash
# Runs the Go benchmarks whose ratios bench/README.md reports, in one run.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10} # see Makefile
cd "$(dirname "$0")/.."
mkdir -p bench/out
OUT=bench/out/gobench-$(date +%Y%m%d-%H%M%S).txt
go test -run XXX -bench 'Decode|BaselineCopy|TLSServerName' -benchmem ./packet | tee "$OUT"
go test -run XXX -bench 'TrackExisting|BaselineMap|Insert|MemoryPerEntry|ReapFullSweep' -benchmem ./conntrack | tee -a "$OUT"
go test -run XXX -bench 'Eval' -benchmem ./rules | tee -a "$OUT"
go test -run XXX -bench 'Parse|Reparse' -benchtime 3x -benchmem ./parser | tee -a "$OUT"
echo "results: $OUT"
