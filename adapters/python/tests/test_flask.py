"""caddy_session.flask against Flask itself (Debian's python3-flask 2.2):
the token checks, the exact update headers of Flask's session API, Flask's
tagged values as Flask's own serializer keeps them, and when the session is
saved (after after_request handlers, as Flask saves).

    /usr/bin/python3 -m unittest discover -s adapters/python/tests
"""

import datetime
import json
import os
import sys
import unittest
import uuid

try:
    import flask
    from flask.json.tag import TaggedJSONSerializer
    from markupsafe import Markup
except ImportError:  # the WSGI tests still run
    if os.environ.get("CI") == "true":
        raise  # under CI nothing is skipped: scripts/install-deps.sh installs python3-flask
    flask = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from test_wsgi import SECRET, token, updates  # noqa: E402

if flask is not None:
    from caddy_session.flask import CaddySession  # noqa: E402

UUID = uuid.UUID("9f0c3c1e-4d2a-4b7e-8f00-0123456789ab")
WHEN = datetime.datetime(2015, 10, 21, 7, 28, tzinfo=datetime.timezone.utc)


@unittest.skipIf(flask is None, "Flask is not installed (Debian: python3-flask)")
class FlaskTest(unittest.TestCase):

    def setUp(self):
        app = flask.Flask(__name__)
        app.permanent_session_lifetime = datetime.timedelta(days=30)
        self.app = app
        self.log = []

        @app.route("/do/<action>")
        def do(action):
            s = flask.session
            if action == "read":
                return {"user": s.get("user")}
            if action == "set":
                s["user"] = "bob"
            elif action == "pop":
                s.pop("n")
            elif action == "del":
                del s["n"]
            elif action == "append":
                s["cart"].append(3)
            elif action == "clear":
                s.clear()
            elif action == "login":
                s.clear()
                s["user"] = "carol"
            elif action == "permanent":
                s.permanent = True
            elif action == "browser":
                s.permanent = False
            elif action == "cycle":
                s.cycle_key()
            elif action == "flash":
                flask.flash("saved", "info")
            elif action == "values":
                s.update(bytes=b"\x00\xff", tuple=(1, "a"), uuid=UUID, markup=Markup("<b>x</b>"),
                         when=WHEN, escaped={" t": "not a tuple"})
            elif action == "bad":
                s["fine"] = "changed"
                s["tags"] = {"a", "b"}
            return "ok"

        @app.route("/dump")
        def dump():
            return repr(sorted(flask.session.items()))

        @app.route("/stream")
        def stream():
            def body():
                flask.session["before_the_body"] = 1
                yield "first"
                flask.session["late"] = 1
                yield "second"
            return flask.Response(flask.stream_with_context(body()))

        @app.route("/after")
        def after():
            @flask.after_this_request
            def remember(response):
                flask.session["after_this_request"] = True
                return response
            return "ok"

        @app.after_request
        def after_request(response):
            if flask.request.path == "/after":
                flask.session["after_request"] = True
            return response

        @app.teardown_request
        def teardown(exc):
            if flask.request.path == "/after":
                flask.session["teardown"] = True  # Flask's cookie session has been saved by then

        CaddySession(app, secret=SECRET)
        self.client = app.test_client()

    def get(self, path, data=None, **claims):
        headers = {}
        if data is not None:
            headers["X-Session"] = token(data, **claims)
        return self.client.get(path, headers=headers)

    def test_refuses_bad_tokens(self):
        for name, headers in [
            ("missing", {}),
            ("forged", {"X-Session": token({"user": "x"}, secret="another-secret-of-at-least-32-bytes!")}),
            ("expired", {"X-Session": token({"user": "x"}, ttl=-120)}),
        ]:
            with self.subTest(name), self.assertLogs("caddy_session", "WARNING"):
                resp = self.client.get("/do/set", headers=headers)
                self.assertEqual(resp.status_code, 401)
                self.assertEqual(updates(resp.headers.items()), [])

    def test_wrong_audience(self):
        app = flask.Flask(__name__)
        app.route("/")(lambda: "ok")
        CaddySession(app, secret=SECRET, audience="flask-app")
        client = app.test_client()
        with self.assertLogs("caddy_session", "WARNING"):
            resp = client.get("/", headers={"X-Session": token({}, aud="php-app")})
        self.assertEqual(resp.status_code, 401)
        self.assertEqual(client.get("/", headers={"X-Session": token({}, aud="flask-app")}).status_code, 200)

    def test_update_headers(self):
        start = {"user": "alice", "n": 1, "cart": [1, 2]}
        cases = [
            ("read", []),
            ("set", [("X-Session-Set", '{"user":"bob"}')]),
            ("pop", [("X-Session-Delete", '["n"]')]),
            ("del", [("X-Session-Delete", '["n"]')]),
            ("append", [("X-Session-Set", '{"cart":[1,2,3]}')]),
            ("clear", [("X-Session-Flush", "1")]),
            ("login", [("X-Session-Flush", "1"), ("X-Session-Set", '{"user":"carol"}')]),
            ("permanent", [("X-Session-Expiry", str(30 * 86400))]),
            ("browser", [("X-Session-Expiry", "0")]),
            ("cycle", [("X-Session-Cycle-Key", "1")]),
            ("flash", [("X-Session-Set", '{"_flashes":[{" t":["info","saved"]}]}')]),
        ]
        for action, want in cases:
            with self.subTest(action):
                resp = self.get("/do/" + action, start)
                self.assertEqual(resp.status_code, 200)
                self.assertEqual(updates(resp.headers.items()), want)

    def test_values_as_flask_keeps_them(self):
        resp = self.get("/do/values", {})
        sent = dict(updates(resp.headers.items()))["X-Session-Set"]
        want = {"bytes": {" b": "AP8="}, "tuple": {" t": [1, "a"]},
                "uuid": {" u": "9f0c3c1e-4d2a-4b7e-8f00-0123456789ab"},
                "markup": {" m": "<b>x</b>"}, "when": {" d": "Wed, 21 Oct 2015 07:28:00 GMT"},
                "escaped": {" di": {" t__": "not a tuple"}}}
        self.assertEqual(json.loads(sent), want)
        # Flask's own serializer reads it as the values the app stored.
        values = TaggedJSONSerializer().loads(sent)
        self.assertEqual(values, {"bytes": b"\x00\xff", "tuple": (1, "a"), "uuid": UUID,
                                  "markup": Markup("<b>x</b>"), "when": WHEN, "escaped": {" t": "not a tuple"}})
        # And the next request gets them back as they were, each of its type, unchanged.
        resp = self.get("/dump", json.loads(sent))
        self.assertEqual(resp.text, repr(sorted(values.items())))
        self.assertEqual(updates(resp.headers.items()), [])

    def test_reads_other_adapters_tags(self):
        data = {"t": {" tm": "2026-12-05T08:00:00.123456789+01:00"}, "s": {" sym": "admin"},
                "p": {" php": {"c": "Cart", "s": "x", "h": "00"}}}
        resp = self.get("/dump", data)
        tz = datetime.timezone(datetime.timedelta(hours=1))
        want = [("p", {" php": {"c": "Cart", "s": "x", "h": "00"}}), ("s", "admin"),
                ("t", datetime.datetime(2026, 12, 5, 8, 0, 0, 123456, tzinfo=tz))]
        self.assertEqual(resp.text, repr(want))
        self.assertEqual(updates(resp.headers.items()), [])

    def test_php_object_goes_back_as_it_came(self):
        php = {" php": {"c": "Cart", "s": {" b": "AAE="}, "h": "ab"}}

        @self.app.route("/copy")
        def copy():
            flask.session["copies"] = [flask.session["p"], flask.session["p"]]
            flask.session["mine"] = {" php": "a dict of the app's own"}
            return "ok"
        resp = self.get("/copy", {"p": php})
        self.assertEqual(json.loads(dict(updates(resp.headers.items()))["X-Session-Set"]),
                         {"copies": [php, php], "mine": {" di": {" php__": "a dict of the app's own"}}})

    def test_unstorable_value(self):
        with self.assertLogs(self.app.logger, "ERROR") as logs:
            resp = self.get("/do/bad", {"ok": 1})
        self.assertEqual(resp.status_code, 500)
        self.assertEqual(updates(resp.headers.items()), [])
        self.assertIn("session['tags'] cannot be stored", "\n".join(logs.output))

    def test_after_request_changes_are_sent(self):
        # Flask saves its session after the after_request handlers; the
        # adapter later still, when the body starts: after teardown_request.
        resp = self.get("/after", {})
        self.assertEqual(json.loads(dict(updates(resp.headers.items()))["X-Session-Set"]),
                         {"after_this_request": True, "after_request": True, "teardown": True})

    def test_stream(self):
        # A change before the body's first chunk is sent (Flask's cookie
        # session, saved before the body, would lose it); one after is logged.
        with self.assertLogs("caddy_session", "ERROR") as logs:
            resp = self.get("/stream", {})
            self.assertEqual(resp.get_data(), b"firstsecond")
            resp.close()
        self.assertEqual(updates(resp.headers.items()), [("X-Session-Set", '{"before_the_body":1}')])
        self.assertIn("changed after the response headers were sent", logs.output[0])


if __name__ == "__main__":
    unittest.main()
