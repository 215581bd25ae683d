package integration

// The demo in a real browser: headless Debian Chromium (/usr/bin/chromium),
// driven by browser/demo.mjs (playwright-core), uses the demo the way a
// person does, and this test checks what the browser saw. Where TestDemo
// reads Set-Cookie headers, this checks what the browser made of them: a
// cookie store entry with no expiry after a plain login, one that lasts 30
// days after "remember me", HttpOnly cookies that the page's JavaScript
// cannot read, and a cookie the browser stops sending after logout.
//
// Needs /usr/bin/chromium, node and browser/node_modules (scripts/install-
// deps.sh installs all three). It skips without them, and fails under CI=true.
// BROWSER_SCREENSHOT_DIR, when set, receives the PNG screenshots.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	chromiumPath       = "/usr/bin/chromium"
	rememberMeSeconds  = 30 * 24 * 60 * 60
	anonymousCookieAge = 14 * 24 * 60 * 60 // Django's SESSION_COOKIE_AGE, the module's default
)

// browserReport is demo.mjs's JSON output.
type browserReport struct {
	OK          bool          `json:"ok"`
	Phase       string        `json:"phase"`
	Browser     string        `json:"browser"`
	Steps       []browserStep `json:"steps"`
	Screenshots []string      `json:"screenshots"`
	Error       string        `json:"error"`
}

type browserStep struct {
	Step           string           `json:"step"`
	At             float64          `json:"at"` // Unix seconds, when the step was observed
	Location       string           `json:"location"`
	Visits         *int             `json:"visits"`
	User           *string          `json:"user"`
	NotSignedIn    bool             `json:"notSignedIn"`
	Expiry         *string          `json:"expiry"`
	Cookie         *browserCookie   `json:"cookie"` // sessionid in the browser's cookie store
	DocumentCookie string           `json:"documentCookie"`
	Requests       []browserRequest `json:"requests"`
}

type browserCookie struct {
	Value    string  `json:"value"`
	Domain   string  `json:"domain"`
	Path     string  `json:"path"`
	Expires  float64 `json:"expires"` // Unix seconds; -1 for a browser-session cookie
	HTTPOnly bool    `json:"httpOnly"`
	Secure   bool    `json:"secure"`
	SameSite string  `json:"sameSite"`
}

type browserRequest struct {
	Method        string   `json:"method"`
	Path          string   `json:"path"`
	Status        int      `json:"status"`
	SentSessionid *string  `json:"sentSessionid"`
	SetCookie     []string `json:"setCookie"`
}

func TestBrowserDemo(t *testing.T) {
	node, script := browserTools(t)
	appPort := startDemoApp(t)
	c := startDemoCaddy(t, appPort)
	dir := t.TempDir()
	state := filepath.Join(dir, "storage-state.json")

	walk := runBrowser(t, node, script, c.URL, dir, "--phase", "walkthrough", "--state", state)
	c.Start() // restart Caddy: the file store keeps the sessions
	back := runBrowser(t, node, script, c.URL, dir, "--phase", "return", "--state", state)
	t.Logf("browser: Chromium %s", walk.Browser)

	steps := walk.Steps
	wantSteps := []string{"first visit", "reload 1", "reload 2", "logged in, remember me unticked", "logged out", "logged in, remember me ticked"}
	if len(steps) != len(wantSteps) {
		t.Fatalf("walkthrough reported %d steps, want %d (%q)", len(steps), len(wantSteps), wantSteps)
	}
	for i, s := range steps {
		if s.Step != wantSteps[i] {
			t.Fatalf("walkthrough step %d is %q, want %q", i, s.Step, wantSteps[i])
		}
	}
	if len(back.Steps) != 1 {
		t.Fatalf("return reported %d steps, want 1", len(back.Steps))
	}
	for _, s := range append(steps, back.Steps...) {
		checkBrowserCookie(t, s)
	}

	// The counter goes up on every reload; nobody is signed in.
	for i, s := range steps[:3] {
		checkPage(t, s, i+1, "")
		if s.Cookie != nil && !lifetimeNear(s.Cookie.Expires-s.At, anonymousCookieAge) {
			t.Errorf("%s: cookie expires in %.0fs, want about %d (two weeks)", s.Step, s.Cookie.Expires-s.At, anonymousCookieAge)
		}
	}
	anon := steps[2].Cookie

	// Log in with "remember me" unticked: a new key, in a cookie that ends
	// with the browser session.
	in := steps[3]
	checkPage(t, in, 4, "alice")
	if in.Cookie != nil {
		if in.Cookie.Expires != -1 {
			t.Errorf("%s: cookie expires at %.0f (in %.0fs), want -1 (a browser-session cookie)", in.Step, in.Cookie.Expires, in.Cookie.Expires-in.At)
		}
		if anon != nil && in.Cookie.Value == anon.Value {
			t.Errorf("%s: the browser still holds the session key %q from before login, want a new one", in.Step, anon.Value)
		}
	}
	if in.Expiry == nil || !strings.Contains(*in.Expiry, "close your browser") {
		t.Errorf("%s: page says the session expires %v, want when the browser closes", in.Step, strOrNil(in.Expiry))
	}

	// Log out: the name goes, the browser deletes the cookie (the request
	// that follows carries none) and the counter starts again.
	out := steps[4]
	checkPage(t, out, 1, "")
	if len(out.Requests) != 2 || out.Requests[0].Method != "POST" || out.Requests[0].Path != "/logout" || out.Requests[1].Method != "GET" {
		t.Errorf("%s: requests %+v, want POST /logout then GET /", out.Step, out.Requests)
	} else {
		logout, next := out.Requests[0], out.Requests[1]
		if logout.Status != 303 || len(logout.SetCookie) != 1 || !deletesSessionCookie(logout.SetCookie[0]) {
			t.Errorf("%s: POST /logout got status %d, Set-Cookie %q; want 303 and one deleting sessionid", out.Step, logout.Status, logout.SetCookie)
		}
		if next.SentSessionid != nil {
			t.Errorf("%s: the GET / after logout still sent sessionid=%s; want no session cookie", out.Step, *next.SentSessionid)
		}
	}
	if out.Cookie != nil && in.Cookie != nil && out.Cookie.Value == in.Cookie.Value {
		t.Errorf("%s: the browser still holds the logged-in session key %q", out.Step, in.Cookie.Value)
	}

	// Log in with "remember me" ticked: a cookie for 30 days.
	kept := steps[5]
	checkPage(t, kept, 2, "bob")
	if kept.Cookie != nil && !lifetimeNear(kept.Cookie.Expires-kept.At, rememberMeSeconds) {
		t.Errorf("%s: cookie expires in %.0fs (at %.0f), want about %d (30 days)", kept.Step, kept.Cookie.Expires-kept.At, kept.Cookie.Expires, rememberMeSeconds)
	}
	if kept.Expiry == nil || strings.Contains(*kept.Expiry, "close your browser") {
		t.Errorf("%s: page says the session expires %v, want a date", kept.Step, strOrNil(kept.Expiry))
	}

	// A new browser with the saved cookies, after Caddy restarted: still bob,
	// and the counter carries on.
	ret := back.Steps[0]
	checkPage(t, ret, 3, "bob")
	if ret.Cookie != nil && kept.Cookie != nil && ret.Cookie.Value != kept.Cookie.Value {
		t.Errorf("%s: session key %q, want %q from before the restart", ret.Step, ret.Cookie.Value, kept.Cookie.Value)
	}
}

// checkPage checks what a step's page showed: the visit count and who is
// signed in ("" for nobody).
func checkPage(t *testing.T, s browserStep, visits int, user string) {
	t.Helper()
	if s.Visits == nil || *s.Visits != visits {
		t.Errorf("%s: page shows visits %v, want %d", s.Step, intOrNil(s.Visits), visits)
	}
	switch {
	case user == "" && (s.User != nil || !s.NotSignedIn):
		t.Errorf("%s: page shows user %v (not-signed-in text: %v), want nobody signed in", s.Step, strOrNil(s.User), s.NotSignedIn)
	case user != "" && (s.User == nil || *s.User != user):
		t.Errorf("%s: page shows user %v, want %q", s.Step, strOrNil(s.User), user)
	}
}

// checkBrowserCookie checks the session cookie every step should leave in
// the browser: HttpOnly (and so invisible to the page's JavaScript), SameSite
// Lax, not Secure over plain HTTP, for the whole site.
func checkBrowserCookie(t *testing.T, s browserStep) {
	t.Helper()
	ck := s.Cookie
	if ck == nil {
		t.Errorf("%s: the browser holds no sessionid cookie", s.Step)
		return
	}
	if !ck.HTTPOnly || ck.SameSite != "Lax" || ck.Secure || ck.Path != "/" || ck.Domain != "localhost" {
		t.Errorf("%s: cookie HttpOnly=%v SameSite=%q Secure=%v path %q domain %q; want HttpOnly, SameSite Lax, not Secure, path /, domain localhost",
			s.Step, ck.HTTPOnly, ck.SameSite, ck.Secure, ck.Path, ck.Domain)
	}
	if strings.Contains(s.DocumentCookie, "sessionid") {
		t.Errorf("%s: document.cookie is %q: the page's JavaScript can read the session cookie", s.Step, s.DocumentCookie)
	}
	if s.DocumentCookie != "js_probe=1" {
		t.Errorf("%s: document.cookie is %q, want just the script's own js_probe=1", s.Step, s.DocumentCookie)
	}
}

// deletesSessionCookie tells whether a Set-Cookie line deletes sessionid.
func deletesSessionCookie(raw string) bool {
	ck, err := http.ParseSetCookie(raw)
	return err == nil && ck.Name == "sessionid" && cookieDeleted(ck)
}

// lifetimeNear tells whether a cookie lifetime in seconds is want, give or
// take the time a step takes.
func lifetimeNear(got float64, want int) bool { return math.Abs(got-float64(want)) < 120 }

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func intOrNil(n *int) any {
	if n == nil {
		return nil
	}
	return *n
}

// browserTools returns node and the path of browser/demo.mjs, skipping (or,
// under CI=true, failing) when Chromium, node or playwright-core is missing.
func browserTools(t *testing.T) (node, script string) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		missingTool(t, chromiumPath, "apt-get install -y chromium")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", "apt-get install -y nodejs npm")
	}
	dir, err := filepath.Abs("browser")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		missingTool(t, "playwright-core in integration/browser/node_modules", "(cd integration/browser && npm ci) or scripts/install-deps.sh")
	}
	return node, filepath.Join(dir, "demo.mjs")
}

// runBrowser runs demo.mjs against url with args, keeps its screenshots in
// dir (copied to $BROWSER_SCREENSHOT_DIR when set) and returns its report.
func runBrowser(t *testing.T, node, script, url, dir string, args ...string) browserReport {
	t.Helper()
	shots := filepath.Join(dir, "screenshots")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{shots, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script, url, "--screenshots", shots}, args...)...)
	cmd.Dir = filepath.Dir(script)
	// Chromium's profile (a fresh one per run) and other leftovers go under
	// the test's temp dir.
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // node and its Chromium
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("node demo.mjs %s: %v, %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), browserExitStatus(runErr))

	var r browserReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("demo.mjs %s: %v; output is not its JSON report (%v)\nstdout:\n%s\nstderr:\n%s", args, browserExitStatus(runErr), err, stdout.String(), stderr.String())
	}
	saveScreenshots(t, r.Screenshots)
	if runErr != nil || !r.OK {
		t.Fatalf("demo.mjs %s: %s, ok=%v: the browser could not get through the demo:\n%s\nstderr:\n%s", args, browserExitStatus(runErr), r.OK, r.Error, stderr.String())
	}
	return r
}

// saveScreenshots checks that each screenshot is a PNG and copies it to
// $BROWSER_SCREENSHOT_DIR when that is set.
func saveScreenshots(t *testing.T, paths []string) {
	t.Helper()
	keep := os.Getenv("BROWSER_SCREENSHOT_DIR")
	if keep != "" {
		if err := os.MkdirAll(keep, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("screenshot: %v", err)
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width < 100 || cfg.Height < 100 {
			t.Errorf("screenshot %s: not a sensible PNG (%dx%d, %v)", p, cfg.Width, cfg.Height, err)
		}
		if keep == "" {
			continue
		}
		dst := filepath.Join(keep, filepath.Base(p))
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Errorf("copying screenshot: %v", err)
			continue
		}
		t.Logf("screenshot: %s", dst)
	}
}

func browserExitStatus(err error) string {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &exit):
		return exit.String()
	default:
		return err.Error()
	}
}
