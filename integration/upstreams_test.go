package integration

// The reference upstreams in integration/upstreams/ (Python + PyJWT, Node +
// jsonwebtoken, PHP under php-fpm) behind a real Caddy with a Redis store:
// what a browser sees when an app in each language uses the session
// headers, and that each app really verifies the token it is given.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// upstreamLanguages are the reference apps, each started by its function,
// which returns the Caddyfile directives that reach it.
var upstreamLanguages = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"python", startPythonUpstream},
	{"node", startNodeUpstream},
	{"php", startPHPUpstream},
}

func TestUpstreams(t *testing.T) {
	for _, lang := range upstreamLanguages {
		t.Run(lang.name, func(t *testing.T) {
			route := lang.start(t)
			rds := testredis.Start(t)
			c := startCaddy(t, "", fmt.Sprintf(
				"session {\n\tsecret {env.SESSION_SECRET}\n\tstore redis {\n\t\taddress %s\n\t}\n}\n%s",
				rds.Addr(), route))

			t.Run("verifies the token", func(t *testing.T) {
				// A Caddy without the session handler passes a client's
				// X-Session header through: the app alone must refuse
				// forgeries.
				plain := startCaddy(t, "", route)
				testUpstreamVerifies(t, plain.URL)
			})
			t.Run("visit counter", func(t *testing.T) { testUpstreamCounter(t, c.URL) })
			t.Run("login cycles the key", func(t *testing.T) { testUpstreamLogin(t, c.URL) })
			t.Run("logout flushes", func(t *testing.T) { testUpstreamLogout(t, c.URL) })
			t.Run("set_expiry", func(t *testing.T) { testUpstreamExpiry(t, c.URL) })
			t.Run("exact values", func(t *testing.T) { testUpstreamExactValues(t, c.URL) })
		})
	}
}

func testUpstreamVerifies(t *testing.T, base string) {
	now := time.Now().Unix()
	claims := func(exp int64) map[string]any {
		return map[string]any{"data": map[string]any{"visits": 41}, "new": false, "iat": now - 10, "exp": exp}
	}
	valid := signTestToken(t, "HS256", testSecret, claims(now+300))
	parts := strings.Split(valid, ".")
	otherPayload := strings.Split(signTestToken(t, "HS256", testSecret, map[string]any{
		"data": map[string]any{"visits": 1000}, "new": false, "iat": now, "exp": now + 300}), ".")[1]

	forged := map[string]string{
		"no token":       "",
		"garbage":        "not-a-jwt",
		"wrong secret":   signTestToken(t, "HS256", "some-other-secret-0123456789abcdefgh", claims(now+300)),
		"expired":        signTestToken(t, "HS256", testSecret, claims(now-120)),
		"alg none":       signTestToken(t, "none", "", claims(now+300)),
		"alg HS512":      signTestToken(t, "HS512", testSecret, claims(now+300)),
		"payload swap":   parts[0] + "." + otherPayload + "." + parts[2],
		"no signature":   parts[0] + "." + parts[1] + ".",
		"two parts only": parts[0] + "." + parts[1],
	}
	names := make([]string, 0, len(forged))
	for name := range forged {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		resp, body := send(t, &http.Client{Timeout: 30 * time.Second}, "GET", base+"/", "", nil, "X-Session", forged[name])
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401; body %s", name, resp.StatusCode, body)
		}
	}

	// The genuine token is accepted and its data used.
	resp, body := send(t, &http.Client{Timeout: 30 * time.Second}, "GET", base+"/", "", nil, "X-Session", valid)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("valid token: status %d, want 200; body %s", resp.StatusCode, body)
	}
	var home homeAnswer
	if err := json.Unmarshal(body, &home); err != nil || home.Visits != 42 {
		t.Errorf("valid token with visits 41: answer %s (%v), want visits 42", body, err)
	}
}

func testUpstreamCounter(t *testing.T, base string) {
	client := newClient(t)
	resp, first := home(t, client, base)
	if first.Visits != 1 || !first.New || first.User != nil {
		t.Errorf("first visit: %+v, want visits 1, new, no user", first)
	}
	cookies := sessionSetCookies(t, resp)
	if len(cookies) != 1 {
		t.Fatalf("first visit: %d sessionid Set-Cookie headers, want 1: %q", len(cookies), resp.Header.Values("Set-Cookie"))
	}
	key := cookies[0].Value
	for want := 2; want <= 4; want++ {
		resp, got := home(t, client, base)
		if got.Visits != want || got.New {
			t.Errorf("visit %d: %+v, want visits %d of an existing session", want, got, want)
		}
		// A modified session may re-send its cookie, but always the same
		// one: the counter lives under one session key.
		cookies := sessionSetCookies(t, resp)
		if len(cookies) > 1 || len(cookies) == 1 && cookies[0].Value != key {
			t.Errorf("visit %d: Set-Cookie %q, want none or the same session key %q", want, resp.Header.Values("Set-Cookie"), key)
		}
	}
	if got := jarSessionCookies(t, client, base); len(got) != 1 || got[0] != key {
		t.Errorf("browser holds session cookies %q, want exactly [%q]", got, key)
	}
}

func testUpstreamLogin(t *testing.T, base string) {
	client := newClient(t)
	home(t, client, base)
	oldKey := onlySessionCookie(t, client, base)

	resp, body := send(t, client, "POST", base+"/login", "application/x-www-form-urlencoded",
		[]byte(url.Values{"user": {"alice"}}.Encode()))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: status %d Location %q, want 302 to /; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	cookies := sessionSetCookies(t, resp)
	if len(cookies) != 1 || cookies[0].Value == "" || cookies[0].Value == oldKey {
		t.Fatalf("login: session Set-Cookie %q, want one with a new key (old %q)", resp.Header.Values("Set-Cookie"), oldKey)
	}
	newKey := cookies[0].Value

	_, got := home(t, client, base)
	if got.Visits != 2 || got.User == nil || *got.User != "alice" || got.New {
		t.Errorf("after login: %+v, want visits 2 (kept across the new key) and user alice", got)
	}
	if k := onlySessionCookie(t, client, base); k != newKey {
		t.Errorf("after login the browser holds key %q, want %q", k, newKey)
	}

	// Someone who kept the old cookie value gets nothing from it.
	stale := newClient(t)
	resp, got = home(t, stale, base, "Cookie", "sessionid="+oldKey)
	if got.Visits != 1 || got.User != nil || !got.New {
		t.Errorf("old key after login: %+v, want a new, empty session", got)
	}
	for _, c := range sessionSetCookies(t, resp) {
		if c.Value == oldKey || c.Value == newKey {
			t.Errorf("old key after login: Set-Cookie reuses key %q", c.Value)
		}
	}

	// The logged-in browser is unaffected.
	if _, got := home(t, client, base); got.Visits != 3 || got.User == nil || *got.User != "alice" {
		t.Errorf("logged-in browser after the old key was tried: %+v, want visits 3, user alice", got)
	}
}

func testUpstreamLogout(t *testing.T, base string) {
	client := newClient(t)
	// The user may come as a query parameter too.
	resp, body := send(t, client, "POST", base+"/login?user=bob", "", nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: status %d, want 302; body %s", resp.StatusCode, body)
	}
	if _, got := home(t, client, base); got.User == nil || *got.User != "bob" || got.Visits != 1 {
		t.Fatalf("after login: %+v, want user bob, visits 1", got)
	}
	key := onlySessionCookie(t, client, base)

	resp, body = send(t, client, "POST", base+"/logout", "", nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		t.Fatalf("logout: status %d Location %q, want 302 to /; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	cookies := sessionSetCookies(t, resp)
	if len(cookies) != 1 || !cookieDeleted(cookies[0]) {
		t.Errorf("logout: session Set-Cookie %q, want one that deletes the cookie", resp.Header.Values("Set-Cookie"))
	}
	if got := jarSessionCookies(t, client, base); len(got) != 0 {
		t.Errorf("after logout the browser still holds session cookies %q", got)
	}
	if _, got := home(t, client, base); !got.New || got.User != nil || got.Visits != 1 {
		t.Errorf("after logout: %+v, want a new session without user", got)
	}
	if _, got := home(t, newClient(t), base, "Cookie", "sessionid="+key); got.User != nil || !got.New {
		t.Errorf("logged-out key replayed: %+v, want a new session without user", got)
	}
}

func testUpstreamExpiry(t *testing.T, base string) {
	t.Run("0 ends at browser close", func(t *testing.T) {
		client := newClient(t)
		home(t, client, base)
		resp, body := send(t, client, "POST", base+"/expiry?seconds=0", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("expiry 0: status %d; body %s", resp.StatusCode, body)
		}
		raw := rawSessionSetCookie(t, resp)
		if l := strings.ToLower(raw); strings.Contains(l, "max-age") || strings.Contains(l, "expires") {
			t.Errorf("expiry 0: Set-Cookie %q, want a browser-session cookie (no Max-Age, no Expires)", raw)
		}
		payload := tokenPayload(t, client, base)
		if payload["browser_close"] != true {
			t.Errorf("expiry 0: token claims browser_close=%v, want true", payload["browser_close"])
		}
		if _, got := home(t, client, base); got.Visits != 2 {
			t.Errorf("after expiry 0: %+v, want the same session (visits 2)", got)
		}
	})
	t.Run("N seconds", func(t *testing.T) {
		client := newClient(t)
		home(t, client, base)
		resp, body := send(t, client, "POST", base+"/expiry?seconds=4242", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("expiry 4242: status %d; body %s", resp.StatusCode, body)
		}
		raw := rawSessionSetCookie(t, resp)
		c, err := http.ParseSetCookie(raw)
		if err != nil || c.MaxAge != 4242 {
			t.Errorf("expiry 4242: Set-Cookie %q, want Max-Age=4242", raw)
		}
		if payload := tokenPayload(t, client, base); payload["browser_close"] != false {
			t.Errorf("expiry 4242: token claims browser_close=%v, want false", payload["browser_close"])
		}
	})
}

func testUpstreamExactValues(t *testing.T, base string) {
	const wantText = "héllo ☃ 日本"
	bodies := map[string]string{
		"raw UTF-8":  `{"big": 9007199254740993, "text": "héllo ☃ 日本"}`,
		"u escapes":  `{"big": 9007199254740993, "text": "h\u00e9llo \u2603 \u65e5\u672c"}`,
		"no spacing": `{"big":9007199254740993,"text":"h\u00E9llo \u2603 日本"}`,
	}
	for _, name := range []string{"raw UTF-8", "u escapes", "no spacing"} {
		t.Run(name, func(t *testing.T) {
			client := newClient(t)
			resp, body := send(t, client, "POST", base+"/set", "application/json", []byte(bodies[name]))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/set: status %d; body %s", resp.StatusCode, body)
			}
			if len(sessionSetCookies(t, resp)) != 1 {
				t.Errorf("/set: Set-Cookie %q, want the new session's cookie", resp.Header.Values("Set-Cookie"))
			}
			raw := rawToken(t, client, base)
			if !bytes.Contains(raw, []byte("9007199254740993")) {
				t.Errorf("token payload %s does not hold 9007199254740993 verbatim", raw)
			}
			var payload struct {
				Data map[string]any `json:"data"`
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&payload); err != nil {
				t.Fatalf("token payload %s: %v", raw, err)
			}
			if n, _ := payload.Data["big"].(json.Number); n.String() != "9007199254740993" {
				t.Errorf("data.big = %v, want 9007199254740993 exactly", payload.Data["big"])
			}
			if s, _ := payload.Data["text"].(string); s != wantText {
				t.Errorf("data.text = %q, want %q", payload.Data["text"], wantText)
			}
		})
	}
}

// --- starting the upstreams ---

// upstreamDir is the absolute path of integration/upstreams/<lang>.
func upstreamDir(t *testing.T, lang string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("upstreams", lang))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// missingTool fails the test under CI=true, where every tool must be
// installed, and skips it elsewhere.
func missingTool(t *testing.T, what, install string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required; install it with: %s", what, install)
	}
	t.Skipf("%s is missing (install it with: %s)", what, install)
}

// pythonWithJWT returns /usr/bin/python3 when it can import PyJWT.
func pythonWithJWT(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import jwt").Run(); err != nil {
		missingTool(t, "/usr/bin/python3 with PyJWT", "apt-get install -y python3 python3-jwt")
	}
	return py
}

func startPythonUpstream(t *testing.T) string {
	t.Helper()
	py := pythonWithJWT(t)
	port := testredis.FreePort(t)
	cmd := exec.Command(py, filepath.Join(upstreamDir(t, "python"), "app.py"), strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "SESSION_SECRET="+testSecret)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, "python upstream", cmd, addr)
	return "reverse_proxy " + addr
}

func startNodeUpstream(t *testing.T) string {
	t.Helper()
	dir := upstreamDir(t, "node")
	install := "apt-get install -y nodejs npm && npm ci --prefix integration/upstreams/node"
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", install)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jsonwebtoken", "package.json")); err != nil {
		missingTool(t, "integration/upstreams/node/node_modules", "npm ci --prefix integration/upstreams/node")
	}
	port := testredis.FreePort(t)
	cmd := exec.Command(node, filepath.Join(dir, "server.js"), strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SESSION_SECRET="+testSecret)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, "node upstream", cmd, addr)
	return "reverse_proxy " + addr
}

// phpFPM finds php-fpm or a versioned php-fpmX.Y in PATH or /usr/sbin.
func phpFPM() string {
	if p, err := exec.LookPath("php-fpm"); err == nil {
		return p
	}
	dirs := append(filepath.SplitList(os.Getenv("PATH")), "/usr/sbin")
	var found []string
	for _, dir := range dirs {
		matches, _ := filepath.Glob(filepath.Join(dir, "php-fpm*"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				found = append(found, m)
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	return found[len(found)-1]
}

func startPHPUpstream(t *testing.T) string {
	t.Helper()
	addr := startPHPFPM(t, 4, "")
	return fmt.Sprintf("root * %s\nphp_fastcgi %s", upstreamDir(t, "php"), addr)
}

// startPHPFPM runs php-fpm with one static pool of children workers, pool
// lines added to its settings, and returns the address it listens on.
func startPHPFPM(t *testing.T, children int, pool string) string {
	t.Helper()
	fpm := phpFPM()
	if fpm == "" {
		missingTool(t, "php-fpm", "apt-get install -y php-fpm php-cli")
	}
	dir := t.TempDir()
	port := testredis.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	owner := ""
	args := []string{"-F", "-y", filepath.Join(dir, "php-fpm.conf"), "-p", dir}
	if os.Geteuid() == 0 {
		// php-fpm refuses to run as root unless told to, and its pool
		// must then name the user explicitly.
		owner = "user = root\ngroup = root\n"
		args = append(args, "-R")
	}
	conf := fmt.Sprintf(`[global]
pid = %[1]s/php-fpm.pid
error_log = /proc/self/fd/2
daemonize = no

[upstream]
%[2]slisten = %[3]s
pm = static
pm.max_children = %[5]d
clear_env = yes
env[SESSION_SECRET] = "%[4]s"
catch_workers_output = yes
%[6]s
`, dir, owner, addr, testSecret, children, pool)
	if err := os.WriteFile(filepath.Join(dir, "php-fpm.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "php-fpm", exec.Command(fpm, args...), addr)
	return addr
}

// startProcess starts cmd in its own process group, waits until it listens
// on addr, and kills the group (workers included) when the test ends.
func startProcess(t *testing.T, name string, cmd *exec.Cmd, addr string) {
	t.Helper()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for testredis.WaitPort(addr, 100*time.Millisecond) != nil {
		select {
		case <-done:
			t.Fatalf("%s exited at start:\n%s", name, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s within 20s:\n%s", name, addr, logs)
		}
	}
}

// --- requests and cookies ---

// send makes one request with optional header name/value pairs and returns
// the response and its body. Whatever the upstream said in X-Session-*
// headers must never reach the client.
func send(t *testing.T, client *http.Client, method, target, contentType string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return resp, data
}

// homeAnswer is what GET / answers in every reference upstream.
type homeAnswer struct {
	Visits int     `json:"visits"`
	User   *string `json:"user"`
	New    bool    `json:"new"`
}

func home(t *testing.T, client *http.Client, base string, header ...string) (*http.Response, homeAnswer) {
	t.Helper()
	resp, body := send(t, client, "GET", base+"/", "", nil, header...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: status %d; body %s", resp.StatusCode, body)
	}
	assertNoSessionHeaders(t, resp)
	var got homeAnswer
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("GET /: %v in %s", err, body)
	}
	return resp, got
}

// assertNoSessionHeaders checks that no X-Session-* response header got
// through to the client.
func assertNoSessionHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for name := range resp.Header {
		n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
		if n == "x-session" || strings.HasPrefix(n, "x-session-") {
			t.Errorf("response to %s %s carries %s: %q", resp.Request.Method, resp.Request.URL.Path, name, resp.Header.Values(name))
		}
	}
}

// rawToken returns GET /token's body: the JSON payload of the token the
// upstream verified.
func rawToken(t *testing.T, client *http.Client, base string) []byte {
	t.Helper()
	resp, body := send(t, client, "GET", base+"/token", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /token: status %d, Content-Type %q; body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return body
}

func tokenPayload(t *testing.T, client *http.Client, base string) map[string]any {
	t.Helper()
	raw := rawToken(t, client, base)
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatalf("token payload %s: %v", raw, err)
	}
	return payload
}

// sessionSetCookies parses the response's Set-Cookie headers for sessionid.
func sessionSetCookies(t *testing.T, resp *http.Response) []*http.Cookie {
	t.Helper()
	assertNoSessionHeaders(t, resp)
	var out []*http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" {
			out = append(out, c)
		}
	}
	return out
}

// rawSessionSetCookie is the one Set-Cookie header line for sessionid.
func rawSessionSetCookie(t *testing.T, resp *http.Response) string {
	t.Helper()
	var lines []string
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(strings.TrimSpace(line), "sessionid=") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one sessionid Set-Cookie, got %q", resp.Header.Values("Set-Cookie"))
	}
	return lines[0]
}

// cookieDeleted reports whether a Set-Cookie tells the browser to drop it.
func cookieDeleted(c *http.Cookie) bool {
	return c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()))
}

// jarSessionCookies lists the sessionid values the browser would send.
func jarSessionCookies(t *testing.T, client *http.Client, base string) []string {
	t.Helper()
	u, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range client.Jar.Cookies(u) {
		if c.Name == "sessionid" {
			out = append(out, c.Value)
		}
	}
	return out
}

func onlySessionCookie(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	got := jarSessionCookies(t, client, base)
	if len(got) != 1 {
		t.Fatalf("browser holds session cookies %q, want exactly one", got)
	}
	return got[0]
}

// signTestToken makes a compact JWT by hand, so that a test can also make
// the malformed ones a library would refuse to make.
func signTestToken(t *testing.T, alg, secret string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	switch alg {
	case "none":
		return signing + "."
	case "HS256":
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(signing))
		return signing + "." + enc.EncodeToString(m.Sum(nil))
	case "HS512": // correctly signed with the right key, but not the pinned algorithm
		m := hmac.New(sha512.New, []byte(secret))
		m.Write([]byte(signing))
		return signing + "." + enc.EncodeToString(m.Sum(nil))
	}
	t.Fatalf("signTestToken: unsupported alg %q", alg)
	return ""
}
