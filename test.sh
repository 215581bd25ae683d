#!/usr/bin/env bash
# Runs every test: formatting and vet, the unit packages under the race
# detector, a brief run of every fuzz target, then the end-to-end suite
# against the real ./caddy with real redis-server, php-fpm, Node and Python
# upstreams.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"

scripts/install-deps.sh test

echo "== gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

echo "== unit tests (race detector)"
go test -race -count=1 ./session/... ./headers/... ./caddymodule/...

echo "== fuzz (brief)"
scripts/fuzz.sh

echo "== build ./caddy"
./xcaddy.sh

echo "== end-to-end tests"
CADDY_BIN="$PWD/caddy" go test -count=1 -timeout 30m ./integration/...
