"""Hostile WSGI upstream for integration/reliability_smuggling_test.go.

Served by gunicorn (Debian's `gunicorn` package) behind Caddy's
reverse_proxy. It is a puppet, not an example app:

  ?do=echo             answers JSON {"headers": [[key, value], ...],
                       "trailers": []}: every HTTP_* key of the WSGI
                       environ, as the gateway folded it (X_Session and
                       X-Session both become HTTP_X_SESSION). WSGI has no
                       request trailers: gunicorn reads and drops them.
  ?do=respond&spec=S   S is base64url JSON {"status": 200, "headers":
                       [[name, value], ...]}: answers with exactly those
                       headers, duplicates and odd spellings included.
                       WSGI can send neither trailers nor 103 Early Hints,
                       and gunicorn refuses hop-by-hop headers (Connection).

Run: gunicorn --chdir integration/upstreams/wsgi -b 127.0.0.1:PORT app:app
"""

import base64
import json
from urllib.parse import parse_qs


def app(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    what = (query.get("do") or [""])[0]
    environ["wsgi.input"].read()  # the whole body, chunked included

    if what == "echo":
        seen = [[k, v] for k, v in environ.items()
                if k.startswith("HTTP_") and isinstance(v, str)]
        out = json.dumps({"headers": seen, "trailers": []}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(out)))])
        return [out]

    if what == "respond":
        raw = (query.get("spec") or [""])[0]
        spec = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        headers = [(str(n), str(v)) for n, v in spec.get("headers", [])]
        headers.append(("Content-Type", "text/plain"))
        start_response("%d Hostile" % spec["status"], headers)
        return [b"hostile upstream\n"]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found\n"]
