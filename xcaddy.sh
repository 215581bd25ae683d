#!/usr/bin/env bash
# Builds ./caddy: Caddy v2.11.9 with this module from the local tree, with
# the SQL stores (package sqlstores: PostgreSQL, SQLite, MySQL drivers).
# Installs xcaddy (pinned) into $(go env GOPATH)/bin when it is missing.
#
#   ./xcaddy.sh           # ./caddy: every store
#   ./xcaddy.sh --lean    # ./caddy-lean: the default build a user gets
#                         # from --with github.com/caddy-session/caddy-session
#                         # alone, without the SQL drivers (no store db or
#                         # cached_db)
#   ./xcaddy.sh --plain   # ./caddy-plain: Caddy alone, no plugin, with the
#                         # same xcaddy and flags: the baseline of the
#                         # README's build-size table
#   ./xcaddy.sh -race     # ./caddy-race, with the race detector: what the
#                         # end-to-end tests run (test.sh); slower, for tests
#   ./xcaddy.sh --if-changed [-race]
#                         # keep the binary when nothing it is built from
#                         # changed since it was built (demo.sh, test.sh)
set -euo pipefail
cd "$(dirname "$0")"

OUTPUT=./caddy
IF_CHANGED=0
LEAN=0
PLAIN=0
for arg in "$@"; do
	case "$arg" in
	-race)
		OUTPUT=./caddy-race
		export XCADDY_RACE_DETECTOR=1 # xcaddy adds -race and enables cgo
		;;
	--lean) LEAN=1 ;;
	--plain) PLAIN=1 ;;
	--if-changed) IF_CHANGED=1 ;;
	*)
		echo "usage: $0 [--if-changed] [--lean | --plain] [-race]" >&2
		exit 2
		;;
	esac
done
if [ "$LEAN" = 1 ] && [ "$PLAIN" = 1 ]; then
	echo "$0: --lean and --plain exclude each other" >&2
	exit 2
fi
[ "$LEAN" = 1 ] && OUTPUT="$OUTPUT-lean"
[ "$PLAIN" = 1 ] && OUTPUT="$OUTPUT-plain"

CADDY_VERSION=v2.11.9
XCADDY_VERSION=v0.4.5
MODULE=$(go list -m)

command -v go >/dev/null || { echo "xcaddy.sh: Go is required (1.26 or later) but 'go' is not on PATH" >&2; exit 1; }

XCADDY="$(go env GOPATH)/bin/xcaddy"
if [ ! -x "$XCADDY" ] || ! "$XCADDY" version 2>/dev/null | grep -q "$XCADDY_VERSION"; then
	echo "xcaddy.sh: installing xcaddy $XCADDY_VERSION" >&2
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION" || {
		echo "xcaddy.sh: could not install xcaddy $XCADDY_VERSION through the Go module proxy" >&2
		exit 1
	}
fi

# What the binary is built from: the module's Go sources (tests aside),
# go.mod, go.sum, this script and the Go version. Its hash is kept beside
# the binary; with --if-changed an equal hash keeps the binary.
stamp() {
	{
		find . -name '*.go' ! -name '*_test.go' -not -path './.git/*' -not -path '*/node_modules/*' -not -path './.demo/*' -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum
		sha256sum go.mod go.sum "$0"
		go version
		echo "race=${XCADDY_RACE_DETECTOR:-0} lean=$LEAN plain=$PLAIN"
	} | sha256sum | cut -d' ' -f1
}
want=$(stamp)
if [ "$IF_CHANGED" = 1 ] && [ -x "$OUTPUT" ] && [ "$(cat "$OUTPUT.stamp" 2>/dev/null)" = "$want" ]; then
	echo "xcaddy.sh: $OUTPUT is up to date with the module's sources; not rebuilt" >&2
	exit 0
fi

# Build into a temporary name, then rename: a running binary is not disturbed.
# The SQL stores are a package of this module (sqlstores). xcaddy skips
# fetching a --with package that lies under a module it replaces without a
# version, so the module is replaced twice: pinned (for the require line)
# and unversioned (so that sqlstores comes from this tree as well).
WITH=(--with "$MODULE@v0.0.0-00010101000000-000000000000=./")
[ "$LEAN" = 1 ] || WITH+=(--replace "$MODULE=./" --with "$MODULE/sqlstores")
[ "$PLAIN" = 1 ] && WITH=()
XCADDY_SKIP_CLEANUP=0 "$XCADDY" build "$CADDY_VERSION" --output "$OUTPUT.new" "${WITH[@]}"
mv -f "$OUTPUT.new" "$OUTPUT"
echo "$want" >"$OUTPUT.stamp"
# Not a pipe into grep -q: grep stops at the first match, and under
# pipefail list-modules' SIGPIPE would fail the check.
if [ "$PLAIN" = 0 ]; then
	grep -qx 'http.handlers.session' <<<"$("$OUTPUT" list-modules)" || {
		echo "xcaddy.sh: $OUTPUT was built but does not list http.handlers.session" >&2
		exit 1
	}
fi
race=""
[ "${XCADDY_RACE_DETECTOR:-}" = 1 ] && race=", race detector on"
what="$MODULE and $MODULE/sqlstores"
[ "$LEAN" = 1 ] && what="$MODULE alone (lean: no SQL stores)"
[ "$PLAIN" = 1 ] && what="no plugin (plain Caddy)"
echo "xcaddy.sh: built $OUTPUT ($("$OUTPUT" version | cut -d' ' -f1), $(stat -c %s "$OUTPUT") bytes) with $what$race" >&2
