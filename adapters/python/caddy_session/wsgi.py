"""WSGI middleware: the session in ``environ["caddy_session"]``.

    from caddy_session.wsgi import CaddySessionMiddleware
    application = CaddySessionMiddleware(application)

Needs PyJWT (Debian: python3-jwt), and for EdDSA tokens the cryptography
package (python3-cryptography). A request without a valid token (not
through Caddy, forged, expired, for another audience) is answered 401
without calling the app. The update headers are added when the body
starts (see _DeferredStart), so every change made until then is sent.
"""

import logging
import os

import jwt  # PyJWT

from .session import UPDATES, Session, SessionError
from .values import WSGICodec

log = logging.getLogger("caddy_session")

ENVIRON_KEY = "caddy_session"


def verify(token, secret):
    """The claims of a valid HS256 token; SessionError otherwise. HS256 is pinned."""
    return Verifier(secret=secret)(token)


class Verifier:
    """Verifies tokens with the one algorithm its key is for, never the token's own.

    secret: HS256 (Caddy's default). jwks_url: EdDSA against the JWKS
    Caddy serves at its ``jwks_path`` (PyJWKClient: keys picked by the
    token's kid, the set cached and fetched again for an unknown kid).
    public_key: EdDSA with one PEM public key. EdDSA needs the
    cryptography package (Debian: python3-cryptography). audience: when
    set, a token whose ``aud`` is not this is refused (Caddy's
    ``audience``); when not, ``aud`` is not checked.
    """

    def __init__(self, secret=None, jwks_url=None, public_key=None, audience=None):
        self.audience = audience or None
        if jwks_url:
            client = jwt.PyJWKClient(jwks_url, lifespan=300)
            self.algorithm, self._key = "EdDSA", lambda token: client.get_signing_key_from_jwt(token).key
        elif public_key:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key
            key = load_pem_public_key(public_key.encode() if isinstance(public_key, str) else public_key)
            self.algorithm, self._key = "EdDSA", lambda token: key
        elif secret:
            self.algorithm, self._key = "HS256", lambda token: secret
        else:
            raise RuntimeError("caddy-session: no key: set SESSION_SECRET (HS256), or SESSION_JWKS_URL "
                               "or SESSION_PUBLIC_KEY (EdDSA), or pass secret=, jwks_url= or public_key=")

    @classmethod
    def from_env(cls, secret=None, jwks_url=None, public_key=None, audience=None):
        """Arguments given win; the environment fills in the rest. A key given as an
        argument is used alone, so that an argument never mixes with the environment's."""
        if not (secret or jwks_url or public_key):
            secret = os.environ.get("SESSION_SECRET")
            jwks_url = os.environ.get("SESSION_JWKS_URL")
            public_key = os.environ.get("SESSION_PUBLIC_KEY")
            if jwks_url or public_key:
                secret = None
        return cls(secret, jwks_url, public_key, audience or os.environ.get("SESSION_AUDIENCE"))

    def __call__(self, token):
        """The claims of a valid token; SessionError otherwise."""
        if not token:
            raise SessionError("no session token: the request did not come through Caddy's session handler")
        try:
            claims = jwt.decode(token, self._key(token), algorithms=[self.algorithm], audience=self.audience,
                                options={"require": ["exp"], "verify_aud": self.audience is not None})
        except jwt.PyJWTError as e:  # InvalidTokenError; PyJWKClientError: unknown kid, JWKS unreachable
            raise SessionError("invalid session token: %s" % e) from None
        if not isinstance(claims.get("data"), dict):
            raise SessionError("invalid session token: no data")
        return claims


class CaddySessionMiddleware:
    """Wraps a WSGI app; see the module's doc.

    The key, one of: secret, Caddy's ``secret`` (HS256; default: the
    SESSION_SECRET environment variable); jwks_url, the URL of Caddy's
    ``jwks_path`` (EdDSA; default SESSION_JWKS_URL); public_key, a PEM
    public key (EdDSA; default SESSION_PUBLIC_KEY). A JWKS URL or public key
    in the environment wins over SESSION_SECRET. audience: Caddy's
    ``audience`` for this app (default SESSION_AUDIENCE); when set, a
    token for another app is refused. header: Caddy's ``header`` (default
    X-Session). codec: how values that are not JSON travel (default
    caddy_session.values.WSGICodec; CaddySession gives Flask's).
    """

    def __init__(self, app, secret=None, header="X-Session", jwks_url=None, public_key=None, audience=None,
                 codec=None):
        self.app = app
        self.codec = codec or WSGICodec()
        self.verify = Verifier.from_env(secret, jwks_url, public_key, audience)
        self.header = header
        self.environ_name = "HTTP_" + header.upper().replace("-", "_")
        self.names = {h.lower() for h in (header + "-" + u for u in UPDATES)}

    def __call__(self, environ, start_response):
        try:
            claims = self.verify(self._token(environ))
        except SessionError as e:
            log.warning("caddy-session: request refused: %s", e)
            body = b"missing or invalid session token\n"
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("Content-Length", str(len(body)))])
            return [body]

        environ[ENVIRON_KEY] = Session(claims["data"], claims, self.codec)
        deferred = _DeferredStart(self, environ, start_response)
        result = self.app(environ, deferred.start)
        return _Response(result, deferred, lambda: self._check(environ[ENVIRON_KEY], deferred.sent))

    def _with_updates(self, environ, status, headers):
        """headers, with the session's update headers instead of any the app set."""
        if status.startswith("5"):
            return headers, None  # Caddy keeps nothing of a 5xx
        headers = [(n, v) for n, v in headers if n.lower() not in self.names]
        # (Flask's interface puts its own session object there.)
        updates = environ[ENVIRON_KEY].update_headers()  # raises before anything is set
        headers.extend((self.header + "-" + n, v) for n, v in updates)
        return headers, updates

    def _token(self, environ):
        """The token header, joined with X-Session-Part-2, -3, ... when Caddy
        split a long token over several header lines (the signature covers
        the whole, so a part missing or out of place fails verification)."""
        token = environ.get(self.environ_name)
        i = 2
        while token:
            part = environ.get("%s_PART_%d" % (self.environ_name, i))
            if not part:
                break
            token += part
            i += 1
        return token

    @staticmethod
    def _check(session, sent):
        try:
            if sent and session.update_headers() != sent[0]:
                log.error("caddy-session: the session changed after the response headers were sent; that change is lost")
        except Exception:
            pass


class _DeferredStart:
    """start_response, passed on to the server as late as WSGI allows: when
    the app's first body chunk is about to go out (or it calls write()).
    The session's changes up to then are sent, as those of a generator body
    before its first yield (Flask's stream_with_context); the server sends
    no headers before that anyway (PEP 3333)."""

    def __init__(self, middleware, environ, start_response):
        self.middleware, self.environ, self.start_response = middleware, environ, start_response
        self.pending = None
        self.started = False  # the server's start_response ran
        self.write = None  # what it returned
        self.sent = []  # the updates sent

    def start(self, status, headers, exc_info=None):
        if exc_info is not None and self.started:
            return self.start_response(status, headers, exc_info)  # too late: the server re-raises
        self.pending = (status, list(headers), exc_info)
        return self._write

    def _write(self, data):
        self.commit()
        return self.write(data)

    def commit(self):
        if self.started or self.pending is None:
            return
        status, headers, exc_info = self.pending
        headers, updates = self.middleware._with_updates(self.environ, status, headers)
        if updates is not None:
            self.sent[:] = [updates]
        self.started = True
        self.write = self.start_response(status, headers, exc_info)


class _Response:
    """The app's iterable: the deferred start_response before its first
    chunk, and a check for late changes when the server closes it."""

    def __init__(self, result, deferred, on_close):
        self.result, self.deferred, self.on_close = result, deferred, on_close

    def __iter__(self):
        for chunk in self.result:
            self.deferred.commit()
            yield chunk
        self.deferred.commit()  # an empty body

    def close(self):
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            self.on_close()
