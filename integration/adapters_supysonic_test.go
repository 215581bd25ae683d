package integration

// A real Flask application nobody here wrote, unchanged: Supysonic, the
// Subsonic music server, as Debian bookworm ships it (package supysonic,
// 0.7.2). Its web UI logs in with Flask's session (session["userid"]),
// keeps flash messages in it (Flask stores them as tuples, which its
// serializer tags " t") and logs out with session.clear(). The test writes
// a WSGI entry file that imports the app as Debian installs it and, behind
// the module, adds the adapter's one line; it runs the same browser flow on
// Flask's own cookie session and behind Caddy's session handler with its
// defaults, and requires the same outcome.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

const supysonicEntry = `# Written by integration/adapters_supysonic_test.go: Supysonic, unchanged.
import os
from supysonic.config import IniConfig
from supysonic.web import create_application

application = create_application(IniConfig([os.path.join(os.path.dirname(os.path.abspath(__file__)), "supysonic.conf")]))

# The adapter line:
if os.environ.get("CADDY_SESSION"):
    from caddy_session.flask import CaddySession
    CaddySession(application)
`

// startSupysonic runs Debian's Supysonic under gunicorn with its own
// database holding the user alice, and returns its address.
func startSupysonic(t *testing.T, adapter bool) string {
	t.Helper()
	pythonWithJWT(t)
	if err := exec.Command("/usr/bin/python3", "-c", "import supysonic.web").Run(); err != nil {
		missingTool(t, "Supysonic", "apt-get install -y supysonic")
	}
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		missingTool(t, "gunicorn", "apt-get install -y gunicorn")
	}
	dir := t.TempDir()
	conf := fmt.Sprintf("[base]\ndatabase_uri = sqlite:///%s\n[webapp]\ncache_dir = %s\nmount_api = no\n[daemon]\nsocket = %s\n",
		filepath.Join(dir, "supysonic.db"), filepath.Join(dir, "cache"), filepath.Join(dir, "daemon.sock"))
	for name, body := range map[string]string{"supysonic.conf": conf, "entry.py": supysonicEntry} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// supysonic-cli reads supysonic.conf from its working directory.
	cli := exec.Command("supysonic-cli", "user", "add", "alice", "-p", "s3cret-pass")
	cli.Dir = dir
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("supysonic-cli user add: %v\n%s", err, out)
	}
	port := testredis.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(gunicorn, "--bind", addr, "--workers", "2", "--chdir", dir, "entry:application")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+adaptersDir(t, "python"))
	if adapter {
		cmd.Env = append(cmd.Env, "CADDY_SESSION=1", "SESSION_SECRET="+testSecret)
	}
	startProcess(t, "supysonic", cmd, addr)
	return addr
}

// supysonicStep is what a browser notices of one request.
type supysonicStep struct {
	What     string
	Status   int
	Location string
	Shows    []string // the markers found on the page
}

// supysonicMarkers are the texts the flow looks for on each page: flash
// messages (kept in the session) and the logged-in user's name.
var supysonicMarkers = []string{"Please login", "Wrong username or password", "Logged in!", "Logged out!", "alice"}

func TestAdapterRealFlaskApp(t *testing.T) {
	type run struct {
		steps    []supysonicStep
		loggedIn string // the session cookie while logged in
		base     string
		cookie   string
	}
	flow := func(t *testing.T, base, cookieName string) run {
		r := run{base: base, cookie: cookieName}
		client := newClient(t)
		step := func(what, method, path string, form url.Values) {
			t.Helper()
			var body []byte
			ct := ""
			if form != nil {
				body, ct = []byte(form.Encode()), "application/x-www-form-urlencoded"
			}
			resp, page := send(t, client, method, base+path, ct, body)
			assertNoSessionHeaders(t, resp)
			for _, c := range resp.Cookies() {
				if c.Name != cookieName {
					t.Errorf("%s: cookie %q set, want only %q", what, c.Name, cookieName)
				}
			}
			s := supysonicStep{What: what, Status: resp.StatusCode, Location: resp.Header.Get("Location")}
			for _, m := range supysonicMarkers {
				if strings.Contains(string(page), m) {
					s.Shows = append(s.Shows, m)
				}
			}
			r.steps = append(r.steps, s)
		}
		jar := func() string {
			u, _ := url.Parse(base + "/")
			for _, c := range client.Jar.Cookies(u) {
				if c.Name == cookieName {
					return c.Value
				}
			}
			return ""
		}
		step("home, logged out", "GET", "/", nil)
		step("login form", "GET", "/user/login?returnUrl=%2F", nil)
		step("wrong password", "POST", "/user/login?returnUrl=%2F", url.Values{"user": {"alice"}, "password": {"nope"}})
		step("log in", "POST", "/user/login?returnUrl=%2F", url.Values{"user": {"alice"}, "password": {"s3cret-pass"}})
		r.loggedIn = jar()
		step("profile", "GET", "/user/me", nil)
		step("profile again", "GET", "/user/me", nil)
		step("home", "GET", "/", nil)
		step("log out", "GET", "/user/logout", nil)
		step("login form after logout", "GET", "/user/login", nil)
		step("profile after logout", "GET", "/user/me", nil)
		return r
	}

	native := flow(t, startCaddy(t, "", "reverse_proxy "+startSupysonic(t, false)).URL, "session")
	c := startCaddy(t, "", "session {\n\tsecret {env.SESSION_SECRET}\n}\nreverse_proxy "+startSupysonic(t, true))
	proxied := flow(t, c.URL, "sessionid")

	// The flow does what a user expects natively; behind the module it
	// does exactly the same.
	want := []supysonicStep{
		{"home, logged out", http.StatusFound, "/user/login?returnUrl=%2F", nil},
		{"login form", http.StatusOK, "", []string{"Please login"}},
		{"wrong password", http.StatusOK, "", []string{"Wrong username or password", "alice"}}, // the form keeps the name
		{"log in", http.StatusFound, "/", nil},
		{"profile", http.StatusOK, "", []string{"Logged in!", "alice"}},
		{"profile again", http.StatusOK, "", []string{"alice"}},
		{"home", http.StatusOK, "", []string{"alice"}},
		{"log out", http.StatusFound, "/user/login", nil},
		{"login form after logout", http.StatusOK, "", []string{"Logged out!"}},
		{"profile after logout", http.StatusFound, "/user/login?returnUrl=%2Fuser%2Fme", nil},
	}
	for name, got := range map[string]run{"native (Flask's cookie session)": native, "behind the module": proxied} {
		if fmt.Sprint(got.steps) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %v\nwant %v", name, got.steps, want)
		}
	}

	// Behind the module the logout ended the session on the server: the
	// cookie a thief copied while alice was logged in no longer logs in
	// (Flask's cookie session cannot do that: the copy stays valid).
	thief := newClient(t)
	u, _ := url.Parse(proxied.base + "/")
	thief.Jar.SetCookies(u, []*http.Cookie{{Name: "sessionid", Value: proxied.loggedIn, Path: "/"}})
	if resp, _ := send(t, thief, "GET", proxied.base+"/user/me", "", nil); resp.StatusCode != http.StatusFound {
		t.Errorf("the logged-in cookie replayed after logout: status %d, want 302 to the login form", resp.StatusCode)
	}
}
