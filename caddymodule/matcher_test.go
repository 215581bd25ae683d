package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestMatchSessionCaddyfile(t *testing.T) {
	tests := []struct {
		name, input, want, wantErr string
	}{
		{"key present", "session user_id", `{"user_id":[]}`, ""},
		{"value", "session user_id 42", `{"user_id":["42"]}`, ""},
		{"any of values", "session role admin editor", `{"role":["admin","editor"]}`, ""},
		{"lines add up", "session user_id\nsession role admin", `{"role":["admin"],"user_id":[]}`, ""},
		{"no key", "session", "", "wrong argument count"},
		{"block", "session user_id {\nx\n}", "", "blocks are not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m MatchSession
			err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("JSON = %s, want %s", got, tc.want)
			}
			var back MatchSession
			if err := json.Unmarshal(got, &back); err != nil || len(back.Keys) != len(m.Keys) {
				t.Errorf("JSON does not round-trip: %v %v", back.Keys, err)
			}
		})
	}
	if err := (&MatchSession{}).Validate(); err == nil {
		t.Error("a matcher with no key validated")
	}
}

// newMatcher provisions a session matcher in the same (bare) context as
// the handlers of newHandler.
func newMatcher(t *testing.T, keys map[string][]string) *MatchSession {
	t.Helper()
	m := &MatchSession{Keys: keys}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := m.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

// The matcher reads the session the handler loaded; run before the
// handler, it loads the session itself, and the handler does not load it
// a second time.
func TestMatchSession(t *testing.T) {
	h := newHandler(t, &Handler{StoreRaw: json.RawMessage(`{"backend":"memory"}`), CookieName: "matchtest"})
	t.Cleanup(func() { _ = h.Cleanup() })
	cookie := loginAs(t, h, "matchtest", `{"_auth_user_id":"42","role":"editor","n":7}`)

	tests := []struct {
		name string
		keys map[string][]string
		want bool
	}{
		{"present", map[string][]string{"_auth_user_id": nil}, true},
		{"absent", map[string][]string{"admin": nil}, false},
		{"value as text", map[string][]string{"_auth_user_id": {"42"}}, true},
		{"number as written", map[string][]string{"n": {"7"}}, true},
		{"other value", map[string][]string{"_auth_user_id": {"43"}}, false},
		{"one of values", map[string][]string{"role": {"admin", "editor"}}, true},
		{"all keys must match", map[string][]string{"role": {"editor"}, "admin": nil}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMatcher(t, tc.keys)
			// After the handler: the session it exposed.
			var after bool
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				var err error
				after, err = m.MatchWithError(r)
				return err
			})
			if err := h.ServeHTTP(httptest.NewRecorder(), caddyRequest("GET", "/", cookie), next); err != nil {
				t.Fatal(err)
			}
			// Before any handler ran: loaded through the handler that
			// the server's routes run after the matcher.
			before, err := m.MatchWithError(routedRequest(m, h, cookie))
			if err != nil {
				t.Fatal(err)
			}
			if after != tc.want || before != tc.want {
				t.Errorf("match after the handler = %v, before it = %v; want %v", after, before, tc.want)
			}
			// Anonymous: no match, either way.
			if ok, err := m.MatchWithError(caddyRequest("GET", "/", nil)); ok || err != nil {
				t.Errorf("anonymous request matched (%v, %v)", ok, err)
			}
		})
	}

	// A matcher ahead of the handler loads once for both.
	loads := counterValue(sessionMetrics.loads.WithLabelValues("memory", "hit"))
	m := newMatcher(t, map[string][]string{"role": nil})
	r := routedRequest(m, h, cookie)
	if ok, err := m.MatchWithError(r); !ok || err != nil {
		t.Fatalf("match = %v, %v", ok, err)
	}
	up := &upstream{}
	if err := h.ServeHTTP(httptest.NewRecorder(), r, up); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(sessionMetrics.loads.WithLabelValues("memory", "hit")) - loads; got != 1 {
		t.Errorf("matcher then handler loaded the session %v times, want 1", got)
	}
	if c := claimsOf(t, up.got); c["new"] != false {
		t.Errorf("the handler after a matcher handed over %v, want the session", c)
	}
}

// Handlers configured alike (a session block repeated in several handle
// blocks) take the session a matcher loaded through the first of them;
// one configured otherwise loads its own.
func TestMatchSessionAlikeHandlers(t *testing.T) {
	alike := func(ttl time.Duration) *Handler {
		h := newHandler(t, &Handler{CookieName: "alike", TokenTTL: caddy.Duration(ttl)})
		t.Cleanup(func() { _ = h.Cleanup() })
		return h
	}
	first, second, other := alike(30*time.Second), alike(30*time.Second), alike(31*time.Second)
	cookie := loginAs(t, first, "alike", `{"user":"bob"}`)
	hits := sessionMetrics.loads.WithLabelValues("memory", "hit")
	for _, tc := range []struct {
		name  string
		h     *Handler
		loads float64
	}{
		{"the handler loaded through", first, 1},
		{"a handler alike", second, 1},
		{"a handler configured otherwise", other, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := counterValue(hits)
			m := newMatcher(t, map[string][]string{"user": nil})
			r := routedRequest(m, first, cookie)
			if ok, err := m.MatchWithError(r); !ok || err != nil {
				t.Fatalf("match = %v, %v", ok, err)
			}
			up := &upstream{}
			if err := tc.h.ServeHTTP(httptest.NewRecorder(), r, up); err != nil {
				t.Fatal(err)
			}
			if got := counterValue(hits) - before; got != tc.loads {
				t.Errorf("%v loads, want %v", got, tc.loads)
			}
			if claimsOf(t, up.got)["new"] != false {
				t.Error("the handler handed over no session")
			}
		})
	}
}

func TestMatchSessionCEL(t *testing.T) {
	h := newHandler(t, &Handler{CookieName: "celtest"})
	t.Cleanup(func() { _ = h.Cleanup() })
	cookie := loginAs(t, h, "celtest", `{"_auth_user_id":"42"}`)
	for expr, want := range map[string]bool{
		`session('_auth_user_id')`:              true,
		`session('_auth_user_id', '42')`:        true,
		`session('_auth_user_id', '7')`:         false,
		`!session('admin') && path('/app/*')`:   true,
		`session('admin') || path('/nowhere*')`: false,
	} {
		t.Run(expr, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			t.Cleanup(cancel)
			raw, _ := json.Marshal(expr)
			mod, err := ctx.LoadModuleByID("http.matchers.expression", raw)
			if err != nil {
				t.Fatalf("provisioning %s: %v", expr, err)
			}
			m := mod.(*caddyhttp.MatchExpression)
			got, err := m.MatchWithError(routedRequest(m, h, cookie))
			if err != nil || got != want {
				t.Errorf("%s = %v (%v), want %v", expr, got, err, want)
			}
			if expr == `session('_auth_user_id')` {
				if got, _ := m.MatchWithError(routedRequest(m, h, nil)); got {
					t.Errorf("%s matched an anonymous request", expr)
				}
			}
		})
	}
}

// routedRequest is a request served by a server whose first route is
// gated by m and whose second runs h: m loads through h.
func routedRequest(m caddyhttp.RequestMatcherWithError, h *Handler, cookie *http.Cookie) *http.Request {
	srv := &caddyhttp.Server{Routes: caddyhttp.RouteList{
		{MatcherSets: caddyhttp.MatcherSets{{m}}},
		{Handlers: []caddyhttp.MiddlewareHandler{h}},
	}}
	r := httptest.NewRequest("GET", "/app/x", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, srv)
}

// loginAs stores a session through h, whose cookie is called name.
func loginAs(t *testing.T, h *Handler, name, set string) *http.Cookie {
	t.Helper()
	w, err := serve(t, h, newRequest("GET", "/"), nil, &upstream{header: http.Header{"X-Session-Set": {set}}})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login set no %s cookie: %v", name, w.Header())
	return nil
}
