#!/usr/bin/env bash
# The caddy-session demo in one command: builds ./caddy with the module
# (unless ./caddy is up to date with the sources), starts the demo app (demo/app.py) and Caddy (Caddyfile.example) in front of
# it. Open the printed address; Ctrl-C stops both.
#
#   ./demo.sh                      # http://localhost:8080, app on 8000
#   DEMO_PORT=9090 DEMO_APP_PORT=9000 ./demo.sh
#
# Everything the demo keeps (its secret, Caddy's data dir with the session
# files) is under .demo/; delete that directory to start afresh.
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh demo

if [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
elif command -v python3 >/dev/null; then
	PYTHON=$(command -v python3)
else
	echo "demo.sh: Python 3 is required for the demo app but python3 is not installed (Debian/Ubuntu: apt-get install -y python3)" >&2
	exit 1
fi
command -v go >/dev/null || {
	echo "demo.sh: Go is required to build ./caddy but 'go' is not on PATH (https://go.dev/doc/install)" >&2
	exit 1
}

./xcaddy.sh --if-changed

export DEMO_PORT="${DEMO_PORT:-8080}"
export DEMO_APP_PORT="${DEMO_APP_PORT:-8000}"
mkdir -p .demo
chmod 700 .demo
if [ -z "${SESSION_SECRET:-}" ]; then
	if [ ! -s .demo/secret ]; then
		(umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(48))' >.demo/secret)
		echo "demo.sh: generated a session secret in .demo/secret" >&2
	fi
	SESSION_SECRET=$(cat .demo/secret)
fi
export SESSION_SECRET
# Caddy's data dir (and so the file session store) stays inside .demo/.
export XDG_DATA_HOME="$PWD/.demo/data" XDG_CONFIG_HOME="$PWD/.demo/config"

# Both run in the background so that Ctrl-C (or a TERM) stops both.
trap 'kill ${APP_PID:+"$APP_PID"} ${CADDY_PID:+"$CADDY_PID"} 2>/dev/null || true; wait' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$PYTHON" demo/app.py &
APP_PID=$!
for _ in $(seq 100); do
	kill -0 "$APP_PID" 2>/dev/null || { echo "demo.sh: the demo app did not start (is port $DEMO_APP_PORT free? set DEMO_APP_PORT)" >&2; exit 1; }
	(: >"/dev/tcp/127.0.0.1/$DEMO_APP_PORT") 2>/dev/null && break
	sleep 0.1
done

echo
echo "Open http://localhost:$DEMO_PORT"
echo "(Ctrl-C stops Caddy and the app; run ./demo.sh again and your session is still there.)"
echo
./caddy run --config Caddyfile.example --adapter caddyfile &
CADDY_PID=$!
wait "$CADDY_PID"
