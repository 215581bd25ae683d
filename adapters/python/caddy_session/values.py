"""Values that are not JSON: the tags every caddy-session adapter reads and writes.

A session value that is plain JSON travels as itself. One that JSON cannot
hold travels as a one-key object whose key is a tag starting with a space,
Flask's TaggedJSONSerializer scheme (docs/adapters.md, "Values that are not
JSON"):

    bytes -> {" b": base64}      tuple -> {" t": [...]}     UUID -> {" u": "8-4-4-4-12"}
    Markup -> {" m": html}       datetime -> {" tm": RFC 3339} (Flask: {" d": HTTP date})
    {" t": 1} (a dict whose one key is a tag) -> {" di": {" t__": 1}}

and reads also {" d": ...} (an aware UTC datetime), {" tm": ...} (an aware
datetime, to the microsecond), {" sym": name} (a str). A PHP object
{" php": ...} is an Opaque dict, written back as it came; a dict of the
app's own whose one key is " php" is escaped like the others. Unknown tags
stay plain dicts.

WSGICodec needs nothing beyond the standard library (markupsafe's Markup
when it is installed). FlaskCodec is Flask's own TaggedJSONSerializer, so a
Flask app's values travel exactly as its cookie session kept them.
"""

import base64
import binascii
import datetime
import email.utils
import json
import re
import uuid

try:
    from markupsafe import Markup
except ImportError:  # plain WSGI without markupsafe: HTML comes back as str
    Markup = str

# The tags a writer escapes with " di" when a dict's one key is one of them.
KNOWN_TAGS = frozenset((" di", " b", " t", " u", " m", " d", " tm", " sym", " php"))


class Opaque(dict):
    """A value another adapter wrote for its own app (a PHP object, {" php": ...}):
    readable as the dict it is, written back as it came, never escaped."""

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$")


def parse_rfc3339(text):
    """An aware datetime from RFC 3339 text; nanoseconds are cut to microseconds."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError("not an RFC 3339 time: %r" % (text,))
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    tz = datetime.timezone.utc
    if not z:
        off = datetime.timedelta(hours=int(oh), minutes=int(om))
        tz = datetime.timezone(-off if sign == "-" else off)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    return datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=tz)


def format_rfc3339(value):
    """RFC 3339 with nanoseconds and the offset; a naive datetime is local time, as Python's astimezone() takes it."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.astimezone()
    off = value.utcoffset()
    secs = int(off.total_seconds())
    if off % datetime.timedelta(minutes=1):
        raise ValueError("a UTC offset of %s is not whole minutes, which RFC 3339 cannot say" % off)
    if secs == 0:
        zone = "Z"
    else:
        sign = "-" if secs < 0 else "+"
        zone = "%s%02d:%02d" % (sign, abs(secs) // 3600, abs(secs) % 3600 // 60)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06d000%s" % (
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, zone)


def parse_http_date(text):
    return email.utils.parsedate_to_datetime(text).astimezone(datetime.timezone.utc)


def untag_tree(value, untag):
    """value with every dict, innermost first, passed through untag (as json's object_hook does)."""
    if isinstance(value, dict):
        return untag({k: untag_tree(v, untag) for k, v in value.items()})
    if isinstance(value, list):
        return [untag_tree(v, untag) for v in value]
    return value


class WSGICodec:
    """The tags for a plain WSGI app: a datetime keeps its microseconds and offset (" tm")."""

    def tag(self, value):
        if isinstance(value, Opaque):
            return {k: self.tag(v) for k, v in value.items()}
        if isinstance(value, dict):
            if len(value) == 1:
                key = next(iter(value))
                if key in KNOWN_TAGS:
                    return {" di": {key + "__": self.tag(value[key])}}
            return {k: self.tag(v) for k, v in value.items()}
        if isinstance(value, tuple):
            return {" t": [self.tag(v) for v in value]}
        if isinstance(value, list):
            return [self.tag(v) for v in value]
        if isinstance(value, bytes):
            return {" b": base64.b64encode(value).decode("ascii")}
        if callable(getattr(value, "__html__", None)):
            return {" m": str(value.__html__())}
        if isinstance(value, uuid.UUID):
            return {" u": str(value)}
        if isinstance(value, datetime.datetime):
            return {" tm": format_rfc3339(value)}
        return value

    def untag(self, obj):
        if len(obj) != 1:
            return obj
        key, value = next(iter(obj.items()))
        try:
            if key == " di" and isinstance(value, dict) and len(value) == 1:
                inner = next(iter(value))
                if inner.endswith("__"):
                    return {inner[:-2]: value[inner]}
            elif key == " b" and isinstance(value, str):
                return base64.b64decode(value, validate=True)
            elif key == " t" and isinstance(value, list):
                return tuple(value)
            elif key == " u" and isinstance(value, str):
                return uuid.UUID(value)
            elif key == " m" and isinstance(value, str):
                return Markup(value)
            elif key == " d" and isinstance(value, str):
                return parse_http_date(value)
            elif key == " tm" and isinstance(value, str):
                return parse_rfc3339(value)
            elif key == " sym" and isinstance(value, str):
                return value
            elif key == " php" and isinstance(value, dict):
                return Opaque(obj)
        except (ValueError, TypeError, binascii.Error):
            pass  # a malformed tag stays the object it is
        return obj

    default = None  # json.dumps' default: nothing else is storable

    def dumps(self, value):
        # allow_nan=False: NaN and Infinity are not JSON. ensure_ascii (the
        # default) escapes non-ASCII as \\uXXXX, which a header carries safely.
        return json.dumps(self.tag(value), allow_nan=False, separators=(",", ":"), default=self.default)

    def loads_tree(self, value):
        return untag_tree(value, self.untag)


def flask_codec(app=None):
    """Flask's own TaggedJSONSerializer, with the tags Flask lacks for reading.

    Flask writes bytes, tuple, Markup, UUID and datetime (" d", to the
    second, UTC) itself. Two changes, both read by Flask's own serializer
    too: a UUID is written with dashes (the convention's form; Flask's
    writes bare hex), and " tm" and " sym" written by other adapters are
    read (as an aware datetime and a str); Flask writes " d" back when the
    app changes such a value. Tags the app registered on its previous
    session interface's serializer are kept.
    """
    from flask.json.tag import JSONTag, TaggedJSONSerializer, TagUUID

    class DashedUUID(TagUUID):
        __slots__ = ()

        def to_json(self, value):
            return str(value)

    class ReadTime(JSONTag):
        __slots__ = ()
        key = " tm"

        def check(self, value):
            return False  # Flask writes " d"

        def to_python(self, value):
            return parse_rfc3339(value)

    class ReadSymbol(JSONTag):
        __slots__ = ()
        key = " sym"

        def check(self, value):
            return False

        def to_python(self, value):
            return value

    class KeepOpaque(JSONTag):
        __slots__ = ()
        key = " php"

        def check(self, value):
            return isinstance(value, Opaque)

        def to_json(self, value):
            return self.serializer.tag(value[self.key])

        def to_python(self, value):
            return Opaque({self.key: value}) if isinstance(value, dict) else {self.key: value}

    class Serializer(TaggedJSONSerializer):
        __slots__ = ()
        # KeepOpaque first: an Opaque is a dict whose one key is a tag, which
        # TagDict would escape.
        default_tags = [KeepOpaque] + [DashedUUID if c is TagUUID else c for c in TaggedJSONSerializer.default_tags] + [
            ReadTime, ReadSymbol]

    serializer = Serializer()
    previous = getattr(getattr(app, "session_interface", None), "serializer", None)
    for tag in getattr(previous, "order", ()):
        if type(tag) not in TaggedJSONSerializer.default_tags:
            serializer.register(type(tag), force=True, index=0)

    default = getattr(getattr(app, "json", None), "default", None)
    if default is None:
        from flask.json.provider import DefaultJSONProvider
        default = DefaultJSONProvider.default
    return FlaskCodec(serializer, default)


class FlaskCodec(WSGICodec):
    """Flask's serializer: what Flask's cookie session would have kept, no more."""

    def __init__(self, serializer, default):
        self.serializer = serializer
        self.default = default  # Flask's: date, Decimal, dataclasses as Flask writes them

    def tag(self, value):
        return self.serializer.tag(value)

    def untag(self, obj):
        try:
            return self.serializer.untag(obj)
        except (ValueError, TypeError, binascii.Error):
            return obj
