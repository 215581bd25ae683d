"""WSGI middleware: the session in ``environ["caddy_session"]``.

    from caddy_session.wsgi import CaddySessionMiddleware
    application = CaddySessionMiddleware(application)

Needs PyJWT (Debian: python3-jwt). A request without a valid token (not
through Caddy, forged, expired) is answered 401 without calling the app.
"""

import logging
import os

import jwt  # PyJWT

from .session import UPDATES, Session, SessionError

log = logging.getLogger("caddy_session")

ENVIRON_KEY = "caddy_session"


def verify(token, secret):
    """The claims of a valid token; SessionError otherwise. HS256 is pinned."""
    if not token:
        raise SessionError("no session token: the request did not come through Caddy's session handler")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.InvalidTokenError as e:
        raise SessionError("invalid session token: %s" % e) from None
    if not isinstance(claims.get("data"), dict):
        raise SessionError("invalid session token: no data")
    return claims


class CaddySessionMiddleware:
    """Wraps a WSGI app; see the module's doc.

    secret: Caddy's ``secret`` (default: the SESSION_SECRET environment
    variable). header: Caddy's ``header`` (default X-Session).
    """

    def __init__(self, app, secret=None, header="X-Session"):
        self.app = app
        self.secret = secret or os.environ.get("SESSION_SECRET", "")
        if not self.secret:
            raise RuntimeError("caddy-session: no secret: set SESSION_SECRET or pass secret=")
        self.header = header
        self.environ_name = "HTTP_" + header.upper().replace("-", "_")
        self.names = {h.lower() for h in (header + "-" + u for u in UPDATES)}

    def __call__(self, environ, start_response):
        try:
            claims = verify(environ.get(self.environ_name), self.secret)
        except SessionError as e:
            log.warning("caddy-session: request refused: %s", e)
            body = b"missing or invalid session token\n"
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("Content-Length", str(len(body)))])
            return [body]

        environ[ENVIRON_KEY] = Session(claims["data"], claims)
        sent = []

        def start(status, headers, exc_info=None):
            if not status.startswith("5"):
                # Headers an app set itself are replaced by the session's.
                headers = [(n, v) for n, v in headers if n.lower() not in self.names]
                # (Flask's interface puts its own session object there.)
                updates = environ[ENVIRON_KEY].update_headers()  # raises before anything is set
                headers.extend((self.header + "-" + n, v) for n, v in updates)
                sent[:] = [updates]
            return start_response(status, headers, exc_info)

        result = self.app(environ, start)
        return _Closing(result, lambda: self._check(environ[ENVIRON_KEY], sent))

    @staticmethod
    def _check(session, sent):
        try:
            if sent and session.update_headers() != sent[0]:
                log.error("caddy-session: the session changed after the response headers were sent; that change is lost")
        except Exception:
            pass


class _Closing:
    """The app's iterable, with a check when the server closes it."""

    def __init__(self, result, on_close):
        self.result, self.on_close = result, on_close

    def __iter__(self):
        return iter(self.result)

    def close(self):
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            self.on_close()
