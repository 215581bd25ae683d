package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// The Django peer (issue 8, item 2b) does the same work per request in
// both setups: read a counter from the session, add one, write it back.
// native: Django's own SessionMiddleware on the cache engine with
// django-redis (a GET and a SET per request, as Django does); module: the
// same Django, without SessionMiddleware, behind this module's `session`
// on Redis: the view reads the counter from the verified X-Session token
// (PyJWT, HS256 pinned) and answers X-Session-Set. Both run under gunicorn
// with the same workers.
const djangoApp = `import json
import os

import django
from django.conf import settings

NATIVE = os.environ["BENCH_DJANGO_MODE"] == "native"
settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ["BENCH_DJANGO_SECRET"],
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.sessions"] if NATIVE else [],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"] if NATIVE else [],
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    CACHES={"default": {"BACKEND": "django_redis.cache.RedisCache",
                        "LOCATION": "redis://" + os.environ["BENCH_REDIS"] + "/0"}},
    USE_TZ=True,
)
django.setup()

import jwt
from django.http import HttpResponse
from django.urls import path

SECRET = os.environ["SESSION_SECRET"]


def native(request):
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse("ok\n")


def module(request):
    claims = jwt.decode(request.headers["X-Session"], SECRET, algorithms=["HS256"])
    response = HttpResponse("ok\n")
    response["X-Session-Set"] = json.dumps({"n": claims["data"].get("n", 0) + 1})
    return response


urlpatterns = [path("native", native), path("module", module)]

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
`

// djangoWorkers is gunicorn's sync workers per setup.
const djangoWorkers = 4

// startDjango starts the two gunicorns and returns the address of each,
// native first.
func startDjango(dir, redisAddr string) (native, module string, err error) {
	if _, err := exec.LookPath("gunicorn"); err != nil {
		return "", "", fmt.Errorf("gunicorn not found: scripts/install-deps.sh bench installs it")
	}
	d := filepath.Join(dir, "django")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(d, "benchapp.py"), []byte(djangoApp), 0o600); err != nil {
		return "", "", err
	}
	start := func(mode string) (string, error) {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command("gunicorn", "--bind", addr, "--workers", strconv.Itoa(djangoWorkers),
			"--chdir", d, "benchapp:application")
		cmd.Env = append(os.Environ(), "BENCH_DJANGO_MODE="+mode, "BENCH_DJANGO_SECRET="+secret,
			"BENCH_REDIS="+redisAddr, "SESSION_SECRET="+secret, "PYTHONDONTWRITEBYTECODE=1")
		if err := startProcess("gunicorn "+mode, cmd, addr, filepath.Join(d, mode+".log")); err != nil {
			return "", err
		}
		return addr, nil
	}
	if native, err = start("native"); err != nil {
		return "", "", err
	}
	module, err = start("module")
	return native, module, err
}
