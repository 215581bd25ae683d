#!/usr/bin/env bash
# Runs every test: formatting and vet, the unit packages under the race
# detector, a brief run of every fuzz target, then the end-to-end suite
# against the real Caddy built with the race detector (./caddy-race) with
# real redis-server, php-fpm, Node and Python upstreams.
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
go test -race -count=1 . ./session/... ./headers/... ./caddymodule/... ./internal/charts/... ./internal/bench/... ./internal/relreport/...

echo "== adapter tests in their own languages"
/usr/bin/python3 -m unittest discover -s adapters/python/tests
(cd adapters/node && node --test)
adapters/ruby/test.sh
adapters/php/test.sh

echo "== fuzz (brief)"
scripts/fuzz.sh

# The end-to-end binary has the race detector: a data race in the module
# under real traffic, reloads and store outages fails the test that ran
# that Caddy (integration/harness_test.go). ./caddy, which demo.sh builds
# and runs, is left alone.
echo "== build ./caddy-race"
./xcaddy.sh --if-changed -race

echo "== end-to-end tests (./caddy-race)"
CADDY_BIN="$PWD/caddy-race" go test -count=1 -timeout 30m ./integration/...
