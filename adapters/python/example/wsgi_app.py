#!/usr/bin/python3
"""A plain WSGI app on CaddySessionMiddleware, with Django's session API
(``environ["caddy_session"]``): the reference upstream's routes
(integration/upstreams/python/app.py) without a line of token or header
code.

    SESSION_SECRET=... /usr/bin/python3 wsgi_app.py PORT

  GET  /                 count visits: {"visits", "user", "new"}
  POST /login            user=<name> (form or query): cycle_key(), 302 to /
  POST /logout           flush(), 302 to /
  POST /expiry?seconds=N set_expiry(N)
  POST /set              a one-line JSON object, stored as it is
  GET  /token            the verified token's claims
"""

import json
import os
import sys
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caddy_session.wsgi import CaddySessionMiddleware  # noqa: E402


def app(environ, start_response):
    session = environ["caddy_session"]
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))

    def reply(status, obj=None, headers=()):
        out = b"" if obj is None else json.dumps(obj).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))] + list(headers))
        return [out]

    if (method, path) == ("GET", "/"):
        session["visits"] = session.get("visits", 0) + 1
        return reply("200 OK", {"visits": session["visits"], "user": session.get("user"), "new": session.is_new})
    if (method, path) == ("POST", "/login"):
        user = (parse_qs(body.decode()).get("user") or query.get("user") or [""])[0]
        if not user:
            return reply("400 Bad Request", {"error": "user is required"})
        session["user"] = user
        session.cycle_key()
        return reply("302 Found", None, [("Location", "/")])
    if (method, path) == ("POST", "/logout"):
        session.flush()
        return reply("302 Found", None, [("Location", "/")])
    if (method, path) == ("POST", "/expiry"):
        seconds = (query.get("seconds") or [""])[0]
        if not seconds.isdigit():
            return reply("400 Bad Request", {"error": "seconds must be a non-negative integer"})
        session.set_expiry(int(seconds))
        session["expiry_set"] = int(seconds)
        return reply("200 OK", {"expiry": int(seconds)})
    if (method, path) == ("POST", "/set"):
        try:
            changes = json.loads(body)
        except ValueError:
            changes = None
        if not isinstance(changes, dict):
            return reply("400 Bad Request", {"error": "body must be a JSON object"})
        session.update(changes)
        return reply("200 OK", {"ok": True})
    if (method, path) == ("GET", "/token"):
        return reply("200 OK", session.claims)
    return reply("404 Not Found", {"error": "not found"})


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args):
        pass


if __name__ == "__main__":
    make_server("127.0.0.1", int(sys.argv[1]), CaddySessionMiddleware(app),
                server_class=Server, handler_class=QuietHandler).serve_forever()
