#!/usr/bin/python3
"""djtool: a real Django 3.2, configured in-process, as the other side of
integration/django_test.go. Each run performs one command on one session
engine and prints JSON on stdout, one object per line.

    djtool.py login <username>     log a user in with django.contrib.auth.login
                                   -> {"key": <cookie value>, "data": {...}}
    djtool.py load <key>...        SessionStore(session_key=key).load()
                                   -> {"key": key, "data": {...}} per key ({} when gone)
    djtool.py set <key> <json>     load, update with the JSON object, save
                                   -> {"key": <cookie value after the save>, "data": {...}},
                                   or {"key": key, "error": ...} when the save raises
                                   UpdateError (SessionMiddleware's SessionInterrupted, 400)
    djtool.py flush <key>          SessionStore(session_key=key).flush()
                                   -> {"key": key}
    djtool.py exists <key>         SessionStore().exists(key)
                                   -> {"key": key, "exists": bool}

For signed_cookies the key is the cookie value (it changes on every save).

Settings come from the environment (the Django settings they stand for):

    DJ_ENGINE          db | cache | cached_db | file | signed_cookies | redis
                       (SESSION_ENGINE; redis is django-redis-sessions)
    DJ_SECRET_KEY      SECRET_KEY
    DJ_DATABASE        DATABASES["default"]: postgres://user@host:port/name or
                       a SQLite file path. Engines without a database still
                       need one for django.contrib.auth's users.
    DJ_CACHE           CACHES["default"] LOCATION (redis://host:port/0), through
                       django-redis with its JSON serializer
    DJ_CACHE_KEY_PREFIX, DJ_CACHE_VERSION   CACHES KEY_PREFIX (""), VERSION (1)
    DJ_FILE_PATH       SESSION_FILE_PATH
    DJ_REDIS           SESSION_REDIS host:port; DJ_REDIS_PREFIX its "prefix" ("")
    DJ_COOKIE_NAME     SESSION_COOKIE_NAME (sessionid)

Django's security log (SuspiciousSession) goes to stderr.
"""

import json
import os
import sys
from urllib.parse import urlsplit

ENGINES = {
    "db": "django.contrib.sessions.backends.db",
    "cache": "django.contrib.sessions.backends.cache",
    "cached_db": "django.contrib.sessions.backends.cached_db",
    "file": "django.contrib.sessions.backends.file",
    "signed_cookies": "django.contrib.sessions.backends.signed_cookies",
    "redis": "redis_sessions.session",
}


def database(dsn):
    if "://" not in dsn:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": dsn}
    u = urlsplit(dsn)
    if u.scheme not in ("postgres", "postgresql"):
        sys.exit("djtool: DJ_DATABASE: want postgres://... or a SQLite path")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": u.path.lstrip("/"),
        "USER": u.username or "",
        "PASSWORD": u.password or "",
        "HOST": u.hostname or "",
        "PORT": str(u.port or ""),
    }


def configure():
    from django.conf import settings

    env = os.environ
    engine = env["DJ_ENGINE"]
    conf = dict(
        SECRET_KEY=env["DJ_SECRET_KEY"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
        ],
        DATABASES={"default": database(env["DJ_DATABASE"])},
        SESSION_ENGINE=ENGINES[engine],
        SESSION_COOKIE_NAME=env.get("DJ_COOKIE_NAME", "sessionid"),
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        # Only the speed of creating users: _auth_user_hash is an HMAC of
        # whatever the password field holds, whichever hasher made it.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        LOGGING={
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"stderr": {"class": "logging.StreamHandler"}},
            "loggers": {"django.security": {"handlers": ["stderr"], "level": "WARNING"}},
        },
    )
    if env.get("DJ_CACHE"):
        conf["CACHES"] = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": env["DJ_CACHE"],
                "KEY_PREFIX": env.get("DJ_CACHE_KEY_PREFIX", ""),
                "VERSION": int(env.get("DJ_CACHE_VERSION", "1")),
                "OPTIONS": {"SERIALIZER": "django_redis.serializers.json.JSONSerializer"},
            }
        }
    if env.get("DJ_FILE_PATH"):
        conf["SESSION_FILE_PATH"] = env["DJ_FILE_PATH"]
    if env.get("DJ_REDIS"):
        host, port = env["DJ_REDIS"].rsplit(":", 1)
        conf["SESSION_REDIS"] = {
            "host": host,
            "port": int(port),
            "db": 0,
            "prefix": env.get("DJ_REDIS_PREFIX", ""),
            "socket_timeout": 5,
        }
    settings.configure(**conf)

    import django

    django.setup()


def session_store():
    from importlib import import_module

    from django.conf import settings

    return import_module(settings.SESSION_ENGINE).SessionStore


def out(obj):
    print(json.dumps(obj, sort_keys=True))


def cmd_login(username):
    from django.contrib.auth import get_user_model, login
    from django.core.management import call_command
    from django.test import RequestFactory

    # The auth tables (and django_session for the db engines). fake_initial:
    # Caddy may have created django_session first, as Django's own
    # migration would.
    call_command("migrate", verbosity=0, interactive=False, fake_initial=True)
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_password(username + "-password")
        user.save()
    request = RequestFactory().get("/")
    request.session = session_store()()
    login(request, user)  # cycles the key, sets the three auth keys
    request.session.save()
    out({"key": request.session.session_key, "data": dict(request.session.items())})


def cmd_load(*keys):
    SessionStore = session_store()
    for key in keys:
        out({"key": key, "data": SessionStore(session_key=key).load()})


def cmd_set(key, changes):
    from django.contrib.sessions.backends.base import UpdateError

    s = session_store()(session_key=key)
    s.update(json.loads(changes))
    try:
        s.save()
    except UpdateError as e:
        out({"key": key, "error": "UpdateError: %s" % (e.__cause__ or e)})
        return
    out({"key": s.session_key, "data": dict(s.items())})


def cmd_flush(key):
    s = session_store()(session_key=key)
    s.flush()
    out({"key": key})


def cmd_exists(key):
    out({"key": key, "exists": bool(session_store()().exists(key))})


COMMANDS = {
    "login": (cmd_login, 1),
    "load": (cmd_load, None),
    "set": (cmd_set, 2),
    "flush": (cmd_flush, 1),
    "exists": (cmd_exists, 1),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        sys.exit(__doc__)
    fn, nargs = COMMANDS[argv[1]]
    args = argv[2:]
    if (nargs is None and not args) or (nargs is not None and len(args) != nargs):
        sys.exit("djtool: %s: wrong number of arguments\n%s" % (argv[1], __doc__))
    configure()
    fn(*args)


if __name__ == "__main__":
    main(sys.argv)
