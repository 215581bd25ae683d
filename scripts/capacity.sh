#!/usr/bin/env bash
# The capacity run (issue 16): Caddy's CPU per read, write and new session
# on each store (memory, file, SQLite, Redis, PostgreSQL, the last two also
# with 1 million pre-loaded sessions), the store server's own CPU, round
# trips per request and bytes per session, measured through the real
# ./caddy with wrk; then the cost model in docs/capacity.md, written from
# the figures it keeps in docs/capacity.json. About 8 to 9 minutes on 2
# cores (5 rounds of 5 s per line); CAPACITY_QUICK=1 runs one round of 2 s per
# line and 20 k pre-loaded sessions (under two minutes) to check the driver.
#
#   ./scripts/capacity.sh
#   CAPACITY_QUICK=1 ./scripts/capacity.sh
#   go run ./internal/bench -capacity docs/capacity.md -capacity-render   # the doc again, no run
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

scripts/install-deps.sh bench
./xcaddy.sh --if-changed

start=$(date +%s)
command="./scripts/capacity.sh"
quick=()
if [ "${CAPACITY_QUICK:-}" = 1 ]; then
	command="CAPACITY_QUICK=1 ./scripts/capacity.sh"
	quick=(-quick)
fi
go run ./internal/bench -caddy ./caddy -capacity docs/capacity.md -capacity-json docs/capacity.json -capacity-command "$command" "${quick[@]}" "$@"
echo "capacity.sh: done in $(( $(date +%s) - start ))s (after the build)" >&2
