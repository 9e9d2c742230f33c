#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each.
set -euo pipefail
t=${1:-15s}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //'); do
		echo "fuzz: $pkg $target for $t"
		go test -run XXX -fuzz "^${target}\$" -fuzztime "$t" "$pkg" >/tmp/nfd-fuzz.log 2>&1 || { cat /tmp/nfd-fuzz.log; exit 1; }
		tail -1 /tmp/nfd-fuzz.log
	done
done
