#!/usr/bin/env python3
"""The caddy-session demo: a web app with logins and a visit counter that
has no session code of its own.

Caddy's `session` handler (see Caddyfile.example) stands in front of this
app. On every request it sends the session as one signed header,

    X-Session: <JWT, HS256, keyed with SESSION_SECRET>

whose claims are `data` (the session, a JSON object), `new`, `sid`,
`expires_at`, `browser_close`, `iat` and `exp`. The app changes the session
by answering with headers, which Caddy strips before the browser sees them:

    X-Session-Set: {"visits": 4}     store keys (session[k] = v)
    X-Session-Cycle-Key: 1           new session id, same data (on login)
    X-Session-Expiry: 2592000        set_expiry(): seconds, 0 = browser close
    X-Session-Flush: 1               forget the session (on logout)

Caddy keeps the session in its store and the cookie in the browser.

Only the Python standard library is used, so the token is verified by hand
below (any JWT library does the same in one call, e.g. PyJWT's
jwt.decode(token, secret, algorithms=["HS256"])).

Run it:  SESSION_SECRET=... python3 demo/app.py   (port: env DEMO_APP_PORT,
default 8000), or just ./demo.sh from the repository root.

This is a demo: "logging in" asks for a name only, no password.
"""

import base64
import hashlib
import hmac
import html
import json
import os
import sys
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SECRET = os.environ.get("SESSION_SECRET", "").encode()
REMEMBER_ME_SECONDS = 30 * 24 * 60 * 60  # 2592000: thirty days


def b64url_decode(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_session_token(token):
    """Return the claims of a valid X-Session token, or None.

    HS256 is an HMAC-SHA256 of "<header>.<payload>" with the shared secret.
    The algorithm is pinned (a token may not choose its own, "none" least of
    all), the MAC is compared in constant time, and exp is checked.
    """
    if not token or not SECRET:
        return None
    try:
        header64, payload64, signature64 = token.split(".")
        header = json.loads(b64url_decode(header64))
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return None
        expected = hmac.new(SECRET, f"{header64}.{payload64}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, b64url_decode(signature64)):
            return None
        claims = json.loads(b64url_decode(payload64))
    except (ValueError, UnicodeError):  # bad base64, JSON or shape
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), (int, float)):
        return None
    if time.time() >= claims["exp"]:
        return None
    return claims


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>caddy-session demo</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #222; }}
  h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }}
  .lead {{ color: #555; margin-top: 0; }}
  .card {{ border: 1px solid #ddd; border-radius: .6rem; padding: 1rem 1.4rem; margin: 1.2rem 0; }}
  .big {{ font-size: 2.4rem; font-weight: 600; }}
  dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }}
  dt {{ color: #666; }}
  dd {{ margin: 0; word-break: break-all; }}
  code {{ background: #f4f4f4; padding: 0 .25rem; border-radius: .2rem; }}
  button {{ font: inherit; padding: .35rem 1rem; border-radius: .4rem; border: 1px solid #888; background: #fafafa; cursor: pointer; }}
  input[type=text] {{ font: inherit; padding: .3rem .5rem; }}
  label {{ margin-right: 1rem; }}
</style>
</head>
<body>
<h1>caddy-session demo</h1>
<p class="lead">This page's app has no session code: Caddy keeps the session and
hands it over in a signed <code>X-Session</code> header.</p>

<div class="card">
  <div>You have seen this page</div>
  <div class="big"><span id="visits">{visits}</span> {times}</div>
  <div>Reload: the count goes up. Restart Caddy: it is still there.</div>
</div>

<div class="card">
{account}
</div>

<div class="card">
  <h2 style="font-size:1.1rem;margin-top:0">This session, as the app received it</h2>
  <dl>
    <dt>Session id (<code>sid</code>)</dt><dd id="sid">{sid}</dd>
    <dt>Expires</dt><dd id="expiry">{expiry}</dd>
    <dt>New this request</dt><dd id="new">{new}</dd>
  </dl>
</div>
</body>
</html>
"""

LOGGED_IN = """  <p>Signed in as <strong id="user">{user}</strong>.</p>
  <form method="post" action="/logout"><button type="submit">Log out</button></form>"""

LOGGED_OUT = """  <p id="user-none">You are not signed in.</p>
  <form method="post" action="/login">
    <input type="text" name="username" placeholder="Your name" required maxlength="64" autocomplete="username">
    <label><input type="checkbox" name="remember" value="on"> Remember me for 30 days</label>
    <button type="submit">Log in</button>
  </form>"""


def describe_expiry(claims):
    if "expires_at" not in claims:
        return "no session yet: it starts when something is stored"
    if claims.get("browser_close"):
        return "when you close your browser"
    at = datetime.fromtimestamp(claims["expires_at"], timezone.utc)
    days = (claims["expires_at"] - time.time()) / 86400
    return f"{at:%Y-%m-%d %H:%M:%S} UTC (in {days:.1f} days, counted from the last change)"


class DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        claims = self.session()
        if claims is None:
            return
        if urlsplit(self.path).path != "/":
            return self.send(404, b"not found\n", "text/plain; charset=utf-8")
        data = claims.get("data") or {}
        visits = int(data.get("visits", 0)) + 1
        user = data.get("user")
        account = LOGGED_IN.format(user=html.escape(str(user))) if user else LOGGED_OUT
        page = PAGE.format(
            visits=visits,
            times="time" if visits == 1 else "times",
            account=account,
            sid=html.escape(str(claims.get("sid", "none yet"))),
            expiry=html.escape(describe_expiry(claims)),
            new="yes" if claims.get("new") else "no",
        )
        # request.session["visits"] = visits
        self.send(200, page.encode(), "text/html; charset=utf-8",
                  {"X-Session-Set": json.dumps({"visits": visits})})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 4096:
            self.close_connection = True
            return self.send(413, b"form too large\n", "text/plain; charset=utf-8")
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace")) if length > 0 else {}
        if self.session() is None:
            return
        path = urlsplit(self.path).path
        if path == "/login":
            name = (form.get("username") or [""])[0].strip()[:64]
            if not name:
                return self.see_other({})
            remember = (form.get("remember") or [""])[0] == "on"
            return self.see_other({
                # Django's login(): store the user and cycle the key, so a
                # session id planted before login is useless after it.
                "X-Session-Set": json.dumps({"user": name}),
                "X-Session-Cycle-Key": "1",
                # set_expiry(30 days) or set_expiry(0): end at browser close.
                "X-Session-Expiry": str(REMEMBER_ME_SECONDS if remember else 0),
            })
        if path == "/logout":
            return self.see_other({"X-Session-Flush": "1"})  # Django's logout()
        self.send(404, b"not found\n", "text/plain; charset=utf-8")

    def session(self):
        """The verified session claims, or None after answering 401."""
        claims = verify_session_token(self.headers.get("X-Session"))
        if claims is None:
            self.send(401, b"This app expects Caddy's session handler in front of it "
                           b"(a valid X-Session token was missing).\n", "text/plain; charset=utf-8")
        return claims

    def see_other(self, headers):
        # 303 after a form POST: the browser then GETs / (Post/Redirect/Get).
        self.send(303, b"", "text/plain; charset=utf-8", {"Location": "/", **headers})

    def send(self, status, body, content_type, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("demo app: " + (fmt % args) + "\n")


def main():
    if len(SECRET) < 32:
        sys.exit("demo app: set SESSION_SECRET (at least 32 bytes), the same secret Caddy has")
    port = int(os.environ.get("DEMO_APP_PORT", "8000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), DemoHandler)
    print(f"demo app: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
