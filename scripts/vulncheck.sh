#!/usr/bin/env bash
# govulncheck against the Go vulnerability database, offline: vuln.go.dev
# cannot be reached from these machines, but the module proxy serves both
# the tool (golang.org/x/vuln) and the database's source
# (golang.org/x/vulndb, whose data/osv holds every report); the database
# is generated from it once per vulndb version with the repository's own
# cmd/gendb and cached. Exit status: govulncheck's (3 when vulnerable code
# is called). Bump VULNDB to check against newer reports.
set -euo pipefail
VULN=${VULN:-v1.9.0}
VULNDB=${VULNDB:-v0.0.0-20261105234957-e22db6528018}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/nfd-vulndb/$VULNDB
gobin=$(go env GOPATH)/bin
if ! "$gobin/govulncheck" -version 2>/dev/null | grep -q "golang.org/x/vuln@$VULN"; then
	GOFLAGS=-mod=mod go install "golang.org/x/vuln/cmd/govulncheck@$VULN"
fi
if [ ! -f "$cache/index/db.json" ]; then
	src=$(GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@$VULNDB" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	cp -r "$src" "$work/vulndb"
	chmod -R u+w "$work/vulndb"
	# gendb reads the reports through git.
	git -C "$work/vulndb" init -q
	git -C "$work/vulndb" add -A
	git -C "$work/vulndb" -c user.email=vulncheck@nfd -c user.name=vulncheck commit -qm "vulndb $VULNDB"
	mkdir -p "$(dirname "$cache")"
	(cd "$work/vulndb" && GOFLAGS=-mod=mod go run ./cmd/gendb -repo . -out "$cache.tmp" >/dev/null 2>&1)
	mv "$cache.tmp" "$cache"
fi
echo "govulncheck $VULN, database golang.org/x/vulndb@$VULNDB, $(go version | cut -d' ' -f3)"
exec "$gobin/govulncheck" -db "file://$cache" ./...
