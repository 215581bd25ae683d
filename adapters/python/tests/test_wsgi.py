"""caddy_session.wsgi and caddy_session.values, in process: the token checks,
the exact update headers each session call produces, and the value tags.

    /usr/bin/python3 -m unittest discover -s adapters/python/tests
"""

import datetime
import io
import json
import os
import sys
import time
import unittest
import uuid
from wsgiref.util import setup_testing_defaults

import jwt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caddy_session import UnstorableValue  # noqa: E402
from caddy_session.session import Session  # noqa: E402
from caddy_session.values import WSGICodec  # noqa: E402
from caddy_session.wsgi import CaddySessionMiddleware  # noqa: E402

SECRET = "a-test-secret-of-at-least-32-bytes!!"


def token(data=None, secret=SECRET, ttl=60, **claims):
    now = int(time.time())
    body = {"data": data or {}, "iat": now, "exp": now + ttl, "new": not data}
    body.update(claims)
    return jwt.encode(body, secret, algorithm="HS256")


def call(app, tok, **extra):
    """Runs a WSGI app once: (status, headers as a list, body)."""
    environ = {}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    if tok is not None:
        environ["HTTP_X_SESSION"] = tok
    environ.update(extra)
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return got["status"], got["headers"], body


def updates(headers):
    """The session update headers, in order, as (name, value)."""
    return [(n, v) for n, v in headers if n.lower().startswith("x-session-")]


def app_doing(action):
    """A WSGI app that runs action(session) and answers 200."""
    def app(environ, start_response):
        action(environ["caddy_session"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    return CaddySessionMiddleware(app, secret=SECRET)


class TokenTest(unittest.TestCase):
    """A request whose token is missing, forged, expired or for another app never reaches the app."""

    def setUp(self):
        self.called = False

        def app(environ, start_response):
            self.called = True
            start_response("200 OK", [])
            return [b"ok"]
        self.app = app

    def refused(self, tok, audience=None, **extra):
        with self.assertLogs("caddy_session", "WARNING") as logs:
            status, headers, _ = call(CaddySessionMiddleware(self.app, secret=SECRET, audience=audience), tok, **extra)
        self.assertIn("request refused", logs.output[0])
        self.assertEqual(status, "401 Unauthorized")
        self.assertFalse(self.called, "the app ran on a refused token")
        self.assertEqual(updates(headers), [])

    def test_missing(self):
        self.refused(None)

    def test_forged(self):
        self.refused(token({"user": "mallory"}, secret="another-secret-of-at-least-32-bytes!"))

    def test_tampered_payload(self):
        h, p, s = token({"user": "alice"}).split(".")
        forged = jwt.encode({"data": {"user": "mallory"}, "exp": int(time.time()) + 60}, "x" * 32).split(".")[1]
        self.refused(".".join((h, forged, s)))

    def test_alg_none(self):
        self.refused(jwt.encode({"data": {}, "exp": int(time.time()) + 60}, None, algorithm="none"))

    def test_expired(self):
        self.refused(token({"user": "alice"}, ttl=-120))

    def test_no_exp(self):
        self.refused(jwt.encode({"data": {}}, SECRET, algorithm="HS256"))

    def test_wrong_audience(self):
        self.refused(token({"user": "alice"}, aud="another-app"), audience="this-app")

    def test_audience_missing(self):
        self.refused(token({"user": "alice"}), audience="this-app")

    def test_token_in_parts(self):
        # Caddy splits a long token over X-Session, X-Session-Part-2, -3, ...
        tok = token({"big": "x" * 300})
        a, b, c = tok[:100], tok[100:250], tok[250:]
        status, _, _ = call(CaddySessionMiddleware(self.app, secret=SECRET), a,
                            HTTP_X_SESSION_PART_2=b, HTTP_X_SESSION_PART_3=c)
        self.assertEqual(status, "200 OK")
        self.called = False
        self.refused(a, HTTP_X_SESSION_PART_3=c)  # a part missing
        self.refused(a, HTTP_X_SESSION_PART_2=c, HTTP_X_SESSION_PART_3=b)  # out of place

    def test_right_audience(self):
        status, _, _ = call(CaddySessionMiddleware(self.app, secret=SECRET, audience="this-app"),
                            token({"user": "alice"}, aud="this-app"))
        self.assertEqual(status, "200 OK")
        self.assertTrue(self.called)


class UpdateHeadersTest(unittest.TestCase):
    """Each call on the session gives exactly these headers, and nothing else."""

    start = {"user": "alice", "n": 1, "cart": [1, 2]}

    def headers_for(self, action, data=None):
        status, headers, _ = call(app_doing(action), token(self.start if data is None else data))
        self.assertEqual(status, "200 OK")
        return updates(headers)

    def test_cases(self):
        at = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        cases = [
            ("read only", lambda s: s.get("user"), []),
            ("set a new key", lambda s: s.__setitem__("k", "v"), [("X-Session-Set", '{"k":"v"}')]),
            ("set the same value", lambda s: s.__setitem__("n", 1), []),
            ("change in place", lambda s: s["cart"].append(3), [("X-Session-Set", '{"cart":[1,2,3]}')]),
            ("non-ASCII", lambda s: s.__setitem__("name", "zoë"), [("X-Session-Set", '{"name":"zo\\u00eb"}')]),
            ("delete", lambda s: s.__delitem__("n"), [("X-Session-Delete", '["n"]')]),
            ("pop", lambda s: s.pop("user"), [("X-Session-Delete", '["user"]')]),
            ("clear keeps the key", lambda s: s.clear(), [("X-Session-Clear", "1")]),
            ("clear then set", lambda s: (s.clear(), s.__setitem__("n", 2)),
             [("X-Session-Clear", "1"), ("X-Session-Set", '{"n":2}')]),
            ("flush", lambda s: s.flush(), [("X-Session-Flush", "1")]),
            ("flush then set", lambda s: (s.flush(), s.__setitem__("user", "bob")),
             [("X-Session-Flush", "1"), ("X-Session-Set", '{"user":"bob"}')]),
            ("cycle_key", lambda s: s.cycle_key(), [("X-Session-Cycle-Key", "1")]),
            ("set and cycle", lambda s: (s.__setitem__("user", "bob"), s.cycle_key()),
             [("X-Session-Set", '{"user":"bob"}'), ("X-Session-Cycle-Key", "1")]),
            ("set_expiry seconds", lambda s: s.set_expiry(3600), [("X-Session-Expiry", "3600")]),
            ("set_expiry 0", lambda s: s.set_expiry(0), [("X-Session-Expiry", "0")]),
            ("set_expiry None", lambda s: s.set_expiry(None), [("X-Session-Expiry", "default")]),
            ("set_expiry timedelta", lambda s: s.set_expiry(datetime.timedelta(minutes=5)), [("X-Session-Expiry", "300")]),
            ("set_expiry datetime", lambda s: s.set_expiry(at), [("X-Session-Expiry", "2030-01-02T03:04:05Z")]),
        ]
        for name, action, want in cases:
            with self.subTest(name):
                self.assertEqual(self.headers_for(action), want)

    def test_headers_the_app_set_are_replaced(self):
        def app(environ, start_response):
            environ["caddy_session"]["k"] = 1
            start_response("200 OK", [("X-Session-Set", '{"admin":true}'), ("x-session-flush", "1")])
            return [b""]
        _, headers, _ = call(CaddySessionMiddleware(app, secret=SECRET), token({}))
        self.assertEqual(updates(headers), [("X-Session-Set", '{"k":1}')])

    def test_5xx_sends_nothing(self):
        def app(environ, start_response):
            environ["caddy_session"]["k"] = 1
            start_response("500 Internal Server Error", [])
            return [b""]
        _, headers, _ = call(CaddySessionMiddleware(app, secret=SECRET), token({}))
        self.assertEqual(updates(headers), [])

    def test_change_after_headers_is_logged(self):
        def app(environ, start_response):
            start_response("200 OK", [])
            environ["caddy_session"]["before_the_body"] = 1  # headers are not sent before the body
            yield b"first"
            environ["caddy_session"]["late"] = 1
            yield b"second"
        with self.assertLogs("caddy_session", "ERROR") as logs:
            _, headers, _ = call(CaddySessionMiddleware(app, secret=SECRET), token({}))
        self.assertEqual(updates(headers), [("X-Session-Set", '{"before_the_body":1}')])
        self.assertIn("changed after the response headers were sent", logs.output[0])

    def test_write_callable(self):
        # The legacy write(): the headers go with its first call.
        def app(environ, start_response):
            write = start_response("200 OK", [])
            environ["caddy_session"]["k"] = 1
            write(b"written")
            environ["caddy_session"]["late"] = 1
            return []
        written = []
        environ = {}
        setup_testing_defaults(environ)
        environ["HTTP_X_SESSION"] = token({})
        got = {}

        def start_response(status, headers, exc_info=None):
            got["headers"] = headers
            return written.append
        with self.assertLogs("caddy_session", "ERROR"):
            result = CaddySessionMiddleware(app, secret=SECRET)(environ, start_response)
            self.assertEqual(list(result), [])
            result.close()
        self.assertEqual(written, [b"written"])
        self.assertEqual(updates(got["headers"]), [("X-Session-Set", '{"k":1}')])


class ValuesTest(unittest.TestCase):
    """The value convention: Python types in, tagged JSON out, and back."""

    def roundtrip(self, value):
        s = Session({}, {})
        s["v"] = value
        sent = dict(s.update_headers())["Set"]
        back = Session(json.loads(sent), {})
        return json.loads(sent)["v"], back["v"], back

    def test_tags(self):
        tz = datetime.timezone(datetime.timedelta(hours=1))
        u = uuid.UUID("9f0c3c1e-4d2a-4b7e-8f00-0123456789ab")
        cases = [
            ("bytes", b"\x00\xffbin", {" b": "AP9iaW4="}),
            ("empty bytes", b"", {" b": ""}),
            ("tuple", (1, "a", b"\x01"), {" t": [1, "a", {" b": "AQ=="}]}),
            ("UUID", u, {" u": "9f0c3c1e-4d2a-4b7e-8f00-0123456789ab"}),
            ("datetime with offset", datetime.datetime(2026, 12, 5, 8, 0, 0, 123456, tzinfo=tz),
             {" tm": "2026-12-05T08:00:00.123456000+01:00"}),
            ("UTC datetime", datetime.datetime(2026, 12, 5, 8, 0, tzinfo=datetime.timezone.utc),
             {" tm": "2026-12-05T08:00:00.000000000Z"}),
            ("a dict whose key is a tag", {" t": [1]}, {" di": {" t__": [1]}}),
            ("a dict with a tag and more keys", {" t": 1, "x": 2}, {" t": 1, "x": 2}),
            ("nested", {"a": [b"x", (2,)]}, {"a": [{" b": "eA=="}, {" t": [2]}]}),
            ("plain JSON", {"s": "zoë", "n": 9007199254740993, "f": 9.5, "ok": True, "no": None},
             {"s": "zoë", "n": 9007199254740993, "f": 9.5, "ok": True, "no": None}),
        ]
        for name, value, wire in cases:
            with self.subTest(name):
                sent, back, session = self.roundtrip(value)
                self.assertEqual(sent, wire)
                self.assertEqual(back, value)
                self.assertEqual(type(back), type(value))
                self.assertEqual(session.update_headers(), [], "an unchanged value is sent again")

    def test_markup(self):
        from markupsafe import Markup
        sent, back, _ = self.roundtrip(Markup("<b>hi</b>"))
        self.assertEqual(sent, {" m": "<b>hi</b>"})
        self.assertIsInstance(back, Markup)
        self.assertEqual(back, Markup("<b>hi</b>"))

    def test_reads_every_tag(self):
        cases = [
            ("Flask's datetime", {" d": "Wed, 21 Oct 2015 07:28:00 GMT"},
             datetime.datetime(2015, 10, 21, 7, 28, tzinfo=datetime.timezone.utc)),
            ("nanoseconds, cut to microseconds", {" tm": "2026-12-05T08:00:00.123456789-02:30"},
             datetime.datetime(2026, 12, 5, 8, 0, 0, 123456,
                               tzinfo=datetime.timezone(-datetime.timedelta(hours=2, minutes=30)))),
            ("Ruby symbol", {" sym": "admin"}, "admin"),
            ("UUID without dashes (Flask's own)", {" u": "9f0c3c1e4d2a4b7e8f000123456789ab"},
             uuid.UUID("9f0c3c1e-4d2a-4b7e-8f00-0123456789ab")),
            ("PHP object: opaque", {" php": {"c": "Cart", "s": "O:4:...", "h": "ab"}},
             {" php": {"c": "Cart", "s": "O:4:...", "h": "ab"}}),
            ("unknown tag", {" zz": 1}, {" zz": 1}),
            ("malformed base64", {" b": "***"}, {" b": "***"}),
            ("malformed time", {" tm": "yesterday"}, {" tm": "yesterday"}),
        ]
        for name, wire, want in cases:
            with self.subTest(name):
                s = Session({"v": wire}, {})
                self.assertEqual(s["v"], want)
                self.assertEqual(s.update_headers(), [], "a value read and left alone is sent again")

    def test_opaque_goes_back_unchanged(self):
        php = {" php": {"c": "Cart", "s": {" b": "AAE="}, "h": "ab"}}
        s = Session({"v": php}, {})
        s["w"] = s["v"]
        s["list"] = [s["v"], 1]
        s["mine"] = {" php": "a dict of the app's own"}
        self.assertEqual(json.loads(dict(s.update_headers())["Set"]),
                         {"w": php, "list": [php, 1], "mine": {" di": {" php__": "a dict of the app's own"}}})

    def test_unstorable_names_the_key(self):
        for name, value in [("set", {1, 2}), ("nan", float("nan")), ("inf", float("inf")),
                            ("object", object()), ("date", datetime.date(2026, 1, 1)), ("bytearray", bytearray(b"x"))]:
            with self.subTest(name):
                s = Session({"ok": 1}, {})
                s["fine"] = "changed"
                s[name] = value
                with self.assertRaises(UnstorableValue) as e:
                    s.update_headers()
                self.assertIn("session[%r]" % name, str(e.exception))

    def test_unstorable_sends_no_partial_update(self):
        def action(s):
            s["fine"] = "changed"
            s["bad"] = {1, 2}
        app = app_doing(action)
        with self.assertRaises(UnstorableValue):
            call(app, token({"ok": 1}))

    def test_wsgi_codec_matches_flask_readers(self):
        # What the WSGI codec writes, Flask's own serializer reads.
        try:
            from flask.json.tag import TaggedJSONSerializer
        except ImportError:
            self.skipTest("Flask is not installed")
        value = {"b": b"\x00", "t": (1, 2), "u": uuid.uuid4(), "di": {" t": 1}}
        text = WSGICodec().dumps(value)
        self.assertEqual(TaggedJSONSerializer().loads(text), value)


if __name__ == "__main__":
    unittest.main()
