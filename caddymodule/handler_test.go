package caddymodule

// In-process tests of ServeHTTP, its response wrapper and Provision, in the
// style of Caddy's modules/caddyhttp/headers/headers_test.go: a provisioned
// handler on the memory store, httptest recorders and a scripted next
// handler. The end-to-end suite (integration/) covers the same behaviour
// through the real binary.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-session/caddy-session/session"
)

// newHandler provisions h (memory store and the test secret unless set).
func newHandler(t *testing.T, h *Handler) *Handler {
	t.Helper()
	if h.Secret == "" {
		h.Secret = goodSecret
	}
	if h.StoreRaw == nil {
		h.StoreRaw = json.RawMessage(`{"backend":"memory"}`)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return h
}

// upstream is a next handler that records the request it got and answers
// with status, headers and body.
type upstream struct {
	status int
	header http.Header
	body   string
	got    *http.Request
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.got = r
	for k, vs := range u.header {
		w.Header()[k] = vs
	}
	if u.status != 0 {
		w.WriteHeader(u.status)
	}
	_, err := w.Write([]byte(u.body))
	return err
}

func newRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	repl := caddy.NewReplacer()
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
}

// serve runs one request through h with site headers set before it, as
// earlier handlers (header, HSTS) would, and returns the recorder and the
// handler's error.
func serve(t *testing.T, h *Handler, r *http.Request, site http.Header, up *upstream) (*httptest.ResponseRecorder, error) {
	t.Helper()
	w := httptest.NewRecorder()
	for k, vs := range site {
		w.Header()[k] = vs
	}
	return w, h.ServeHTTP(w, r, up)
}

func statusOf(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// claimsOf decodes the token the upstream got, without verifying it.
func claimsOf(t *testing.T, r *http.Request) map[string]any {
	t.Helper()
	tok := r.Header.Get("X-Session")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// readClaims makes a request with cookie through h, which the upstream
// answers with no update, and returns the claims of the token it got.
func readClaims(t *testing.T, h *Handler, cookie *http.Cookie) map[string]any {
	t.Helper()
	r := newRequest("GET", "/")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	up := &upstream{}
	if _, err := serve(t, h, r, nil, up); err != nil {
		t.Fatal(err)
	}
	return claimsOf(t, up.got)
}

// login stores a session through h and returns its cookie.
func login(t *testing.T, h *Handler, set string) *http.Cookie {
	t.Helper()
	w, err := serve(t, h, newRequest("GET", "/"), nil, &upstream{header: http.Header{"X-Session-Set": {set}}})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == "sessionid" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login set no cookie: %v", w.Header())
	return nil
}

// The handler's own error responses (400, 502, 503) drop what the upstream
// sent but keep what the site set before the handler ran.
func TestErrorResponsesKeepSiteHeaders(t *testing.T) {
	site := http.Header{
		"Strict-Transport-Security": {"max-age=31536000"},
		"Content-Security-Policy":   {"default-src 'self'"},
		"X-Frame-Options":           {"DENY"},
	}
	h := newHandler(t, &Handler{MaxSessionSize: 64})
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"malformed update", http.Header{"X-Session-Set": {`{"a":`}}, http.StatusBadGateway},
		{"unknown update header", http.Header{"X-Session-Bogus": {"1"}}, http.StatusBadGateway},
		{"update over the size limit", http.Header{"X-Session-Set": {`{"a":"` + strings.Repeat("x", 100) + `"}`}}, http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &upstream{header: tc.header.Clone()}
			up.header.Set("X-Upstream", "leak")
			up.header.Set("Content-Security-Policy", "upstream's")
			w, err := serve(t, h, newRequest("GET", "/"), site, up)
			if got := statusOf(err); got != tc.status {
				t.Fatalf("status = %d (%v), want %d", got, err, tc.status)
			}
			for k, vs := range site {
				if got := w.Header()[k]; strings.Join(got, "|") != strings.Join(vs, "|") {
					t.Errorf("%s = %q, want the site's %q", k, got, vs)
				}
			}
			if w.Header().Get("X-Upstream") != "" {
				t.Error("the upstream's header survived the error response")
			}
			if w.Header().Get("Vary") != "Cookie" {
				t.Errorf("Vary = %q, want Cookie", w.Header().Values("Vary"))
			}
		})
	}
}

// An upstream 5xx passes as it is, whatever update headers it carries:
// stripped of them, nothing persisted, no cookie.
func TestUpstream5xxPassesAsIs(t *testing.T) {
	h := newHandler(t, &Handler{})
	cookie := login(t, h, `{"user":"bob"}`)
	for _, hdr := range []http.Header{
		{"X-Session-Set": {`{"user":"mallory"}`}},
		{"X-Session-Set": {`{"user":`}},
		{"X-Session-Bogus": {"1"}, "X-Session-Flush": {"1"}},
		{"x_session_flush": {"1"}},
	} {
		r := newRequest("GET", "/")
		r.AddCookie(cookie)
		up := &upstream{status: http.StatusServiceUnavailable, header: hdr, body: "down for maintenance"}
		w, err := serve(t, h, r, nil, up)
		if err != nil {
			t.Fatalf("%v: handler error %v; want the upstream's 503 as it is", hdr, err)
		}
		if w.Code != http.StatusServiceUnavailable || w.Body.String() != "down for maintenance" {
			t.Fatalf("%v: got %d %q", hdr, w.Code, w.Body)
		}
		for k := range w.Header() {
			if h.names.Match(k) {
				t.Errorf("%v: %s reached the client", hdr, k)
			}
		}
		if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("%v: Set-Cookie %q on a 5xx", hdr, sc)
		}
	}
	// Nothing was persisted: the session is bob's still.
	r := newRequest("GET", "/")
	r.AddCookie(cookie)
	up := &upstream{}
	if _, err := serve(t, h, r, nil, up); err != nil {
		t.Fatal(err)
	}
	if data := claimsOf(t, up.got)["data"].(map[string]any); data["user"] != "bob" {
		t.Fatalf("session after the 5xx responses = %v, want bob's", data)
	}
}

// A response that sets or deletes the session cookie is never stored by a
// shared cache; Vary names Cookie once, keeping the upstream's own fields.
func TestCacheControlAndVary(t *testing.T) {
	h := newHandler(t, &Handler{})
	for _, tc := range []struct {
		name      string
		header    http.Header
		wantCache string
		wantVary  string
	}{
		{"no cache-control", http.Header{}, "private", "Cookie"},
		{"public with max-age", http.Header{"Cache-Control": {"public, max-age=60, s-maxage=600"}}, "private, max-age=60", "Cookie"},
		{"already private", http.Header{"Cache-Control": {"private, max-age=5"}}, "private, max-age=5", "Cookie"},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, "no-store", "Cookie"},
		{"upstream varies on cookie", http.Header{"Vary": {"cookie"}}, "private", "cookie"},
		{"upstream varies on encoding", http.Header{"Vary": {"Accept-Encoding"}}, "private", "Accept-Encoding, Cookie"},
		{"upstream varies on everything", http.Header{"Vary": {"*"}}, "private", "*"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &upstream{header: tc.header.Clone()}
			up.header.Set("X-Session-Set", `{"a":1}`)
			w, err := serve(t, h, newRequest("GET", "/"), nil, up)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Result().Cookies()) != 1 {
				t.Fatalf("no session cookie: %v", w.Header())
			}
			if got := strings.Join(w.Header().Values("Cache-Control"), " | "); got != tc.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.wantCache)
			}
			if got := strings.Join(w.Header().Values("Vary"), " | "); got != tc.wantVary {
				t.Errorf("Vary = %q, want %q", got, tc.wantVary)
			}
		})
	}
	t.Run("deleting the cookie", func(t *testing.T) {
		cookie := login(t, h, `{"a":1}`)
		r := newRequest("GET", "/")
		r.AddCookie(cookie)
		w, err := serve(t, h, r, nil, &upstream{header: http.Header{"X-Session-Flush": {"1"}, "Cache-Control": {"public, max-age=600"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Header().Get("Cache-Control"); got != "private, max-age=600" {
			t.Errorf("Cache-Control = %q, want private, max-age=600", got)
		}
	})
	t.Run("a response that leaves the cookie alone", func(t *testing.T) {
		w, err := serve(t, h, newRequest("GET", "/"), nil, &upstream{header: http.Header{"Cache-Control": {"public, max-age=600"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Header().Get("Cache-Control"); got != "public, max-age=600" {
			t.Errorf("Cache-Control = %q, want the upstream's", got)
		}
	})
}

// With a matcher, the requests it does not match get no session, but are
// stripped all the same: no forged token reaches the upstream and no update
// header reaches the client.
func TestUnmatchedRequestsAreStripped(t *testing.T) {
	h := newHandler(t, &Handler{MatcherSetsRaw: caddyhttp.RawMatcherSets{{"path": json.RawMessage(`["/app/*"]`)}}})
	r := newRequest("POST", "/other")
	r.Header.Set("X-Session", "forged.token.here")
	r.Header.Set("X_Session_Set", `{"admin":true}`)
	up := &upstream{header: http.Header{"X-Session-Set": {`{"a":1}`}, "x_session_flush": {"1"}, "X-Other": {"kept"}}}
	w, err := serve(t, h, r, nil, up)
	if err != nil {
		t.Fatal(err)
	}
	for k := range up.got.Header {
		if h.names.Match(k) {
			t.Errorf("%s reached the upstream of an unmatched request", k)
		}
	}
	for k := range w.Header() {
		if h.names.Match(k) {
			t.Errorf("%s reached the client", k)
		}
	}
	if w.Header().Get("X-Other") != "kept" || len(w.Result().Cookies()) != 0 {
		t.Errorf("response headers = %v; want X-Other kept and no cookie", w.Header())
	}

	// A matched request gets its session as usual.
	up = &upstream{}
	if _, err := serve(t, h, newRequest("GET", "/app/x"), nil, up); err != nil {
		t.Fatal(err)
	}
	if claimsOf(t, up.got)["new"] != true {
		t.Error("matched request got no token")
	}
}

// _session_expiry set directly is held to the Expiry header's rules.
func TestExpiryKeyInSetIsValidated(t *testing.T) {
	h := newHandler(t, &Handler{})
	for _, v := range []string{`10000000000`, `99999999999`, `-1`, `"soon"`} {
		w, err := serve(t, h, newRequest("GET", "/"), nil, &upstream{header: http.Header{"X-Session-Set": {`{"_session_expiry":` + v + `}`}}})
		if statusOf(err) != http.StatusBadGateway {
			t.Errorf("_session_expiry %s: status %d (%v), Set-Cookie %q; want 502", v, statusOf(err), err, w.Header().Values("Set-Cookie"))
		}
	}
}

// The default limits apply without configuration: an update that would
// make the session larger than 5120 bytes, or that touches more than 128
// keys, is refused whole.
func TestDefaultLimits(t *testing.T) {
	h := newHandler(t, &Handler{})
	big := `{"a":"` + strings.Repeat("x", defaultMaxSessionSize) + `"}`
	var many strings.Builder
	many.WriteString("{")
	for i := range defaultMaxUpdateKeys + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"k` + strings.Repeat("0", i%3) + string(rune('a'+i%26)) + strings.Repeat("z", i/26) + `":1`)
	}
	many.WriteString("}")
	for name, set := range map[string]string{"size": big, "keys": many.String()} {
		w, err := serve(t, h, newRequest("GET", "/"), nil, &upstream{header: http.Header{"X-Session-Set": {set}}})
		if statusOf(err) != http.StatusBadGateway || len(w.Header().Values("Set-Cookie")) != 0 {
			t.Errorf("%s over the default: status %d (%v), Set-Cookie %q; want 502 and none", name, statusOf(err), err, w.Header().Values("Set-Cookie"))
		}
	}
}

// A stored session over the limit (stored before the limit was lowered) is
// handed to the upstream as no session rather than as a token too large
// for it, so its user can still use the site and log in again.
func TestOversizeStoredSessionIsNotHandedOver(t *testing.T) {
	big := newHandler(t, &Handler{})
	cookie := login(t, big, `{"cart":"`+strings.Repeat("x", 1000)+`"}`)
	small := newHandler(t, &Handler{MaxSessionSize: 100})
	r := newRequest("GET", "/")
	r.AddCookie(cookie)
	up := &upstream{}
	if _, err := serve(t, small, r, nil, up); err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, up.got)
	if c["new"] != true || len(c["data"].(map[string]any)) != 0 {
		t.Fatalf("claims = %v; want no session", c)
	}
}

// A session of exactly the default size, with every claim present, gives a
// token whose header line fits the 8190-byte field limit of Apache
// (LimitRequestFieldSize) and gunicorn (limit_request_field_size), and
// nginx's 8 KB large_client_header_buffers.
func TestDefaultSizeFitsHeaderLimits(t *testing.T) {
	h := newHandler(t, &Handler{})
	// {"cart":"xxx…"} is 11 bytes plus the x's.
	set := `{"cart":"` + strings.Repeat("x", defaultMaxSessionSize-11) + `"}`
	cookie := login(t, h, set)
	r := newRequest("GET", "/")
	r.AddCookie(cookie)
	up := &upstream{}
	if _, err := serve(t, h, r, nil, up); err != nil {
		t.Fatal(err)
	}
	if claimsOf(t, up.got)["new"] != false {
		t.Fatal("the session at the limit was not handed over")
	}
	line := len("X-Session: ") + len(up.got.Header.Get("X-Session")) + len("\r\n")
	if line > 8190 {
		t.Fatalf("token header line is %d bytes; want at most 8190", line)
	}
	t.Logf("token header line at the default max_session_size: %d bytes", line)
}

// The server-side timeouts reach the upstream as token claims.
func TestTimeoutClaims(t *testing.T) {
	h := newHandler(t, &Handler{IdleTimeout: caddy.Duration(30 * time.Minute), AbsoluteTimeout: caddy.Duration(8 * time.Hour)})
	cookie := login(t, h, `{"user":"bob"}`)
	c := readClaims(t, h, cookie)
	now := float64(time.Now().Unix())
	for name, want := range map[string]float64{"idle_expires_at": now + 1800, "absolute_expires_at": now + 8*3600} {
		got, ok := c[name].(float64)
		if !ok || got < want-5 || got > want+5 {
			t.Errorf("%s = %v; want about %v", name, c[name], want)
		}
	}
	if d := c["data"].(map[string]any); d[session.CreatedKey] == nil || d[session.AccessedKey] == nil {
		t.Errorf("data = %v; want the timeout fields", d)
	}
	plain := newHandler(t, &Handler{})
	if c := readClaims(t, plain, login(t, plain, `{"user":"bob"}`)); c["idle_expires_at"] != nil || c["absolute_expires_at"] != nil {
		t.Errorf("claims without timeouts = %v", c)
	}
}
