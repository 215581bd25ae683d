#!/usr/bin/env bash
# The reliability suite (issue "Prove it under faults and load"): the
# TestReliability* tests at full scale, with real redis-server, Sentinel, a
# Redis Cluster, PostgreSQL, php-fpm, gunicorn, Node and the built ./caddy,
# load on 127.0.0.1 only, and the faults injected. Every figure they record
# goes into docs/reliability.md, generated here, with a chart of the traffic
# during each fault (docs/reliability/*.png); the figures are kept in
# docs/reliability.jsonl. About 30 minutes on 2 cores.
#
#   ./scripts/reliability.sh                 # everything
#   RELIABILITY_RUN='TestReliabilityWriters' ./scripts/reliability.sh
#                                            # those tests' figures replace their kept ones
#   go run ./internal/relreport/render -in docs/reliability.jsonl  # redraw only
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

scripts/install-deps.sh test
./xcaddy.sh --if-changed

out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
status=0
RELIABILITY_FULL=1 RELIABILITY_OUT="$out" CADDY_BIN="$PWD/caddy" \
	go test -count=1 -timeout 40m -run "${RELIABILITY_RUN:-TestReliability}" ./session/... ./caddymodule/... ./integration/... || status=$?
took=$(( $(date +%s) - start ))
if [ -s "$out" ]; then
	# A run of every scenario starts the kept figures afresh; a run of some
	# replaces those tests' figures and keeps the others'.
	if [ -z "${RELIABILITY_RUN:-}" ]; then
		: >docs/reliability.jsonl
		rm -f docs/reliability/*.png
	fi
	go run ./internal/relreport/render -in "$out" -keep docs/reliability.jsonl -out docs/reliability.md \
		-command "./scripts/reliability.sh" -took "$((took / 60))m$((took % 60))s"
	echo "reliability.sh: wrote docs/reliability.md ($(wc -l <"$out") figures, ${took}s)" >&2
else
	echo "reliability.sh: no figures recorded" >&2
	status=1
fi
exit $status
