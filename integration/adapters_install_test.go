package integration

// The Python and Node adapters install like packages, as docs/adapters.md
// says, from an empty app folder and without a package index:
// `pip install <path>/adapters/python` into a venv of Debian's Python that
// sees its python3-jwt and python3-flask, and `npm install
// <path>/adapters/node`. Each app then imports the adapter by its name.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdapterPackagesInstall(t *testing.T) {
	t.Run("pip install adapters/python", func(t *testing.T) {
		py := pythonWithJWT(t)
		if err := exec.Command(py, "-c", "import flask, pip").Run(); err != nil {
			missingTool(t, py+" with Flask and pip", "apt-get install -y python3-flask python3-pip")
		}
		venv := filepath.Join(t.TempDir(), "venv")
		installRun(t, "", py, "-m", "venv", "--system-site-packages", "--without-pip", venv)
		app := t.TempDir()
		// Debian's pip, installing into the venv (--python; a venv's own pip
		// is the same pip, slower to set up). --no-index: nothing may come
		// from a package index.
		installRun(t, app, py, "-m", "pip", "--python", filepath.Join(venv, "bin", "python"), "install", "--no-index",
			"--disable-pip-version-check", adaptersDir(t, "python"))
		out := installRun(t, app, filepath.Join(venv, "bin", "python"), "-c", `
import caddy_session, flask
from caddy_session.flask import CaddySession
app = flask.Flask("x")
CaddySession(app, secret="x" * 32)
print(caddy_session.__file__)`)
		if !strings.HasPrefix(out, venv) {
			t.Errorf("caddy_session imported from %q, want the venv %s", out, venv)
		}
	})

	t.Run("npm install adapters/node", func(t *testing.T) {
		if _, err := exec.LookPath("npm"); err != nil {
			missingTool(t, "npm", "apt-get install -y nodejs npm")
		}
		app := t.TempDir()
		if err := os.WriteFile(filepath.Join(app, "package.json"), []byte(`{"name":"app","version":"1.0.0","private":true}`), 0o600); err != nil {
			t.Fatal(err)
		}
		// --offline: the adapter has no runtime dependency to fetch.
		installRun(t, app, "npm", "install", "--offline", "--no-audit", "--no-fund", adaptersDir(t, "node"))
		out := installRun(t, app, "node", "-e", `
const caddySession = require('caddy-session-adapter');
console.log(typeof caddySession({ secret: 'x'.repeat(32) }));`)
		if out != "function" {
			t.Errorf("require('caddy-session-adapter')(...) in the app gave %q, want a middleware function", out)
		}
	})
}

// installRun runs a command in dir and returns its trimmed standard output.
func installRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PIP_NO_INPUT=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}
