"""caddy-session adapters for Python: the session kept by Caddy's `session`
handler, through a WSGI middleware and a Flask SessionInterface.

Caddy sends the session as a signed token (``X-Session: <JWT>``); the
middleware verifies it (HS256 pinned, ``exp`` required, the secret from
``SESSION_SECRET``; or EdDSA pinned, the public keys from Caddy's JWKS at
``SESSION_JWKS_URL`` or ``SESSION_PUBLIC_KEY``; ``aud`` checked against
``SESSION_AUDIENCE`` when set) and answers only what the request changed, as update
headers (``X-Session-Set``, ``-Delete``, ``-Flush``, ``-Cycle-Key``,
``-Expiry``). See docs/adapters.md.

    from caddy_session.wsgi import CaddySessionMiddleware   # any WSGI app
    from caddy_session.flask import CaddySession            # Flask
"""

from .session import Session, SessionError, UnstorableValue

__all__ = ["Session", "SessionError", "UnstorableValue"]
