package integration

// End-to-end tests of the product contract ("Request", "Response",
// "Session semantics" and "Failures"), run through the real ./caddy against
// every store. This file holds the fixture: the stores, a recording Go
// upstream whose answers each test scripts per request, and helpers. The
// cases live in contract_{request,response,semantics,failures}_test.go.
//
// Every identifier here starts with ct so as not to collide with the other
// files of the package.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// ctStore is one store the suite runs against.
type ctStore struct {
	name string
	// static is a store line for configs that are only adapted, not run.
	static string
	// setup returns the store's Caddyfile line; it may start a Redis.
	setup func(t *testing.T, redisArgs ...string) *ctStoreFixture
}

type ctStoreFixture struct {
	line  string            // the `store` subdirective
	redis *testredis.Server // the redis or cache store's server
	db    string            // the db store's SQLite file
}

func ctRedisLine(addr string) string {
	return "store redis {\n\taddress " + addr + "\n\tdial_timeout 1s\n\ttimeout 1s\n}"
}

// ctStores are the stores every contract test runs against. The file store
// uses its default directory, under the Caddy's own data dir.
var ctStores = []ctStore{
	{name: "memory", static: "store memory", setup: func(*testing.T, ...string) *ctStoreFixture {
		return &ctStoreFixture{line: "store memory"}
	}},
	{name: "file", static: "store file", setup: func(*testing.T, ...string) *ctStoreFixture {
		return &ctStoreFixture{line: "store file"}
	}},
	{name: "redis", static: ctRedisLine("127.0.0.1:6379"), setup: func(t *testing.T, args ...string) *ctStoreFixture {
		s := testredis.Start(t, args...)
		return &ctStoreFixture{line: ctRedisLine(s.Addr()), redis: s}
	}},
	// Django's engines, in Django's signed format (db) and django-redis's
	// JSON (cache): the same contract holds on them.
	{name: "db", static: "store db {\n\tdsn /var/lib/caddy/sessions.sqlite3\n}", setup: func(t *testing.T, _ ...string) *ctStoreFixture {
		path := filepath.Join(t.TempDir(), "sessions.sqlite3")
		return &ctStoreFixture{line: "store db {\n\tdsn " + path + "\n}", db: path}
	}},
	{name: "cache", static: "store cache {\n\taddress 127.0.0.1:6379\n}", setup: func(t *testing.T, args ...string) *ctStoreFixture {
		s := testredis.Start(t, args...)
		return &ctStoreFixture{line: "store cache {\n\taddress " + s.Addr() + "\n\tkey_prefix djc\n\tdial_timeout 1s\n\ttimeout 1s\n}", redis: s}
	}},
}

// ctRoutes are the non-default session configurations of the suite's Caddy,
// each served under its own path prefix; everything else gets the defaults.
var ctRoutes = []struct{ prefix, opts string }{
	{"/ttl30/", "token_ttl 30s"},
	{"/pass/", "pass_cookie"},
	{"/hdr/", "header X-App-Sess"},
	{"/every/", "save_every_request"},
	{"/browser/", "expire_at_browser_close"},
	{"/age/", "cookie_age 1h"},
	{"/attrs/", "cookie_name app_sess\ncookie_path /attrs\ncookie_domain example.test\ncookie_secure on\ncookie_httponly off\ncookie_samesite strict"},
	{"/none/", "cookie_samesite none\ncookie_secure on"},
}

// ctEnv is one Caddy with the session handler in front of a recording
// upstream.
type ctEnv struct {
	caddy *Caddy
	up    *ctUpstream
	store *ctStoreFixture
}

// ctSessionBlock is a `session` block with the store line and extra
// subdirectives.
func ctSessionBlock(storeLine, opts string) string {
	return "session {\n\tsecret {env.SESSION_SECRET}\n" + indent(storeLine) + "\n" + indent(opts) + "\n}"
}

// startCtEnv starts a Caddy whose only route is `session` (with opts) and
// `reverse_proxy` to a fresh recording upstream.
func startCtEnv(t *testing.T, fx *ctStoreFixture, opts ...string) *ctEnv {
	t.Helper()
	up := newCtUpstream(t)
	site := ctSessionBlock(fx.line, strings.Join(opts, "\n")) + "\nreverse_proxy " + up.host
	return &ctEnv{caddy: startCaddy(t, "", site), up: up, store: fx}
}

// startCtSuiteEnv starts a Caddy with a route for every entry of ctRoutes
// and the default configuration everywhere else, all on one store.
func startCtSuiteEnv(t *testing.T, fx *ctStoreFixture) *ctEnv {
	t.Helper()
	up := newCtUpstream(t)
	var site strings.Builder
	for _, r := range ctRoutes {
		fmt.Fprintf(&site, "handle %s* {\n%s\n\treverse_proxy %s\n}\n", r.prefix, indent(ctSessionBlock(fx.line, r.opts)), up.host)
	}
	fmt.Fprintf(&site, "handle {\n%s\n\treverse_proxy %s\n}", indent(ctSessionBlock(fx.line, "")), up.host)
	return &ctEnv{caddy: startCaddy(t, "", site.String()), up: up, store: fx}
}

// ctCase is one named contract test run against an environment.
type ctCase struct {
	name string
	run  func(t *testing.T, e *ctEnv)
}

// TestContract runs the Request, Response and Session semantics sections of
// the contract against every store, one Caddy per store.
func TestContract(t *testing.T) {
	sections := []struct {
		name  string
		cases []ctCase
	}{
		{"Request", ctRequestCases},
		{"Response", ctResponseCases},
		{"Semantics", ctSemanticsCases},
	}
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := startCtSuiteEnv(t, st.setup(t))
			for _, sec := range sections {
				t.Run(sec.name, func(t *testing.T) {
					t.Parallel()
					for _, tc := range sec.cases {
						t.Run(tc.name, func(t *testing.T) {
							t.Parallel()
							tc.run(t, e)
						})
					}
				})
			}
		})
	}
}

// ---------------------------------------------------------------------------
// The recording upstream.

// ctCall is one request through Caddy and the upstream's scripted answer to
// it. Scripts are registered under an id carried in the query string, so
// that nothing of a script (which may hold values that must not be logged)
// travels in the request.
type ctCall struct {
	path   string      // request path; default "/"
	base   string      // the header base name the route uses; default X-Session
	method string      // default GET, or POST with a body
	header [][2]string // request header lines, names exactly as written
	body   []byte      // request body

	// The upstream's answer.
	status   int         // default 200
	answer   [][2]string // response header lines, names exactly as written
	respBody string
	// before runs in the upstream, after recording, before it answers.
	before func()
	// serve, when set, answers instead of status/answer/respBody.
	serve func(w http.ResponseWriter, r *http.Request)
}

// ctSeen is what the upstream received for one call.
type ctSeen struct {
	header    http.Header
	family    []string // names of every received header of the session family
	tokens    []string // values of the token header
	payload   string   // the token's claims as raw JSON text
	claims    ctClaims
	verifyErr error // why the token did not verify, if it did not
	bodyLen   int64
	bodySum   [sha256.Size]byte
	trailer   http.Header // request trailers, read after the body
}

// ctClaims are the token's claims.
type ctClaims struct {
	raw          map[string]json.RawMessage
	Data         map[string]json.RawMessage `json:"data"`
	Iat          int64                      `json:"iat"`
	Exp          int64                      `json:"exp"`
	New          bool                       `json:"new"`
	SID          string                     `json:"sid"`
	ExpiresAt    int64                      `json:"expires_at"`
	BrowserClose bool                       `json:"browser_close"`
}

func (c ctClaims) has(name string) bool { _, ok := c.raw[name]; return ok }

// data is the session data with every value as compact JSON text.
func (c ctClaims) data() map[string]string {
	out := map[string]string{}
	for k, v := range c.Data {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			out[k] = "INVALID JSON: " + string(v)
			continue
		}
		out[k] = b.String()
	}
	return out
}

type ctUpstream struct {
	srv   *httptest.Server
	host  string // host:port
	calls atomic.Int64
	next  atomic.Int64

	mu      sync.Mutex
	scripts map[string]*ctCall
	seen    map[string]*ctSeen
}

func newCtUpstream(t *testing.T) *ctUpstream {
	t.Helper()
	u := &ctUpstream{scripts: map[string]*ctCall{}, seen: map[string]*ctSeen{}}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serveHTTP))
	t.Cleanup(u.srv.Close)
	u.host = strings.TrimPrefix(u.srv.URL, "http://")
	return u
}

// register stores the script and returns its id.
func (u *ctUpstream) register(c *ctCall) string {
	id := strconv.FormatInt(u.next.Add(1), 10) + "z" // "z": no id is a prefix of another
	u.mu.Lock()
	u.scripts[id] = c
	u.mu.Unlock()
	return id
}

// seenFor is what the upstream received for id, nil if it was not called.
func (u *ctUpstream) seenFor(id string) *ctSeen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[id]
}

func (u *ctUpstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	id := r.URL.Query().Get("cs")
	u.mu.Lock()
	c := u.scripts[id]
	u.mu.Unlock()
	if c == nil {
		http.Error(w, "ct upstream: no script for "+strconv.Quote(id), http.StatusTeapot)
		return
	}
	s := ctRecord(r, c.base)
	h := sha256.New()
	s.bodyLen, _ = io.Copy(h, r.Body)
	h.Sum(s.bodySum[:0])
	s.trailer = r.Trailer.Clone()
	u.mu.Lock()
	u.seen[id] = s
	u.mu.Unlock()

	if c.before != nil {
		c.before()
	}
	if c.serve != nil {
		c.serve(w, r)
		return
	}
	for _, l := range c.answer {
		w.Header()[l[0]] = append(w.Header()[l[0]], l[1])
	}
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, c.respBody)
}

// ctRecord records a request as the upstream received it and verifies its
// token as any JWT library would: HS256 only, with testSecret.
func ctRecord(r *http.Request, base string) *ctSeen {
	if base == "" {
		base = "X-Session"
	}
	s := &ctSeen{header: r.Header.Clone(), family: ctFamily(r.Header, base), tokens: r.Header.Values(base)}
	if len(s.tokens) != 1 {
		s.verifyErr = fmt.Errorf("%d values of %s, want exactly one", len(s.tokens), base)
		return s
	}
	raw := s.tokens[0]
	_, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		s.verifyErr = fmt.Errorf("token does not verify: %w", err)
		return s
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		s.verifyErr = fmt.Errorf("token is not in compact form: %d parts", len(parts))
		return s
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		s.verifyErr = fmt.Errorf("token payload: %w", err)
		return s
	}
	s.payload = string(p)
	if err := json.Unmarshal(p, &s.claims.raw); err != nil {
		s.verifyErr = fmt.Errorf("token payload: %w", err)
		return s
	}
	if err := json.Unmarshal(p, &s.claims); err != nil {
		s.verifyErr = fmt.Errorf("token payload: %w", err)
	}
	return s
}

// ctFold maps a header name as the contract compares them: lower case, with
// '_' and '.' folded to '-'.
func ctFold(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

// ctInFamily reports whether name is base or starts with base + "-", after
// folding. It is written here, apart from the handler's own code, on
// purpose.
func ctInFamily(name, base string) bool {
	f, b := ctFold(name), ctFold(base)
	return f == b || strings.HasPrefix(f, b+"-")
}

// ctFamily lists the names in h of the base's family, counting the names of
// trailers declared with http.TrailerPrefix and names listed in a Trailer
// header.
func ctFamily(h http.Header, base string) []string {
	var out []string
	for k, vs := range h {
		if ctInFamily(strings.TrimPrefix(k, http.TrailerPrefix), base) {
			out = append(out, k)
		}
		if strings.EqualFold(k, "Trailer") {
			for _, v := range vs {
				for n := range strings.SplitSeq(v, ",") {
					if ctInFamily(strings.TrimSpace(n), base) {
						out = append(out, "Trailer: "+strings.TrimSpace(n))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------------------
// Making calls.

// ctResult is one exchange as the client and the upstream saw it.
type ctResult struct {
	id   string
	resp *http.Response
	body []byte
	seen *ctSeen // nil when the upstream was not called
}

// url is the address of a call with the given id.
func (e *ctEnv) url(path, id string) string {
	if path == "" {
		path = "/"
	}
	return e.caddy.URL + path + "?cs=" + url.QueryEscape(id)
}

// newRequest registers c's script and returns its request.
func (e *ctEnv) newRequest(t *testing.T, c *ctCall) (*http.Request, string) {
	t.Helper()
	id := e.up.register(c)
	method := c.method
	if method == "" {
		method = http.MethodGet
		if c.body != nil {
			method = http.MethodPost
		}
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(method, e.url(c.path, id), body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.header {
		if strings.EqualFold(l[0], "Host") {
			req.Host = l[1]
			continue
		}
		req.Header[l[0]] = append(req.Header[l[0]], l[1])
	}
	return req, id
}

// do sends c through Caddy with client and reads the whole response.
func (e *ctEnv) do(t *testing.T, client *http.Client, c ctCall) *ctResult {
	t.Helper()
	req, id := e.newRequest(t, &c)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return &ctResult{id: id, resp: resp, body: body, seen: e.up.seenFor(id)}
}

// ok is do, requiring status 200 and a verified token at the upstream.
func (e *ctEnv) ok(t *testing.T, client *http.Client, c ctCall) *ctResult {
	t.Helper()
	r := e.do(t, client, c)
	ctWantStatus(t, r, http.StatusOK)
	ctToken(t, r)
	return r
}

// write answers with the given update header lines (name, value, name,
// value...) and requires 200.
func (e *ctEnv) write(t *testing.T, client *http.Client, path string, lines ...string) *ctResult {
	t.Helper()
	return e.ok(t, client, ctCall{path: path, answer: ctLines(lines...)})
}

// read makes a request the upstream answers with no update and returns the
// token's claims.
func (e *ctEnv) read(t *testing.T, client *http.Client, path string) ctClaims {
	t.Helper()
	return ctToken(t, e.ok(t, client, ctCall{path: path}))
}

// readWithCookie is read by a client without a jar that sends the cookie
// name=value.
func (e *ctEnv) readWithCookie(t *testing.T, path, name, value string) ctClaims {
	t.Helper()
	return ctToken(t, e.ok(t, ctRawClient(), ctCall{path: path, header: ctLines("Cookie", name+"="+value)}))
}

// ctLines pairs up name, value, name, value...
func ctLines(nv ...string) [][2]string {
	if len(nv)%2 != 0 {
		panic("ctLines: odd number of arguments")
	}
	var out [][2]string
	for i := 0; i < len(nv); i += 2 {
		out = append(out, [2]string{nv[i], nv[i+1]})
	}
	return out
}

// ctRawClient is a client without a cookie jar, for sending cookies by hand.
func ctRawClient() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ---------------------------------------------------------------------------
// Assertions.

func ctWantStatus(t *testing.T, r *ctResult, want int) {
	t.Helper()
	if r.resp.StatusCode != want {
		t.Fatalf("status %d, want %d; body %.300q", r.resp.StatusCode, want, r.body)
	}
}

// ctToken requires that the upstream was called with exactly one session
// header, a verified token, and returns its claims.
func ctToken(t *testing.T, r *ctResult) ctClaims {
	t.Helper()
	if r.seen == nil {
		t.Fatalf("the upstream was not called (status %d)", r.resp.StatusCode)
	}
	if r.seen.verifyErr != nil {
		t.Fatalf("upstream token: %v", r.seen.verifyErr)
	}
	return r.seen.claims
}

// ctWantData compares session data, values as compact JSON.
func ctWantData(t *testing.T, c ctClaims, want map[string]string) {
	t.Helper()
	if want == nil {
		want = map[string]string{}
	}
	if got := c.data(); !maps.Equal(got, want) {
		t.Fatalf("session data %v, want %v", got, want)
	}
}

// ctNoFamily requires that no header or trailer of the base's family
// reached the client.
func ctNoFamily(t *testing.T, resp *http.Response, base string) {
	t.Helper()
	if f := ctFamily(resp.Header, base); len(f) > 0 {
		t.Errorf("session headers reached the client: %v", f)
	}
	if f := ctFamily(resp.Trailer, base); len(f) > 0 {
		t.Errorf("session trailers reached the client: %v", f)
	}
}

// ctCookies are the response's Set-Cookie lines for name.
func ctCookies(resp *http.Response, name string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// ctSetCookie returns the one Set-Cookie for name that sets the cookie, or
// fails.
func ctSetCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	cs := ctCookies(resp, name)
	if len(cs) != 1 {
		t.Fatalf("want exactly one Set-Cookie for %s, got %q", name, resp.Header.Values("Set-Cookie"))
	}
	if cs[0].Value == "" || cs[0].MaxAge < 0 {
		t.Fatalf("Set-Cookie %q deletes the cookie, want it set", cs[0].Raw)
	}
	return cs[0]
}

// ctNoSetCookie requires that the response does not touch any cookie.
func ctNoSetCookie(t *testing.T, resp *http.Response) {
	t.Helper()
	if v := resp.Header.Values("Set-Cookie"); len(v) > 0 {
		t.Fatalf("want no Set-Cookie, got %q", v)
	}
}

// ctWantDeleted requires that the response deletes the cookie name.
func ctWantDeleted(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	cs := ctCookies(resp, name)
	if len(cs) != 1 {
		t.Fatalf("want exactly one Set-Cookie deleting %s, got %q", name, resp.Header.Values("Set-Cookie"))
	}
	c := cs[0]
	expired := c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()))
	if c.Value != "" || !expired {
		t.Fatalf("Set-Cookie %q does not delete the cookie", c.Raw)
	}
	return c
}

// ctAttrs parses a raw Set-Cookie line into its attributes, names lower
// case ("" for flags).
func ctAttrs(raw string) map[string]string {
	out := map[string]string{}
	parts := strings.Split(raw, ";")
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		out[strings.ToLower(k)] = v
	}
	return out
}

var ctKeyRE = regexp.MustCompile(`^[a-z0-9]{32}$`)

// ctJarKey is the session cookie the client's jar holds for path ("" if
// none).
func ctJarKey(t *testing.T, e *ctEnv, client *http.Client, path, name string) string {
	t.Helper()
	if path == "" {
		path = "/"
	}
	u, err := url.Parse(e.caddy.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// ctResponseDate is the response's Date header.
func ctResponseDate(t *testing.T, resp *http.Response) time.Time {
	t.Helper()
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		t.Fatalf("response Date %q: %v", resp.Header.Get("Date"), err)
	}
	return d
}

// ctNear requires |got-want| <= slack, for times that the handler and the
// test read from their own clocks a moment apart.
func ctNear(t *testing.T, what string, got, want, slack int64) {
	t.Helper()
	if got < want-slack || got > want+slack {
		t.Fatalf("%s = %d, want %d (±%d)", what, got, want, slack)
	}
}

// ctEventually polls cond until it holds or the deadline passes.
func ctEventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ctLogLine waits for a line of Caddy's log that holds every one of
// substrings and returns it.
func ctLogLine(t *testing.T, c *Caddy, substrings ...string) string {
	t.Helper()
	var found string
	deadline := time.Now().Add(10 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(c.Logs()))
		sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			all := true
			for _, s := range substrings {
				if !strings.Contains(line, s) {
					all = false
					break
				}
			}
			if all {
				found = line
				break
			}
		}
		if found != "" {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line holds all of %q; log:\n%s", substrings, c.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ctVaryCookie reports whether the response's Vary names Cookie.
func ctVaryCookie(resp *http.Response) bool {
	for _, v := range resp.Header.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Cookie") {
				return true
			}
		}
	}
	return false
}
