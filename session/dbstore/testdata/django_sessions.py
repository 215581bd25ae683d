"""Drives Django's own db session engine for dbstore's tests.

Usage: django_sessions.py <pg DBNAME | sqlite PATH> <command> [args]

  migrate              run Django's migration of contrib.sessions
  save JSON SECONDS    SessionStore() with JSON's items, set_expiry(SECONDS),
                       save(); prints {"key", "data", "expire_date"} of the row
  encode JSON          prints SessionStore().encode(JSON's dict)
  load KEY             prints SessionStore(session_key=KEY).load() as JSON
  clear_expired        SessionStore.clear_expired()
  count                prints the number of rows in django_session
"""
import json
import sys

import django
from django.conf import settings

engine, name, command, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if engine == "pg":
    db = {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432"}
else:
    db = {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
settings.configure(
    DATABASES={"default": db},
    INSTALLED_APPS=["django.contrib.sessions"],
    SESSION_ENGINE="django.contrib.sessions.backends.db",
    SECRET_KEY="dbstore-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    USE_TZ=True,
)
django.setup()

from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.management import call_command  # noqa: E402

if command == "migrate":
    call_command("migrate", "sessions", verbosity=0)
elif command == "save":
    s = SessionStore()
    s.update(json.loads(args[0]))
    s.set_expiry(int(args[1]))
    s.save()
    row = Session.objects.get(session_key=s.session_key)
    print(json.dumps({"key": row.session_key, "data": row.session_data, "expire_date": row.expire_date.isoformat()}))
elif command == "encode":
    print(SessionStore().encode(json.loads(args[0])))
elif command == "load":
    print(json.dumps(SessionStore(session_key=args[0]).load(), sort_keys=True))
elif command == "clear_expired":
    SessionStore.clear_expired()
elif command == "count":
    print(Session.objects.count())
else:
    sys.exit("unknown command " + command)
