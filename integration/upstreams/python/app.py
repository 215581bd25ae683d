#!/usr/bin/python3
"""Reference upstream for caddy-session: Python standard library + PyJWT.

Caddy's `session` handler sits in front of this app. On every request it
sends the session as one signed header, `X-Session: <JWT>` (HS256, keyed
with the same secret Caddy has), and it reads the app's changes back from
response headers such as `X-Session-Set: {"visits": 3}`. The app never
touches a cookie or a session store.

Run it:   SESSION_SECRET=... /usr/bin/python3 app.py [PORT]   (or env PORT)
Needs:    PyJWT (Debian: python3-jwt; pip: PyJWT), and for EdDSA the
          cryptography package (Debian: python3-cryptography)

Settings (environment); the algorithm is pinned by which key is given:
  SESSION_SECRET      HS256 (Caddy's default): the secret Caddy signs with
  SESSION_JWKS_URL    EdDSA (Caddy's token_alg EdDSA): the URL of Caddy's
                      jwks_path; keys are picked by the token's kid, the set
                      is cached and refetched when a kid is unknown (rotation)
  SESSION_PUBLIC_KEY  EdDSA with one PEM public key instead of the JWKS
  SESSION_AUDIENCE    when set, a token whose aud is not this is refused
                      (Caddy's `audience`)

Routes (the same in the Node and PHP examples):
  GET  /                 count visits; answer JSON {"visits", "user", "new"}
  POST /login            user=<name> -> log in; new session key; 302 to /
  POST /logout           end the session (flush); 302 to /
  POST /expiry?seconds=N set_expiry(N); 0 means "until the browser closes"
  POST /set              body (a JSON object) is stored as-is
  GET  /token            the verified token's payload, byte for byte
Without a valid token every route answers 401.
"""

import base64
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt  # PyJWT

MAX_BODY = 64 * 1024
AUDIENCE = os.environ.get("SESSION_AUDIENCE") or None


def token_key():
    """The one algorithm tokens must use, and a function giving the key for a token."""
    if os.environ.get("SESSION_JWKS_URL"):
        jwks = jwt.PyJWKClient(os.environ["SESSION_JWKS_URL"], lifespan=300)
        return "EdDSA", lambda token: jwks.get_signing_key_from_jwt(token).key
    if os.environ.get("SESSION_PUBLIC_KEY"):
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
        key = load_pem_public_key(os.environ["SESSION_PUBLIC_KEY"].encode())
        return "EdDSA", lambda token: key
    if not os.environ.get("SESSION_SECRET"):
        sys.exit("python-upstream: set SESSION_SECRET (HS256), or SESSION_JWKS_URL or SESSION_PUBLIC_KEY (EdDSA)")
    secret = os.environ["SESSION_SECRET"]
    return "HS256", lambda token: secret


ALGORITHM, KEY_FOR = token_key()


def verify_session(headers):
    """Return (claims, token) for a valid X-Session header, else (None, None).

    Pinning algorithms to the one configured matters: it refuses tokens
    signed with any other algorithm ("none", or HS256 keyed with the public
    key), whatever the token's header says. PyJWT also checks exp, and aud
    when SESSION_AUDIENCE is set.
    """
    token = headers.get("X-Session")
    if not token:
        return None, None
    try:
        claims = jwt.decode(token, KEY_FOR(token), algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["exp", "iat"], "verify_aud": AUDIENCE is not None})
    except jwt.PyJWTError as e:  # InvalidTokenError, and PyJWKClientError (unknown kid, JWKS unreachable)
        sys.stderr.write("python-upstream: token refused: %s\n" % e)
        return None, None
    return claims, token


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        body = self.read_body()
        if body is None:
            return self.reply(413, {"error": "body too large"})
        claims, token = verify_session(self.headers)
        if claims is None:
            return self.reply(401, {"error": "missing or invalid X-Session token"})
        data = claims.get("data") or {}

        if method == "GET" and url.path == "/":
            visits = int(data.get("visits", 0)) + 1
            # Django: request.session["visits"] = visits
            return self.reply(200, {"visits": visits, "user": data.get("user"), "new": claims["new"]},
                              {"X-Session-Set": json.dumps({"visits": visits})})

        if method == "POST" and url.path == "/login":
            form = parse_qs(body.decode("utf-8", "replace"))
            user = (form.get("user") or query.get("user") or [""])[0]
            if not user:
                return self.reply(400, {"error": "user is required"})
            # Django's login(): store the user, then cycle_key() so that a
            # session id fixed before login is worthless afterwards.
            return self.reply(302, None, {"Location": "/",
                                          "X-Session-Set": json.dumps({"user": user}),
                                          "X-Session-Cycle-Key": "1"})

        if method == "POST" and url.path == "/logout":
            # Django's logout(): session.flush() deletes data and key.
            return self.reply(302, None, {"Location": "/", "X-Session-Flush": "1"})

        if method == "POST" and url.path == "/expiry":
            seconds = (query.get("seconds") or [""])[0]
            if not seconds.isdigit():
                return self.reply(400, {"error": "seconds must be a non-negative integer"})
            n = int(seconds)
            # set_expiry(n) alone does not modify the session; the Set does.
            return self.reply(200, {"expiry": n},
                              {"X-Session-Expiry": str(n), "X-Session-Set": json.dumps({"expiry_set": n})})

        if method == "POST" and url.path == "/set":
            try:
                ok = isinstance(json.loads(body), dict)
            except ValueError:
                ok = False
            if not ok or any(c in body for c in b"\r\n\0"):
                return self.reply(400, {"error": "body must be a one-line JSON object"})
            # http.server encodes header values as Latin-1, which maps each
            # code point below 256 to one byte: decoding the body as Latin-1
            # therefore sends its bytes (raw UTF-8 included) unchanged.
            return self.reply(200, {"ok": True}, {"X-Session-Set": body.decode("latin-1")})

        if method == "GET" and url.path == "/token":
            # PyJWT has verified the token; now show the payload's exact JSON
            # text (json.loads would turn big integers into floats elsewhere).
            seg = token.split(".")[1]
            payload = base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))
            return self.reply_bytes(200, payload, "application/json")

        return self.reply(404, {"error": "not found"})

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body if len(body) <= MAX_BODY else None
                body += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True  # the rest of the body stays unread
            return None
        return self.rfile.read(length) if length > 0 else b""

    def reply(self, status, obj, headers=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.reply_bytes(status, body, "application/json", headers)

    def reply_bytes(self, status, body, content_type, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("python-upstream: " + (fmt % args) + "\n")


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"python-upstream: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
