#!/usr/bin/python3
"""Log out everywhere from an app behind caddy-session (docs/operations.md).

The app answers with a response header and Caddy does the rest, under the
route's policy: X-Session-Logout-Others: 1 ends every other session of the
session's user (after a password change, as Django's
update_session_auth_hash does) and gives this one a new key;
X-Session-Logout-All: 1 ends all of them, this one too. The app needs no
access to Caddy's admin endpoint, which is control of Caddy itself.

Run it:   SESSION_SECRET=... /usr/bin/python3 logout_everywhere.py PORT
Needs:    PyJWT (Debian: python3-jwt)

Routes:
  GET  /                       {"user", "sid", "new", "family"}: family
                               lists the session headers it received
                               besides X-Session (none, ever)
  POST /login?user=<id>        log in (the user id, a new session key)
  POST /logout-everywhere      end every session of the user, this one too
  POST /logout-other-devices   end the user's other sessions, keep this one
  POST /logout-in-trailer      X-Session-Logout-All as a trailer, which
                               Caddy refuses (502): nothing ends
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt  # PyJWT

SECRET = os.environ["SESSION_SECRET"]


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked bodies and trailers

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
        family = sorted(
            k for k in self.headers.keys()
            if k.lower().replace("_", "-").replace(".", "-").startswith("x-session-")
        )
        user = c["data"].get("_auth_user_id")
        self.answer(200, {"user": user, "sid": c.get("sid"), "new": c["new"], "family": family})

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
            return self.answer(200, {"user": user}, [("X-Session-Logout-All", "1")])
        if url.path == "/logout-other-devices":
            return self.answer(200, {"user": user}, [("X-Session-Logout-Others", "1")])
        if url.path == "/logout-in-trailer":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "x_session.logout-all")
            self.end_headers()
            self.wfile.write(b"2\r\nok\r\n0\r\nx_session.logout-all: 1\r\n\r\n")
            return
        self.answer(404, {"error": "no such route"})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8000"))
    ThreadingHTTPServer(("127.0.0.1", port), App).serve_forever()
