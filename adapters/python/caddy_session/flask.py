"""Flask: ``flask.session`` kept by Caddy, in one line.

    from caddy_session.flask import CaddySession
    CaddySession(app)                       # instead of the cookie session

It wraps ``app.wsgi_app`` in CaddySessionMiddleware and sets
``app.session_interface``. ``session[k] = v``, ``del``/``pop`` and values
changed in place are sent as a delta; ``session.clear()`` ends the session
(data and key, Django's flush: what clearing Flask's cookie session means);
``session.permanent = True`` sets the expiry to
``app.permanent_session_lifetime``, ``False`` to the browser's close. Also
available: ``session.cycle_key()``, ``session.flush()``,
``session.set_expiry()``.

Values travel as Flask's own TaggedJSONSerializer writes them (bytes,
tuple, datetime, UUID, Markup come back as such; see
caddy_session.values), and the update is made when the body starts, later
than Flask saves its own session (after the after_request handlers).
"""

from flask.sessions import SessionInterface, SessionMixin

from .session import Session
from .values import flask_codec
from .wsgi import ENVIRON_KEY, CaddySessionMiddleware


class FlaskSession(Session, SessionMixin):
    """The Caddy session with Flask's session API."""

    def __init__(self, session, lifetime):
        super().__init__(claims=session.claims, codec=session._codec)
        dict.update(self, session)
        self._base = session._base
        self._lifetime = lifetime
        self.modified = False
        self.accessed = True  # Flask then adds Vary: Cookie

    def clear(self):
        # Flask's cookie session has no key to keep: clear() ends it (a
        # logout, or a login that must not inherit an older session).
        self.flush()

    @property
    def permanent(self):
        return not self.claims.get("browser_close", True) if self._expiry is None else self._expiry != "0"

    @permanent.setter
    def permanent(self, value):
        self.set_expiry(self._lifetime if value else 0)


class CaddySessionInterface(SessionInterface):
    """Opens the session CaddySessionMiddleware verified; the middleware sends the changes."""

    def open_session(self, app, request):
        session = request.environ.get(ENVIRON_KEY)
        if session is None:
            raise RuntimeError("caddy-session: CaddySessionInterface needs CaddySessionMiddleware "
                               "around app.wsgi_app; use CaddySession(app)")
        flask_session = FlaskSession(session, app.permanent_session_lifetime)
        request.environ[ENVIRON_KEY] = flask_session  # the middleware reads this one back
        return flask_session

    def save_session(self, app, session, response):
        # The middleware adds the headers when the body starts, which is
        # later than here (after request_finished and teardown_request too).
        # A value no convention covers fails now, naming the key, so that
        # Flask answers 500 through the app's own error handling and nothing
        # of the request is kept.
        session.update_headers()

    def is_null_session(self, obj):
        return False


class CaddySession:
    """Flask extension: ``CaddySession(app)`` or ``CaddySession().init_app(app)``."""

    def __init__(self, app=None, **options):
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        options = dict(self.options)
        options.setdefault("codec", flask_codec(app))  # before the interface it may copy tags from is replaced
        app.session_interface = CaddySessionInterface()
        app.wsgi_app = CaddySessionMiddleware(app.wsgi_app, **options)
