#!/usr/bin/python3
"""Log out everywhere from an app behind caddy-session (docs/operations.md).

The app reaches Caddy's admin API on a unix socket that only its own user
(or group) may open -- the admin API's authentication on one machine --
and ends the user's sessions through /sessions/users/<user>. The user is
the session's user_key field (Django's _auth_user_id); the app's own
session is known by the token's sid claim.

Run it:   SESSION_SECRET=... CADDY_ADMIN_SOCKET=/run/caddy/admin.sock \
          /usr/bin/python3 logout_everywhere.py PORT
Needs:    PyJWT (Debian: python3-jwt)

Routes:
  GET  /                       {"user", "sid", "new"}
  POST /login?user=<id>        log in (the user id, a new session key)
  POST /logout-everywhere      end every session of the user, this one too
  POST /logout-other-devices   end the user's other sessions, keep this one
"""

import http.client
import json
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import jwt  # PyJWT

SECRET = os.environ["SESSION_SECRET"]
ADMIN_SOCKET = os.environ["CADDY_ADMIN_SOCKET"]
HANDLER = os.environ.get("SESSION_COOKIE_NAME", "sessionid")


class AdminConnection(http.client.HTTPConnection):
    """HTTP to Caddy's admin API over its unix socket."""

    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def admin(method, path):
    conn = AdminConnection(ADMIN_SOCKET)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        body = json.loads(resp.read() or b"null")
        if resp.status != 200:
            raise RuntimeError(f"admin API {method} {path}: {resp.status} {body}")
        return body
    finally:
        conn.close()


def user_path(user, sid=None):
    p = "/sessions/users/" + quote(user, safe="")
    if sid:
        p += "/" + quote(sid, safe="")
    return p + "?handler=" + quote(HANDLER)


class App(BaseHTTPRequestHandler):
    def claims(self):
        token = self.headers.get("X-Session", "")
        try:
            return jwt.decode(token, SECRET, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return None

    def answer(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        c = self.claims()
        if c is None:
            return self.answer(401, {"error": "no valid session token"})
        user = c["data"].get("_auth_user_id")
        self.answer(200, {"user": user, "sid": c.get("sid"), "new": c["new"]})

    def do_POST(self):
        c = self.claims()
        if c is None:
            return self.answer(401, {"error": "no valid session token"})
        url = urlsplit(self.path)
        user = c["data"].get("_auth_user_id")
        if url.path == "/login":
            uid = parse_qs(url.query).get("user", [""])[0]
            return self.answer(200, {"user": uid}, [
                ("X-Session-Set", json.dumps({"_auth_user_id": uid})),
                ("X-Session-Cycle-Key", "1"),
            ])
        if user is None:
            return self.answer(403, {"error": "not logged in"})
        if url.path == "/logout-everywhere":
            revoked = admin("DELETE", user_path(user))["revoked"]
            return self.answer(200, {"revoked": revoked})
        if url.path == "/logout-other-devices":
            revoked = 0
            for s in admin("GET", user_path(user))["sessions"]:
                if s["sid"] != c["sid"]:
                    revoked += admin("DELETE", user_path(user, s["sid"]))["revoked"]
            return self.answer(200, {"revoked": revoked})
        self.answer(404, {"error": "no such route"})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8000"))
    ThreadingHTTPServer(("127.0.0.1", port), App).serve_forever()
