"""Drives Django's own session engines for redisblob's interop tests.

Usage: django_sessions.py '<config JSON>' <command> [<session key>]
with a JSON argument on stdin where the command takes one. The config:
  {"engine": "cache" | "redis_sessions", "port": <redis port>,
   "key_prefix": "", "version": 1, "serializer": "json" | "pickle",
   "prefix": "<django-redis-sessions prefix>", "secret_key": "..."}
Commands print one JSON document (non-finite floats as "inf", "-inf", "nan"):
  create       stdin: the session dict    -> {"key": ..., "expiry_age": ...}
  load <key>                              -> {"data": {...}, "exists": bool}
  update <key> stdin: fields to set       -> {}
  encode       stdin: a session dict      -> Django's SessionBase.encode of it
  decode       stdin: an encoded string   -> the dict SessionBase.decode reads
"""
import json
import math
import sys

import django
from django.conf import settings

cfg = json.loads(sys.argv[1])
command = sys.argv[2]
location = "redis://127.0.0.1:%d/0" % cfg["port"]
options = {"CLIENT_CLASS": "django_redis.client.DefaultClient"}
if cfg.get("serializer", "json") == "json":
    options["SERIALIZER"] = "django_redis.serializers.json.JSONSerializer"
engines = {
    "cache": "django.contrib.sessions.backends.cache",
    "redis_sessions": "redis_sessions.session",
}
settings.configure(
    SECRET_KEY=cfg.get("secret_key", "django-insecure-interop-test-key-0123456789"),
    INSTALLED_APPS=["django.contrib.sessions"],
    CACHES={
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": cfg.get("key_prefix", ""),
            "VERSION": cfg.get("version", 1),
            "OPTIONS": options,
        }
    },
    SESSION_ENGINE=engines[cfg["engine"]],
    SESSION_REDIS={"host": "127.0.0.1", "port": cfg["port"], "db": 0,
                   "prefix": cfg.get("prefix", ""), "socket_timeout": 5},
)
django.setup()

from importlib import import_module  # noqa: E402

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore


def stdin_json():
    return json.loads(sys.stdin.read())


if command == "create":
    s = SessionStore()
    s.update(stdin_json())
    s.create()
    out = {"key": s.session_key, "expiry_age": s.get_expiry_age()}
elif command == "load":
    key = sys.argv[3]
    s = SessionStore(key)
    out = {"data": s.load(), "exists": bool(s.exists(key))}
elif command == "update":
    s = SessionStore(sys.argv[3])
    s.update(stdin_json())
    s.save()
    out = {}
elif command == "encode":
    out = SessionStore().encode(stdin_json())
elif command == "decode":
    out = SessionStore().decode(sys.stdin.read())
else:
    sys.exit("unknown command " + command)


def finite(v):
    """JSON has no inf or nan: they print as "inf", "-inf" and "nan"."""
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


json.dump(finite(out), sys.stdout, allow_nan=False)
