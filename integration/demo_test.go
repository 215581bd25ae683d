package integration

// The demo a newcomer runs with ./demo.sh: demo/app.py behind a Caddy that
// runs the repository's own Caddyfile.example, unchanged (its ports come
// from DEMO_PORT and DEMO_APP_PORT, its admin endpoint from CADDY_ADMIN).

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

func TestDemo(t *testing.T) {
	appPort := startDemoApp(t)
	c := startDemoCaddy(t, appPort)
	client := newClient(t)

	// The counter goes up on every reload.
	for want := 1; want <= 2; want++ {
		if p := demoPage(t, client, c.URL); p.visits != want || p.user != "" {
			t.Fatalf("visit %d: page shows visits %d, user %q; want %d visits, nobody signed in", want, p.visits, p.user, want)
		}
	}

	// ... and survives a Caddy restart: the file store keeps it.
	c.Start()
	if p := demoPage(t, client, c.URL); p.visits != 3 {
		t.Fatalf("after restarting Caddy the page shows visits %d, want 3", p.visits)
	}

	// Log in without "remember me": a browser-session cookie.
	before := onlySessionCookie(t, client, c.URL)
	resp := demoPost(t, client, c.URL+"/login", url.Values{"username": {"alice"}})
	raw := rawSessionSetCookie(t, resp)
	if l := strings.ToLower(raw); strings.Contains(l, "max-age") || strings.Contains(l, "expires") {
		t.Errorf("login without remember me: Set-Cookie %q, want no Max-Age and no Expires", raw)
	}
	if after := onlySessionCookie(t, client, c.URL); after == before {
		t.Errorf("login kept the session key %q, want a new one", before)
	}
	p := demoPage(t, client, c.URL)
	if p.user != "alice" || p.visits != 4 {
		t.Errorf("after login the page shows user %q, visits %d; want alice, 4", p.user, p.visits)
	}
	if !strings.Contains(p.expiry, "close your browser") {
		t.Errorf("after login without remember me the page says the session expires %q, want at browser close", p.expiry)
	}

	// Log in again with "remember me": a 30-day cookie.
	resp = demoPost(t, client, c.URL+"/login", url.Values{"username": {"bob"}, "remember": {"on"}})
	raw = rawSessionSetCookie(t, resp)
	if ck, err := http.ParseSetCookie(raw); err != nil || ck.MaxAge != 2592000 {
		t.Errorf("login with remember me: Set-Cookie %q, want Max-Age=2592000", raw)
	}
	if p := demoPage(t, client, c.URL); p.user != "bob" || strings.Contains(p.expiry, "close your browser") {
		t.Errorf("after remember-me login the page shows user %q, expiry %q; want bob and a date", p.user, p.expiry)
	}

	// Log out: the cookie goes and the next page starts from scratch.
	resp = demoPost(t, client, c.URL+"/logout", nil)
	if cookies := sessionSetCookies(t, resp); len(cookies) != 1 || !cookieDeleted(cookies[0]) {
		t.Errorf("logout: Set-Cookie %q, want one deleting the session cookie", resp.Header.Values("Set-Cookie"))
	}
	if p := demoPage(t, client, c.URL); p.user != "" || p.visits != 1 {
		t.Errorf("after logout the page shows user %q, visits %d; want nobody, 1", p.user, p.visits)
	}
}

// The app refuses requests that did not come through Caddy's session handler.
func TestDemoAppNeedsCaddy(t *testing.T) {
	appPort := startDemoApp(t)
	resp, body := send(t, newClient(t), "GET", "http://127.0.0.1:"+strconv.Itoa(appPort)+"/", "", nil,
		"X-Session", signTestToken(t, "HS256", "not-the-secret-0123456789abcdefghij", map[string]any{"data": map[string]any{}, "new": true, "iat": 1, "exp": 4102444800}))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("demo app with a token signed by another secret: status %d, want 401; body %s", resp.StatusCode, body)
	}
}

func TestDemoCaddyfileAdapts(t *testing.T) {
	cfg := demoCaddyfile(t)
	adapt := func(env ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(caddyPath, "adapt", "--config", cfg, "--adapter", "caddyfile")
		cmd.Env = append(envWithout("DEMO_PORT", "DEMO_APP_PORT", "SESSION_SECRET"), append(env, "SESSION_SECRET="+testSecret)...)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("caddy adapt --config Caddyfile.example: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(string(out), `"handler":"session"`) {
			t.Errorf("adapted config has no session handler:\n%s", out)
		}
		if strings.Contains(string(out), testSecret) {
			t.Errorf("adapted config holds the secret itself; want the {env.SESSION_SECRET} placeholder:\n%s", out)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("adapted config is not JSON: %v\n%s", err, out)
		}
		return v
	}
	servers := func(v map[string]any) string {
		b, _ := json.Marshal(v["apps"].(map[string]any)["http"])
		return string(b)
	}

	def := servers(adapt())
	for _, want := range []string{`":8080"`, `"127.0.0.1:8000"`, `"localhost"`} {
		if !strings.Contains(def, want) {
			t.Errorf("default adapted http app lacks %s:\n%s", want, def)
		}
	}
	custom := servers(adapt("DEMO_PORT=9123", "DEMO_APP_PORT=9124"))
	for _, want := range []string{`":9123"`, `"127.0.0.1:9124"`} {
		if !strings.Contains(custom, want) {
			t.Errorf("with DEMO_PORT=9123 DEMO_APP_PORT=9124 the adapted http app lacks %s:\n%s", want, custom)
		}
	}
}

// --- helpers ---

func demoCaddyfile(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// envWithout is the test's environment less the named variables.
func envWithout(names ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// startDemoApp runs demo/app.py on a free port and returns the port.
func startDemoApp(t *testing.T) int {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			missingTool(t, "python3", "apt-get install -y python3")
		}
	}
	app, err := filepath.Abs(filepath.Join("..", "demo", "app.py"))
	if err != nil {
		t.Fatal(err)
	}
	port := testredis.FreePort(t)
	cmd := exec.Command(py, app)
	cmd.Env = append(os.Environ(), "SESSION_SECRET="+testSecret, "DEMO_APP_PORT="+strconv.Itoa(port))
	startProcess(t, "demo app", cmd, "127.0.0.1:"+strconv.Itoa(port))
	return port
}

// startDemoCaddy runs Caddyfile.example as it is, on free ports.
func startDemoCaddy(t *testing.T, appPort int) *Caddy {
	t.Helper()
	c := &Caddy{t: t, Port: testredis.FreePort(t), AdminPort: testredis.FreePort(t), Dir: t.TempDir(), config: demoCaddyfile(t)}
	// The site address is http://localhost:{$DEMO_PORT}: requests must name
	// localhost for the site to answer.
	c.URL = "http://localhost:" + strconv.Itoa(c.Port)
	c.env = []string{
		"SESSION_SECRET=" + testSecret,
		"XDG_DATA_HOME=" + filepath.Join(c.Dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(c.Dir, "config"),
		"DEMO_PORT=" + strconv.Itoa(c.Port),
		"DEMO_APP_PORT=" + strconv.Itoa(appPort),
		"CADDY_ADMIN=127.0.0.1:" + strconv.Itoa(c.AdminPort),
	}
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

type demoView struct {
	visits int
	user   string // "" when nobody is signed in
	expiry string
}

var (
	demoVisitsRe = regexp.MustCompile(`<span id="visits">(\d+)</span>`)
	demoUserRe   = regexp.MustCompile(`<strong id="user">([^<]*)</strong>`)
	demoExpiryRe = regexp.MustCompile(`<dd id="expiry">([^<]*)</dd>`)
)

// demoPage loads the demo's page and reads what it shows.
func demoPage(t *testing.T, client *http.Client, base string) demoView {
	t.Helper()
	resp, body := send(t, client, "GET", base+"/", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: status %d, Content-Type %q; body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	assertNoSessionHeaders(t, resp)
	page := string(body)
	var v demoView
	m := demoVisitsRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("page shows no visit count:\n%s", page)
	}
	v.visits, _ = strconv.Atoi(m[1])
	if m := demoUserRe.FindStringSubmatch(page); m != nil {
		v.user = m[1]
	} else if !strings.Contains(page, "not signed in") {
		t.Fatalf("page shows neither a user nor 'not signed in':\n%s", page)
	}
	if m := demoExpiryRe.FindStringSubmatch(page); m != nil {
		v.expiry = m[1]
	}
	return v
}

// demoPost submits one of the page's forms and expects the 303 back to /.
func demoPost(t *testing.T, client *http.Client, target string, form url.Values) *http.Response {
	t.Helper()
	resp, body := send(t, client, "POST", target, "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("POST %s: status %d, Location %q; want 303 to /; body %s", target, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	assertNoSessionHeaders(t, resp)
	return resp
}
