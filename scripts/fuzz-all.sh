#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each. A real
# finding ("Failing input written to testdata/fuzz/...") fails the run.
# Go's fuzzer sometimes ends a clean time-bounded run with "context
# deadline exceeded" when the clock runs out while a worker is busy; that
# is not a finding, so such a run is retried once and then only reported.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10} # see Makefile
t=${1:-15s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //'); do
		for attempt in 1 2; do
			echo "fuzz: $pkg $target for $t"
			if go test -run XXX -fuzz "^${target}\$" -fuzztime "$t" "$pkg" >"$log" 2>&1; then
				tail -1 "$log"
				break
			fi
			if grep -q "Failing input written" "$log" || ! grep -q "context deadline exceeded" "$log"; then
				cat "$log"
				exit 1
			fi
			echo "fuzz: $target ended with Go's 'context deadline exceeded' and no finding (attempt $attempt)"
		done
	done
done
