package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// fileHandler is a handler with its own file store, default cookie name
// and secret, as separate sites have.
func fileHandler(t *testing.T, secret string) *Handler {
	t.Helper()
	raw, _ := json.Marshal(map[string]string{"backend": "file", "dir": filepath.Join(t.TempDir(), "sessions")})
	h := newHandler(t, &Handler{Secret: secret, StoreRaw: raw})
	t.Cleanup(func() { _ = h.Cleanup() })
	return h
}

// siteRoute is a Caddyfile site block as it compiles: a terminal route
// matching the host, running a subroute.
func siteRoute(host string, routes ...caddyhttp.Route) caddyhttp.Route {
	return caddyhttp.Route{
		MatcherSets: caddyhttp.MatcherSets{{caddyhttp.MatchHost{host}}},
		Handlers:    []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{Routes: routes}},
		Terminal:    true,
	}
}

func gate(m caddyhttp.RequestMatcherWithError) caddyhttp.Route {
	return caddyhttp.Route{MatcherSets: caddyhttp.MatcherSets{{m}}}
}

func runs(h caddyhttp.MiddlewareHandler) caddyhttp.Route {
	return caddyhttp.Route{Handlers: []caddyhttp.MiddlewareHandler{h}}
}

// serverRequest is a request to host as srv serves it.
func serverRequest(srv *caddyhttp.Server, host string, cookie *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "http://"+host+"/admin/x", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, srv)
}

// A matcher ahead of the session handler loads through the handler of its
// own site only: sites a and b share a server and the default cookie name
// but not a store; site c has no session handler; site d runs its handler
// inside the `handle` the matcher gates; site e runs one of two handlers
// by path, grouped as `handle` blocks are.
func TestMatcherLoadsThroughItsSiteOnly(t *testing.T) {
	secretA, secretB := goodSecret, strings.Repeat("b", 40)
	hA, hB, hD := fileHandler(t, secretA), fileHandler(t, secretB), fileHandler(t, secretB)
	hE1, hE2 := fileHandler(t, secretA), fileHandler(t, secretB)
	admin := `{"role":"admin"}`
	cookieA := loginAs(t, hA, defaultCookieName, admin)
	cookieB := loginAs(t, hB, defaultCookieName, admin)
	cookieD := loginAs(t, hD, defaultCookieName, admin)
	cookieE2 := loginAs(t, hE2, defaultCookieName, admin)
	matcher := func() *MatchSession { return newMatcher(t, map[string][]string{"role": {"admin"}}) }
	mA, mB, mC, mD, mE := matcher(), matcher(), matcher(), matcher(), matcher()
	srv := &caddyhttp.Server{Routes: caddyhttp.RouteList{
		siteRoute("a.test", gate(mA), runs(hA)),
		siteRoute("b.test", gate(mB), runs(hB)),
		siteRoute("c.test", gate(mC)),
		siteRoute("d.test", caddyhttp.Route{
			MatcherSets: caddyhttp.MatcherSets{{mD}},
			Handlers:    []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{Routes: caddyhttp.RouteList{runs(hD)}}},
		}),
		siteRoute("e.test", gate(mE),
			caddyhttp.Route{Group: "g", MatcherSets: caddyhttp.MatcherSets{{caddyhttp.MatchPath{"/one/*"}}}, Handlers: []caddyhttp.MiddlewareHandler{hE1}},
			caddyhttp.Route{Group: "g", Handlers: []caddyhttp.MiddlewareHandler{hE2}},
		),
	}}
	for _, tc := range []struct {
		name   string
		m      *MatchSession
		host   string
		cookie *http.Cookie
		want   bool
	}{
		{"a's admin at a", mA, "a.test", cookieA, true},
		{"b's admin at b", mB, "b.test", cookieB, true},
		{"a's admin at b", mB, "b.test", cookieA, false},
		{"b's admin at a", mA, "a.test", cookieB, false},
		{"a's admin at c, no handler", mC, "c.test", cookieA, false},
		{"b's admin at c, no handler", mC, "c.test", cookieB, false},
		{"d's admin at d, handler in the gated route", mD, "d.test", cookieD, true},
		{"a's admin at d", mD, "d.test", cookieA, false},
		{"e's admin at e, second of the group", mE, "e.test", cookieE2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.MatchWithError(serverRequest(srv, tc.host, tc.cookie))
			if err != nil || got != tc.want {
				t.Errorf("match = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
	// Not through any server: no handler serves, no session.
	if got, err := mA.MatchWithError(caddyRequest("GET", "/", cookieA)); got || err != nil {
		t.Errorf("a request served by no server matched (%v, %v)", got, err)
	}
}

// A session handler's own match cannot test the session it loads: the
// handler is refused at provision, whether the matcher is direct, under
// `not`, or a CEL session() call, with a message naming the fix.
func TestHandlerGatedByItsOwnSessionMatcherRefused(t *testing.T) {
	for name, match := range map[string]string{
		"direct": `{"session": {"member": []}}`,
		"not":    `{"not": [{"session": {"member": []}}]}`,
		"cel":    `{"expression": "session('member') || path('/x')"}`,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			t.Cleanup(cancel)
			raw := `{"secret": "` + goodSecret + `", "store": {"backend": "memory"}, "match": [` + match + `]}`
			mod, err := ctx.LoadModuleByID("http.handlers.session", json.RawMessage(raw))
			if err == nil {
				_ = mod.(*Handler).Cleanup()
				t.Fatal("a handler gated by its own session matcher was provisioned")
			}
			if !strings.Contains(err.Error(), "session matcher") || !strings.Contains(err.Error(), "handle @member") {
				t.Errorf("error does not name the fix: %v", err)
			}
		})
	}
	// A session matcher elsewhere in the same expression language is fine.
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if _, err := ctx.LoadModuleByID("http.matchers.expression", json.RawMessage(`"session('member')"`)); err != nil {
		t.Errorf("a route's CEL session matcher was refused: %v", err)
	}
}

// Were a handler to be gated by its own session matcher after all (a
// config built around provisioning), a request ends with no session, not
// with a stack overflow.
func TestGatedHandlerCannotRecurse(t *testing.T) {
	h := newHandler(t, &Handler{CookieName: "recurse"})
	t.Cleanup(func() { _ = h.Cleanup() })
	cookie := loginAs(t, h, "recurse", `{"member":"1"}`)
	m := newMatcher(t, map[string][]string{"member": nil})
	h.matchers = caddyhttp.MatcherSets{{m}}
	srv := &caddyhttp.Server{Routes: caddyhttp.RouteList{{
		MatcherSets: caddyhttp.MatcherSets{{m}},
		Handlers:    []caddyhttp.MiddlewareHandler{h},
	}}}
	r := serverRequest(srv, "x.test", cookie)
	if _, err := m.MatchWithError(r); err != nil {
		t.Fatal(err)
	}
	up := &upstream{}
	if err := h.ServeHTTP(httptest.NewRecorder(), serverRequest(srv, "x.test", cookie), up); err != nil {
		t.Fatal(err)
	}
}

// The Caddyfile adapter refuses the self-gated handler already, from the
// matcher as written.
func TestRawSessionMatcher(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"session": {"member": []}}`:                      true,
		`{"path": ["/x"], "session": {"member": []}}`:      true,
		`{"not": [{"session": {"member": []}}]}`:           true,
		`{"not": {"session": {"member": []}}}`:             true,
		`{"expression": "session('member') || path('/')"}`: true,
		`{"expression": {"expr": "session ('member')"}}`:   true,
		`{"path": ["/session/*"]}`:                         false,
		`{"expression": "path('/session(x)')"}`:            false,
		`{"not": [{"path": ["/x"]}]}`:                      false,
	} {
		var set caddy.ModuleMap
		if err := json.Unmarshal([]byte(raw), &set); err != nil {
			t.Fatal(err)
		}
		if got := rawSessionMatcher([]caddy.ModuleMap{set}); got != want {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
}
