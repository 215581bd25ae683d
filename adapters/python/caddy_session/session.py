"""The session as a dict that remembers what the request did to it."""

import datetime
import json

from .values import WSGICodec

UPDATES = ("Flush", "Clear", "Delete", "Set", "Cycle-Key", "Expiry")


class SessionError(Exception):
    """The token is missing or invalid: the request did not come through Caddy."""


class UnstorableValue(TypeError):
    """A session value no convention covers; raised when the headers are made."""


def _dumps(value):
    return json.dumps(value, separators=(",", ":"))


class Session(dict):
    """Django's session API over a plain dict.

    ``s[k] = v``, ``del s[k]``, ``pop``, ``update``... are tracked by
    comparing each key's JSON with what the token brought, so values
    changed in place (``s["cart"].append(x)``) count too. Besides:
    ``flush()``, ``clear()``, ``cycle_key()`` and ``set_expiry()``.

    data is the token's JSON; values that are not JSON come tagged and are
    given to the app as their Python type by codec (caddy_session.values).
    """

    def __init__(self, data=None, claims=None, codec=None):
        self._codec = codec or WSGICodec()
        super().__init__(self._codec.loads_tree(data or {}))
        self.claims = claims or {}
        # What the request started with, as it would be written back: a
        # value is sent only when its text changes.
        self._base = {k: self._codec.dumps(v) for k, v in self.items()}
        self._flush = False
        self._clear = False
        self._cycle = False
        self._expiry = None

    @property
    def is_new(self):
        return bool(self.claims.get("new", True))

    @property
    def sid(self):
        """Opaque id, stable for one session key (never the cookie)."""
        return self.claims.get("sid")

    def flush(self):
        """Data and key gone; values set afterwards start a new session under a new key."""
        super().clear()
        self._flush, self._clear, self._cycle = True, False, False
        self._base = {}

    def clear(self):
        """Data gone, key kept (Django's clear())."""
        super().clear()
        self._clear = True
        self._base = {}

    def cycle_key(self):
        """Same data under a new key; the old key dies (Django's cycle_key(), a login)."""
        self._cycle = True

    def set_expiry(self, value):
        """Django's set_expiry: seconds, 0 (browser close), None (the default) or a datetime."""
        if value is None:
            self._expiry = "default"
        elif isinstance(value, datetime.timedelta):
            self._expiry = str(max(0, int(value.total_seconds())))
        elif isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.astimezone()
            self._expiry = value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            self._expiry = str(value)
        else:
            raise ValueError("set_expiry: want seconds >= 0, a timedelta, a datetime or None")

    def update_headers(self):
        """The update headers for what the request did, as (name suffix, value) pairs.

        Raises UnstorableValue, naming the key, before anything is made.
        """
        set_, now = [], set()
        for k, v in self.items():
            if not isinstance(k, str):
                raise UnstorableValue("caddy-session: session key %r is not a string" % (k,))
            try:
                j = self._codec.dumps(v)
            except (TypeError, ValueError, RecursionError) as e:
                raise UnstorableValue("caddy-session: session[%r] cannot be stored (%s); "
                                      "the session was not saved" % (k, e)) from None
            now.add(k)
            if self._base.get(k) != j:
                set_.append(_dumps(k) + ":" + j)
        delete = [k for k in self._base if k not in now]
        out = []
        if self._flush:
            out.append(("Flush", "1"))
        if self._clear:
            out.append(("Clear", "1"))
        if delete:
            out.append(("Delete", _dumps(delete)))
        if set_:
            out.append(("Set", "{" + ",".join(set_) + "}"))
        if self._cycle:
            out.append(("Cycle-Key", "1"))
        if self._expiry is not None:
            out.append(("Expiry", self._expiry))
        return out
