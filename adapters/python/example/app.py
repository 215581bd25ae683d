#!/usr/bin/python3
"""A small app written for Flask's session and nothing else. It runs
unchanged on Flask's cookie session and behind Caddy's `session` handler:
the only difference is the adapter line below.

    /usr/bin/python3 app.py PORT                                  cookie session
    CADDY_SESSION=1 SESSION_SECRET=... /usr/bin/python3 app.py PORT   behind Caddy

  GET  /            count visits: {"visits": n, "user": name|null}
  POST /login       user=<name>[&remember=1]: session.clear() (a new
                    session), 302 to /; remember: session.permanent, 30 days
  POST /logout      session.clear(), 302 to /
  GET  /put?k=&v=   session[k] = v (an integer)
  POST /set         merge a JSON object into the session
  GET  /dump        the session as JSON
  POST /typed       session["typed"] = values JSON cannot hold (bytes, a
                    tuple, a datetime, a UUID, Markup)
  GET  /typed       session["typed"], each value as [type name, value]
"""

import datetime
import os
import sys
import uuid

from flask import Flask, jsonify, redirect, request, session
from markupsafe import Markup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caddy_session.flask import CaddySession  # noqa: E402

app = Flask(__name__)
app.secret_key = "native-only-secret"
app.permanent_session_lifetime = datetime.timedelta(days=30)

# The adapter line:
if os.environ.get("CADDY_SESSION"): CaddySession(app)  # noqa: E701


@app.get("/")
def home():
    session["visits"] = session.get("visits", 0) + 1
    return jsonify(visits=session["visits"], user=session.get("user"))


@app.post("/login")
def login():
    user = request.form.get("user")
    if not user:
        return jsonify(error="user is required"), 400
    # Flask's tutorial: a login starts from a cleared session.
    session.clear()
    session["user"] = user
    session.permanent = bool(request.form.get("remember"))
    return redirect("/")


@app.post("/logout")
def logout():
    session.clear()
    return redirect("/")


@app.get("/put")
def put():
    session[request.args.get("k", "k")] = int(request.args.get("v", "1"))
    return jsonify(ok=True)


@app.post("/set")
def set_():
    session.update(request.get_json())
    return jsonify(ok=True)


@app.get("/dump")
def dump():
    return jsonify(dict(session))


@app.post("/typed")
def typed_put():
    session["typed"] = {
        "bytes": b"\x00\xffbin",
        "tuple": (1, "two"),
        "when": datetime.datetime(2026, 12, 5, 7, 0, tzinfo=datetime.timezone.utc),
        "uuid": uuid.UUID("9f0c3c1e-4d2a-4b7e-8f00-0123456789ab"),
        "markup": Markup("<b>bold</b>"),
    }
    return jsonify(ok=True)


def describe(v):
    """[type name, value as JSON can show it]."""
    if isinstance(v, bytes):
        shown = v.hex()
    elif isinstance(v, (tuple, list)):
        shown = [describe(x) for x in v]
    elif isinstance(v, dict):
        shown = {k: describe(x) for k, x in v.items()}
    elif isinstance(v, datetime.datetime):
        shown = v.isoformat()
    elif isinstance(v, (uuid.UUID, Markup)):
        shown = str(v)
    else:
        shown = v
    return [type(v).__name__, shown]


@app.get("/typed")
def typed_get():
    return jsonify(describe(session.get("typed")))


if __name__ == "__main__":
    app.run("127.0.0.1", int(sys.argv[1]), threaded=True)
