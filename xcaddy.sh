#!/usr/bin/env bash
# Builds ./caddy: Caddy v2.11.9 with this module from the local tree.
# Installs xcaddy (pinned) into $(go env GOPATH)/bin when it is missing.
set -euo pipefail
cd "$(dirname "$0")"

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

# Build into a temporary name, then rename: a running ./caddy is not disturbed.
XCADDY_SKIP_CLEANUP=0 "$XCADDY" build "$CADDY_VERSION" --output ./caddy.new --with "$MODULE@v0.0.0-00010101000000-000000000000=./"
mv -f ./caddy.new ./caddy
./caddy list-modules | grep -qx 'http.handlers.session' || {
	echo "xcaddy.sh: ./caddy was built but does not list http.handlers.session" >&2
	exit 1
}
echo "xcaddy.sh: built ./caddy ($(./caddy version | cut -d' ' -f1)) with $MODULE" >&2
