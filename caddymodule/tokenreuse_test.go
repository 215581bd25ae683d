package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// Reads of an unchanged session get the same token while it is fresh; the
// request after any change the upstream makes, or after the session is
// gone, gets a new token with that request's claims.
func TestTokenReuseThroughHandler(t *testing.T) {
	h := newHandler(t, &Handler{})
	// Tokens are issued at t0 plus what the test adds: two tokens of the
	// same claims issued in different seconds differ, so a token seen
	// twice was reused, not signed again.
	t0 := time.Now()
	var at time.Duration
	tokenClock = func() time.Time { return t0.Add(at) }
	t.Cleanup(func() { tokenClock = nil })
	cookie := login(t, h, `{"user":"bob","n":1}`)
	// do makes one request with cookie, the upstream answering with
	// update; it returns the token the upstream got, its claims and the
	// cookie the response set, if any.
	do := func(cookie *http.Cookie, update http.Header) (string, map[string]any, *http.Cookie) {
		t.Helper()
		r := newRequest("GET", "/")
		if cookie != nil {
			r.AddCookie(cookie)
		}
		up := &upstream{header: update}
		w, err := serve(t, h, r, nil, up)
		if err != nil {
			t.Fatal(err)
		}
		var set *http.Cookie
		for _, c := range w.Result().Cookies() {
			if c.Name == "sessionid" {
				set = c
			}
		}
		return up.got.Header.Get("X-Session"), claimsOf(t, up.got), set
	}
	tok, _, _ := do(cookie, nil)
	at = 5 * time.Second // within 60s/10
	if again, _, _ := do(cookie, nil); again != tok {
		t.Fatalf("two reads of an unchanged session: two tokens")
	}
	at = 6 * time.Second // past it
	stale, c, _ := do(cookie, nil)
	if stale == tok || c["iat"].(float64) != float64(t0.Add(at).Unix()) {
		t.Fatalf("a read past ttl/10: iat %v, want %d", c["iat"], t0.Add(at).Unix())
	}
	tok = stale
	steps := []struct {
		name   string
		update http.Header
		check  func(c map[string]any) bool
	}{
		{"set", http.Header{"X-Session-Set": {`{"n":2}`}}, func(c map[string]any) bool {
			return c["data"].(map[string]any)["n"].(float64) == 2
		}},
		{"expiry", http.Header{"X-Session-Expiry": {"0"}}, func(c map[string]any) bool { return c["browser_close"] == true }},
		{"cycle_key", http.Header{"X-Session-Cycle-Key": {"1"}}, nil},
		{"flush", http.Header{"X-Session-Flush": {"1"}}, func(c map[string]any) bool { return c["new"] == true && c["sid"] == nil }},
	}
	for _, st := range steps {
		at += time.Second // the change and the read right after it, well within ttl/10 of tok
		_, before, set := do(cookie, st.update)
		if set != nil && set.Value != "" {
			cookie = set
		}
		got, c, _ := do(cookie, nil)
		if got == tok {
			t.Errorf("%s: the token before the change", st.name)
		}
		if st.check != nil && !st.check(c) {
			t.Errorf("%s: claims %v", st.name, c)
		}
		if st.name == "cycle_key" && (c["sid"] == before["sid"] || c["sid"] == nil) {
			t.Errorf("cycle_key: sid %v, before %v", c["sid"], before["sid"])
		}
		tok = got
	}

	// A session removed behind the handler's back (a revoke, an expiry,
	// another instance's logout): the next request is a new session's.
	cookie = login(t, h, `{"user":"eve"}`)
	tok, c, _ = do(cookie, nil)
	if c["new"] != false {
		t.Fatalf("login: %v", c)
	}
	if ok, err := h.store.Delete(context.Background(), cookie.Value); !ok || err != nil {
		t.Fatalf("Delete: %v %v", ok, err)
	}
	if got, c, _ := do(cookie, nil); got == tok || c["new"] != true || c["sid"] != nil || len(c["data"].(map[string]any)) != 0 {
		t.Errorf("after the session was deleted: claims %v", c)
	}
}

// A value another writer puts straight into Redis, inside the reuse window
// of a token whose claims it imitates, gets no token: `1,"x":2` under
// field a concatenates to the same claims as the session {"a":1,"x":2}
// the upstream just got a token for, but it is not JSON, so the request
// is refused (500) rather than handed that token.
func TestTokenReuseRefusesForeignValueInRedis(t *testing.T) {
	srv := testredis.Start(t)
	h := newHandler(t, &Handler{StoreRaw: json.RawMessage(fmt.Sprintf(`{"backend":"redis","addresses":[%q]}`, srv.Addr()))})
	t0 := time.Now()
	tokenClock = func() time.Time { return t0 }
	t.Cleanup(func() { tokenClock = time.Now })
	cookie := login(t, h, `{"a":1,"x":2}`)
	read := func() (*http.Request, error) {
		r := newRequest("GET", "/")
		r.AddCookie(cookie)
		up := &upstream{}
		_, err := serve(t, h, r, nil, up)
		return up.got, err
	}
	got, err := read()
	if err != nil || got == nil {
		t.Fatalf("read: %v", err)
	}
	if d := claimsOf(t, got)["data"].(map[string]any); d["a"] != float64(1) || d["x"] != float64(2) {
		t.Fatalf("claims before: %v", d)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.HSet(ctx, "session:"+cookie.Value, "a", `1,"x":2`).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HDel(ctx, "session:"+cookie.Value, "x").Err(); err != nil {
		t.Fatal(err)
	}
	got, err = read()
	var he caddyhttp.HandlerError
	if got != nil || !errors.As(err, &he) || he.StatusCode != http.StatusInternalServerError {
		t.Fatalf("a stored value that is not JSON, inside the reuse window: upstream called %v, error %v; want 500 and no upstream", got != nil, err)
	}
}
