#!/usr/bin/env bash
# The benchmark suite (issue 8): what the session handler costs on each
# store against a plain reverse_proxy, and PHP's native sessions on Redis
# against the same PHP behind this module. Builds ./caddy, installs what it
# needs (wrk, redis-server, php-fpm, php-redis, PostgreSQL), runs the
# driver (internal/bench: its own upstream, Redis on a free port, fresh
# PostgreSQL databases, SQLite in a temp dir, one Caddy per configuration,
# wrk in alternating rounds, with a "plain + token floor" line per session
# size: plain reverse_proxy carrying headers of the token's size; CPU
# profiles of plain and of the read lines) and writes docs/benchmarks.md and
# docs/benchmarks.png. About 18 minutes on 2 cores; BENCH_QUICK=1 runs one
# round of 2 s per configuration (about a minute) to check the suite.
#
#   ./scripts/bench.sh
#   BENCH_QUICK=1 ./scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

scripts/install-deps.sh bench
./xcaddy.sh --if-changed

start=$(date +%s)
command="./scripts/bench.sh"
[ "${BENCH_QUICK:-}" = 1 ] && command="BENCH_QUICK=1 ./scripts/bench.sh"
go run ./internal/bench -caddy ./caddy -out docs/benchmarks.md -png docs/benchmarks.png -command "$command" "$@"
echo "bench.sh: done in $(( $(date +%s) - start ))s (after the build)" >&2
