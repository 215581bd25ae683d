package integration

// The drop-in adapters in adapters/ (PHP, Node/Express, Python/Flask), each
// under one small example app written for its language's own session API
// (adapters/<lang>/example). Every app runs in two setups: on its native
// session library (PHP files sessions, express-session's MemoryStore,
// Flask's cookie session) behind a Caddy without the session handler, and
// with the adapter line behind a Caddy with the `session` handler. One
// flow, the same for both setups, checks what a browser sees.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// rememberSeconds is the example apps' "remember me" lifetime: 30 days.
const rememberSeconds = 30 * 86400

type adapterLang struct {
	name string
	// start runs the example app, with the adapter line on or off, and
	// returns the Caddyfile directives that reach it.
	start func(t *testing.T, adapter bool) string
	// nativeCookie is the cookie the native session library sets.
	nativeCookie string
	// keepsOnLogin: the app's login keeps the session's data
	// (session_regenerate_id); express-session's regenerate() and Flask's
	// session.clear() start an empty session.
	keepsOnLogin bool
	// revocable: the native library can end a session on the server.
	// Flask's cookie session cannot: a copied cookie stays valid.
	revocable bool
}

var adapterLangs = []adapterLang{
	{name: "php", start: startPHPExample, nativeCookie: "PHPSESSID", keepsOnLogin: true, revocable: true},
	{name: "node", start: startNodeExample, nativeCookie: "connect.sid", revocable: true},
	{name: "flask", start: startFlaskExample, nativeCookie: "session"},
}

// adapterSessionConfig is the session handler the adapters run behind:
// browser-session cookies by default, as the three native libraries have.
func adapterSessionConfig(rds *testredis.Server) string {
	return fmt.Sprintf("session {\n\tsecret {env.SESSION_SECRET}\n\texpire_at_browser_close\n\tstore redis {\n\t\taddress %s\n\t}\n}", rds.Addr())
}

// TestAdapters runs one flow against each example app in both setups; the
// proxied setup must lose nothing of 32 concurrent writes, and the adapter
// must refuse tokens that are forged, expired or missing.
func TestAdapters(t *testing.T) {
	for _, lang := range adapterLangs {
		t.Run(lang.name, func(t *testing.T) {
			t.Run("native", func(t *testing.T) {
				c := startCaddy(t, "", lang.start(t, false))
				testAdapterFlow(t, c.URL, lang, false)
			})
			t.Run("adapter", func(t *testing.T) {
				route := lang.start(t, true)
				c := startCaddy(t, "", adapterSessionConfig(testredis.Start(t))+"\n"+route)
				testAdapterFlow(t, c.URL, lang, true)

				t.Run("refuses forged and expired tokens", func(t *testing.T) {
					// A Caddy without the session handler lets a client's
					// X-Session through: the adapter alone must refuse it.
					plain := startCaddy(t, "", route)
					testUpstreamVerifies(t, plain.URL)
					if strings.HasPrefix(route, "reverse_proxy ") {
						// And straight to the app, past every proxy.
						testUpstreamVerifies(t, "http://"+strings.TrimPrefix(route, "reverse_proxy "))
					}
				})
			})
		})
	}
}

// adapterSetup is what the flow knows of the setup it runs against.
type adapterSetup struct {
	base    string
	cookie  string // the session cookie's name
	lang    adapterLang
	proxied bool
}

func testAdapterFlow(t *testing.T, base string, lang adapterLang, proxied bool) {
	s := adapterSetup{base: base, cookie: lang.nativeCookie, lang: lang, proxied: proxied}
	if proxied {
		s.cookie = "sessionid"
	}
	t.Run("counter", s.testCounter)
	t.Run("login and logout", s.testLogin)
	t.Run("remember me", s.testRemember)
	t.Run("32 concurrent writers", s.testConcurrentWriters)
	if lang.name == "php" {
		t.Run("output before the session is saved", s.testLateOutput)
	}
}

// adapterVisit is GET /: the counter, and who is logged in.
type adapterVisit struct {
	Visits int     `json:"visits"`
	User   *string `json:"user"`
}

func (s adapterSetup) home(t *testing.T, client *http.Client) adapterVisit {
	t.Helper()
	resp, body := s.send(t, client, "GET", "/", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: status %d; body %s", resp.StatusCode, body)
	}
	var v adapterVisit
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET /: %v in %s", err, body)
	}
	return v
}

// send is the harness's send, plus: every cookie a response sets is the
// setup's session cookie (PHP sends no PHPSESSID behind the proxy).
func (s adapterSetup) send(t *testing.T, client *http.Client, method, path, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, data := send(t, client, method, s.base+path, contentType, body)
	assertNoSessionHeaders(t, resp)
	for _, c := range resp.Cookies() {
		if c.Name != s.cookie {
			t.Errorf("%s %s set cookie %q, want only %q: %q", method, path, c.Name, s.cookie, resp.Header.Values("Set-Cookie"))
		}
	}
	return resp, data
}

func (s adapterSetup) login(t *testing.T, client *http.Client, user string, remember bool) *http.Response {
	t.Helper()
	form := url.Values{"user": {user}}
	if remember {
		form.Set("remember", "1")
	}
	resp, body := s.send(t, client, "POST", "/login", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: status %d Location %q, want 302 to /; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return resp
}

// jarCookie is the session cookie's value in the client's jar, "" if none.
func (s adapterSetup) jarCookie(t *testing.T, client *http.Client) string {
	t.Helper()
	u, _ := url.Parse(s.base + "/")
	for _, c := range client.Jar.Cookies(u) {
		if c.Name == s.cookie {
			return c.Value
		}
	}
	return ""
}

// withCookie is a new browser holding only the given session cookie.
func (s adapterSetup) withCookie(t *testing.T, value string) *http.Client {
	t.Helper()
	client := newClient(t)
	u, _ := url.Parse(s.base + "/")
	client.Jar.SetCookies(u, []*http.Cookie{{Name: s.cookie, Value: value, Path: "/"}})
	return client
}

// sessionCookieLifetime is the lifetime the response gives the session
// cookie: 0 for a browser-session cookie. Max-Age wins over Expires; the
// native libraries send Expires only (PHP both).
func (s adapterSetup) sessionCookieLifetime(t *testing.T, resp *http.Response) time.Duration {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name != s.cookie {
			continue
		}
		switch {
		case c.MaxAge > 0:
			return time.Duration(c.MaxAge) * time.Second
		case c.MaxAge < 0:
			return -1
		case !c.Expires.IsZero():
			return time.Until(c.Expires)
		}
		return 0
	}
	t.Fatalf("no %s Set-Cookie in %q", s.cookie, resp.Header.Values("Set-Cookie"))
	return 0
}

func (s adapterSetup) testCounter(t *testing.T) {
	client := newClient(t)
	for want := 1; want <= 3; want++ {
		if got := s.home(t, client); got.Visits != want || got.User != nil {
			t.Errorf("visit %d: %+v, want visits %d and no user", want, got, want)
		}
	}
	if s.jarCookie(t, client) == "" {
		t.Errorf("the browser holds no %s cookie after three visits", s.cookie)
	}
}

func (s adapterSetup) testLogin(t *testing.T) {
	client := newClient(t)
	s.home(t, client)
	s.home(t, client)
	before := s.jarCookie(t, client)

	resp := s.login(t, client, "alice", false)
	if life := s.sessionCookieLifetime(t, resp); life != 0 {
		t.Errorf("login without remember me: the cookie lives %v, want a browser-session cookie", life)
	}
	loggedIn := s.jarCookie(t, client)
	if loggedIn == "" || loggedIn == before {
		t.Errorf("login: session cookie %q, want a new one (was %q)", loggedIn, before)
	}
	wantVisits := 1
	if s.lang.keepsOnLogin {
		wantVisits = 3
	}
	if got := s.home(t, client); got.User == nil || *got.User != "alice" || got.Visits != wantVisits {
		t.Errorf("after login: %+v, want user alice and visits %d", got, wantVisits)
	}
	// The cookie from before the login (a fixed session) logs nobody in.
	if got := s.home(t, s.withCookie(t, before)); got.User != nil {
		t.Errorf("the pre-login cookie after login: %+v, want no user", got)
	}

	resp, body := s.send(t, client, "POST", "/logout", "", nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		t.Fatalf("logout: status %d Location %q, want 302 to /; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if got := s.home(t, client); got.User != nil || got.Visits != 1 {
		t.Errorf("after logout: %+v, want a new session: no user, visits 1", got)
	}
	if s.lang.revocable || s.proxied {
		if got := s.home(t, s.withCookie(t, loggedIn)); got.User != nil {
			t.Errorf("the logged-in cookie replayed after logout: %+v, want no user", got)
		}
	}
}

func (s adapterSetup) testRemember(t *testing.T) {
	client := newClient(t)
	resp := s.login(t, client, "bob", true)
	life := s.sessionCookieLifetime(t, resp)
	if want := rememberSeconds * time.Second; life < want-time.Hour || life > want+time.Hour {
		t.Errorf("login with remember me: the cookie lives %v, want %v", life, want)
	}
	if got := s.home(t, client); got.User == nil || *got.User != "bob" {
		t.Errorf("after a remembered login: %+v, want user bob", got)
	}
}

// testConcurrentWriters: a session holds k00..k31 = 0; 32 requests at
// once each set their own key through the native API. Behind the proxy
// every write survives (the adapters send only what changed); the native
// libraries' loss is logged.
func (s adapterSetup) testConcurrentWriters(t *testing.T) {
	const n = 32
	client := newClient(t)
	seed := map[string]int{}
	for i := range n {
		seed[fmt.Sprintf("k%02d", i)] = 0
	}
	body, _ := json.Marshal(seed)
	if resp, b := s.send(t, client, "POST", "/set", "application/json", body); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /set: status %d; body %s", resp.StatusCode, b)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/put?k=k%02d&v=%d", s.base, i, i+1), nil)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Errorf("writer %d: status %d, want 200", i, st)
		}
	}
	got := s.dump(t, client)
	lost := 0
	for i := range n {
		if v, _ := got[fmt.Sprintf("k%02d", i)].(float64); v != float64(i+1) {
			lost++
		}
	}
	setup := "native " + s.lang.name
	if s.proxied {
		setup = s.lang.name + " adapter behind the proxy"
	}
	t.Logf("%s: %d of %d concurrent writes lost", setup, lost, n)
	if s.proxied && lost != 0 {
		t.Errorf("%d of %d concurrent writes lost behind the proxy; session now %v", lost, n, got)
	}
}

// testLateOutput: 64 KiB of output, then a session change, and the
// change is kept (the adapter holds the output until the session is saved).
func (s adapterSetup) testLateOutput(t *testing.T) {
	client := newClient(t)
	s.home(t, client)
	resp, body := s.send(t, client, "GET", "/late", "", nil)
	if resp.StatusCode != http.StatusOK || len(body) < 60*1024 {
		t.Fatalf("GET /late: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := s.dump(t, client); got["late"] != "written after output" || got["visits"] != 1.0 {
		t.Errorf("after /late the session holds %v, want late and visits 1", got)
	}
}

func (s adapterSetup) dump(t *testing.T, client *http.Client) map[string]any {
	t.Helper()
	resp, body := s.send(t, client, "GET", "/dump", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /dump: status %d; body %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("GET /dump: %v in %s", err, body)
	}
	return got
}

// TestAdapterPHPUnstorableValue: a value no convention carries (a closure)
// fails the request with 500 and a message naming the key; nothing of the
// request's changes is kept.
func TestAdapterPHPUnstorableValue(t *testing.T) {
	route, errorLog := startPHPExampleLogged(t, true)
	c := startCaddy(t, "", adapterSessionConfig(testredis.Start(t))+"\n"+route)
	s := adapterSetup{base: c.URL, cookie: "sessionid", lang: adapterLangs[0], proxied: true}
	client := newClient(t)
	s.home(t, client)
	resp, body := s.send(t, client, "GET", "/bad", "", nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("GET /bad: status %d, want 500; body %s", resp.StatusCode, body)
	}
	if got := s.dump(t, client); !reflect.DeepEqual(got, map[string]any{"visits": 1.0}) {
		t.Errorf("after /bad the session holds %v, want only visits 1", got)
	}
	logged, _ := os.ReadFile(errorLog)
	if !strings.Contains(string(logged), `$_SESSION['when'] cannot be stored`) {
		t.Errorf("PHP's error log does not name the value that cannot be stored:\n%s", logged)
	}
}

// TestAdapterSharedSession: one Caddy with `codec django` and Django's file
// layout in front of the three adapters; what the PHP app writes, the
// Express and Flask apps and Django read, and the other way round.
func TestAdapterSharedSession(t *testing.T) {
	djRequireDjango(t)
	dir := filepath.Join(t.TempDir(), "sessions")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	dj := djTool{t: t, env: []string{"DJ_SECRET_KEY=" + djSecretKey, "DJ_ENGINE=file",
		"DJ_DATABASE=" + djAuthDB(t), "DJ_FILE_PATH=" + dir}}
	php := startPHPExample(t, true)
	node := startNodeExample(t, true)
	flask := startFlaskExample(t, true)
	c := startCaddy(t, "", fmt.Sprintf(`session {
	secret {env.SESSION_SECRET}
	codec django
	django_secret_key {env.DJANGO_SECRET_KEY}
	store file %s
}
handle_path /node/* {
	%s
}
handle_path /flask/* {
	%s
}
handle {
%s
}`, dir, node, flask, indent(php)), "DJANGO_SECRET_KEY="+djSecretKey)
	client := newClient(t)
	read := func(prefix string) map[string]any {
		t.Helper()
		s := adapterSetup{base: c.URL + prefix, cookie: "sessionid"}
		return s.dump(t, client)
	}

	written := `{"user":"zoë","cart":[1,2,{"sku":"a-1","qty":3}],"price":9.5,"whole":1.0,"ok":true,"none":null}`
	djPost(t, client, c.URL+"/set", written, http.StatusOK)
	var want map[string]any
	if err := json.Unmarshal([]byte(written), &want); err != nil {
		t.Fatal(err)
	}
	key := onlySessionCookie(t, client, c.URL)
	for _, prefix := range []string{"", "/node", "/flask"} {
		if got := read(prefix); !reflect.DeepEqual(got, want) {
			t.Errorf("the PHP adapter's write, read through %q:\n got %s\nwant %s", "/"+strings.TrimPrefix(prefix, "/"), djJSON(got), djJSON(want))
		}
	}
	djWantData(t, "the PHP adapter's write, loaded by Django", dj.load(key)[0].Data, want)

	// The other adapters write; PHP and Django read.
	send(t, client, "GET", c.URL+"/node/put?k=from_node&v=7", "", nil)
	send(t, client, "GET", c.URL+"/flask/put?k=from_flask&v=8", "", nil)
	set := dj.set(key, `{"from_django":9}`)
	if set.Error != "" {
		t.Fatalf("djtool set: %s", set.Error)
	}
	want = djWith(want, map[string]any{"from_node": 7.0, "from_flask": 8.0, "from_django": 9.0})
	if got := read(""); !reflect.DeepEqual(got, want) {
		t.Errorf("the PHP adapter reads after Node, Flask and Django wrote:\n got %s\nwant %s", djJSON(got), djJSON(want))
	}
	if k := onlySessionCookie(t, client, c.URL); k != key {
		t.Errorf("the session moved from key %q to %q", key, k)
	}
}

// --- the example apps ---

func adaptersDir(t *testing.T, lang string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "adapters", lang))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func startPHPExample(t *testing.T, adapter bool) string {
	t.Helper()
	route, _ := startPHPExampleLogged(t, adapter)
	return route
}

// startPHPExampleLogged runs adapters/php/example under php-fpm, with the
// adapter prepended or on PHP's files sessions, and returns its route and
// the path of PHP's error log.
func startPHPExampleLogged(t *testing.T, adapter bool) (string, string) {
	t.Helper()
	dir := t.TempDir()
	errorLog := filepath.Join(dir, "php-errors.log")
	pool := "php_admin_value[error_log] = " + errorLog + "\nphp_admin_flag[log_errors] = on\n"
	if adapter {
		// The adapter line.
		pool += "php_admin_value[auto_prepend_file] = " + filepath.Join(adaptersDir(t, "php"), "caddy-session.php") + "\n"
	} else {
		sessions := filepath.Join(dir, "sessions")
		if err := os.Mkdir(sessions, 0o700); err != nil {
			t.Fatal(err)
		}
		pool += "php_admin_value[session.save_path] = " + sessions + "\n"
	}
	addr := startPHPFPM(t, 8, pool)
	return fmt.Sprintf("root * %s\nphp_fastcgi %s", filepath.Join(adaptersDir(t, "php"), "example"), addr), errorLog
}

func startNodeExample(t *testing.T, adapter bool) string {
	t.Helper()
	dir := adaptersDir(t, "node")
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", "apt-get install -y nodejs npm")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "express", "package.json")); err != nil {
		missingTool(t, "adapters/node/node_modules", "npm ci --prefix adapters/node")
	}
	port := testredis.FreePort(t)
	cmd := exec.Command(node, filepath.Join(dir, "example", "app.js"), strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "NODE_ENV=production")
	if adapter {
		cmd.Env = append(cmd.Env, "CADDY_SESSION=1", "SESSION_SECRET="+testSecret)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, "node example", cmd, addr)
	return "reverse_proxy " + addr
}

func startFlaskExample(t *testing.T, adapter bool) string {
	t.Helper()
	py := pythonWithJWT(t)
	if err := exec.Command(py, "-c", "import flask").Run(); err != nil {
		missingTool(t, py+" with Flask", "apt-get install -y python3-flask")
	}
	port := testredis.FreePort(t)
	cmd := exec.Command(py, filepath.Join(adaptersDir(t, "python"), "example", "app.py"), strconv.Itoa(port))
	cmd.Env = os.Environ()
	if adapter {
		cmd.Env = append(cmd.Env, "CADDY_SESSION=1", "SESSION_SECRET="+testSecret)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, "flask example", cmd, addr)
	return "reverse_proxy " + addr
}

// TestAdapterWSGI: a plain WSGI app on CaddySessionMiddleware, using
// Django's API (cycle_key, flush, set_expiry) instead of headers, passes
// the reference upstreams' flows (upstreams_test.go).
func TestAdapterWSGI(t *testing.T) {
	py := pythonWithJWT(t)
	port := testredis.FreePort(t)
	cmd := exec.Command(py, filepath.Join(adaptersDir(t, "python"), "example", "wsgi_app.py"), strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "SESSION_SECRET="+testSecret)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, "wsgi example", cmd, addr)
	route := "reverse_proxy " + addr
	c := startCaddy(t, "", fmt.Sprintf(
		"session {\n\tsecret {env.SESSION_SECRET}\n\tstore redis {\n\t\taddress %s\n\t}\n}\n%s",
		testredis.Start(t).Addr(), route))

	t.Run("verifies the token", func(t *testing.T) {
		testUpstreamVerifies(t, startCaddy(t, "", route).URL)
		testUpstreamVerifies(t, "http://"+addr)
	})
	t.Run("visit counter", func(t *testing.T) { testUpstreamCounter(t, c.URL) })
	t.Run("login cycles the key", func(t *testing.T) { testUpstreamLogin(t, c.URL) })
	t.Run("logout flushes", func(t *testing.T) { testUpstreamLogout(t, c.URL) })
	t.Run("set_expiry", func(t *testing.T) { testUpstreamExpiry(t, c.URL) })
	t.Run("exact values", func(t *testing.T) { testUpstreamExactValues(t, c.URL) })
}
