package django

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// The oracle is Debian's Django (python3-django, 3.2), run in-process by
// the system Python with settings configured in code: no project, no
// database (encode and decode never touch one).
const python = "/usr/bin/python3"

const installHint = "apt-get install -y python3-django"

var (
	djangoOnce sync.Once
	djangoErr  error
)

// needDjango skips the test when Django cannot be imported, or fails it
// under CI, where the oracle must run.
func needDjango(t *testing.T) {
	t.Helper()
	djangoOnce.Do(func() {
		out, err := exec.Command(python, "-c", "import django").CombinedOutput()
		if err != nil {
			if msg := bytes.TrimSpace(out); len(msg) > 0 {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			djangoErr = fmt.Errorf("%s cannot import django: %w", python, err)
		}
	})
	if djangoErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Django is the oracle of these tests: %v; run: %s", djangoErr, installHint)
	}
	t.Skipf("%v; to run these tests: %s", djangoErr, installHint)
}

// djangoSettings are the settings the oracle is configured with.
type djangoSettings struct {
	Secret     string `json:"secret"`
	Hashing    string `json:"hashing,omitempty"`    // DEFAULT_HASHING_ALGORITHM: "sha1" makes encode write the legacy format
	Serializer string `json:"serializer,omitempty"` // SESSION_SERIALIZER
}

const pickleSerializer = "django.contrib.sessions.serializers.PickleSerializer"

const prelude = `
import json, sys, warnings
warnings.simplefilter("ignore")
cfg = json.loads(sys.argv[1])
from django.conf import settings
kw = dict(SECRET_KEY=cfg["secret"], INSTALLED_APPS=["django.contrib.sessions"])
if cfg.get("hashing"):
    kw["DEFAULT_HASHING_ALGORITHM"] = cfg["hashing"]
if cfg.get("serializer"):
    kw["SESSION_SERIALIZER"] = cfg["serializer"]
settings.configure(**kw)
import django
django.setup()
from unittest import mock
from django.core import signing
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.backends.signed_cookies import SessionStore as SignedCookieStore
from django.contrib.sessions.serializers import PickleSerializer
def compact(v):
    return json.dumps(v, separators=(",", ":"))
inp = json.loads(sys.stdin.read())
out = None
`

// runDjango runs script after the prelude, with in bound to inp (sent as
// JSON) and prints out as JSON into out.
func runDjango(t *testing.T, s djangoSettings, script string, inp, out any) {
	t.Helper()
	needDjango(t)
	cfg, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(inp)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", prelude+script+"\nsys.stdout.write(json.dumps(out))\n", string(cfg))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("running Django: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("reading Django's answer %q: %v", b, err)
	}
}
