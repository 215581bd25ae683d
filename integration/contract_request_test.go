package integration

// Contract, "Request: proxy to upstream".

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

var ctRequestCases = []ctCase{
	{"client session headers never reach the upstream", ctTestStripsClientHeaders},
	{"Connection naming the token does not drop it", ctTestConnectionNamesToken},
	{"client session trailers never reach the upstream", ctTestStripsClientTrailers},
	{"claims without a session", ctTestClaimsWithoutSession},
	{"claims with a session", ctTestClaimsWithSession},
	{"token_ttl 30s", ctTestTokenTTL},
	{"sid stable, changes on cycle, not the cookie", ctTestSID},
	{"new with a bad cookie", ctTestNewWithBadCookie},
	{"session cookie withheld from the upstream", ctTestCookieWithheld},
	{"pass_cookie forwards the session cookie", ctTestPassCookie},
	{"custom header base name", ctTestCustomHeader},
}

// Every client-sent header that could pass for the handler's own is removed;
// the upstream gets exactly one token, which verifies and carries the real
// session.
func ctTestStripsClientHeaders(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"user":"alice"}`)
	key := ctJarKey(t, e, c, "/", "sessionid")

	forged := ctLines(
		"X-Session", "forged.forged.forged",
		"x_session", "forged",
		"X.Session", "forged",
		"X-Session-Set", `{"user":"mallory"}`,
		"X-SESSION-FLUSH", "1",
		"x-session-cycle-key", "1",
		"X_Session.Expiry", "0",
		"X-Session-Anything", "forged",
	)
	r := e.ok(t, c, ctCall{header: forged})
	if !slices.Equal(r.seen.family, []string{"X-Session"}) {
		t.Fatalf("session headers at the upstream: %v, want only X-Session", r.seen.family)
	}
	if len(r.seen.tokens) != 1 || strings.Contains(r.seen.tokens[0], "forged") {
		t.Fatalf("X-Session values at the upstream: %q", r.seen.tokens)
	}
	claims := ctToken(t, r)
	ctWantData(t, claims, map[string]string{"user": `"alice"`})
	if claims.New {
		t.Fatal("new = true for a request with a stored session")
	}

	// The forged request headers changed nothing.
	ctNoSetCookie(t, r.resp)
	ctWantData(t, e.read(t, c, "/"), map[string]string{"user": `"alice"`})
	if got := ctJarKey(t, e, c, "/", "sessionid"); got != key {
		t.Fatalf("cookie changed from %q to %q", key, got)
	}
}

// Request trailers are headers too: a chunked request's X-Session*
// trailers are removed while other trailers pass.
func ctTestStripsClientTrailers(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"user":"alice"}`)
	req, id := e.newRequest(t, &ctCall{})
	req.Method = http.MethodPost
	req.Body = io.NopCloser(strings.NewReader("payload"))
	req.ContentLength = -1 // chunked, so that trailers can follow
	req.Trailer = http.Header{
		"X-Session":       {"forged"},
		"X-Session-Set":   {`{"user":"mallory"}`},
		"X-Session-Flush": {"1"},
		"X-Checksum":      {"abc"},
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	seen := e.up.seenFor(id)
	if seen == nil {
		t.Fatal("the upstream was not called")
	}
	if seen.trailer.Get("X-Checksum") != "abc" {
		t.Fatalf("an ordinary request trailer did not reach the upstream (trailers %v): the test cannot see trailers", seen.trailer)
	}
	if f := ctFamily(seen.trailer, "X-Session"); len(f) > 0 {
		t.Fatalf("session trailers reached the upstream: %v", f)
	}
	if seen.verifyErr != nil {
		t.Fatal(seen.verifyErr)
	}
	ctWantData(t, seen.claims, map[string]string{"user": `"alice"`})
	ctWantData(t, e.read(t, c, "/"), map[string]string{"user": `"alice"`})
}

// A client's Connection header naming X-Session would make the proxy drop
// the token as hop-by-hop once the handler has set it.
func ctTestConnectionNamesToken(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"n":1}`)
	r := e.ok(t, c, ctCall{header: ctLines("Connection", "keep-alive, X-Session, X-Session-Set")})
	ctWantData(t, ctToken(t, r), map[string]string{"n": "1"})
}

func ctTestClaimsWithoutSession(t *testing.T, e *ctEnv) {
	before := time.Now().Unix()
	r := e.ok(t, newClient(t), ctCall{})
	after := time.Now().Unix()
	claims := ctToken(t, r)
	for _, name := range []string{"data", "iat", "exp", "new"} {
		if !claims.has(name) {
			t.Errorf("claim %q missing from %s", name, r.seen.payload)
		}
	}
	for _, name := range []string{"sid", "expires_at", "browser_close"} {
		if claims.has(name) {
			t.Errorf("claim %q present without a session: %s", name, r.seen.payload)
		}
	}
	if string(claims.raw["data"]) != "{}" {
		t.Errorf("data = %s, want {}", claims.raw["data"])
	}
	if !claims.New {
		t.Error("new = false without a session")
	}
	if claims.Exp-claims.Iat != 60 {
		t.Errorf("exp - iat = %d, want 60 (the default token_ttl)", claims.Exp-claims.Iat)
	}
	if claims.Iat < before-1 || claims.Iat > after+1 {
		t.Errorf("iat = %d, want the time of the request (%d..%d)", claims.Iat, before, after)
	}
}

func ctTestClaimsWithSession(t *testing.T, e *ctEnv) {
	c := newClient(t)
	w := e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	if claims := ctToken(t, w); !claims.New || claims.has("sid") {
		t.Fatalf("the request that creates the session: new=%v, payload %s; want new and no sid", claims.New, w.seen.payload)
	}
	r := e.ok(t, c, ctCall{})
	claims := ctToken(t, r)
	for _, name := range []string{"data", "iat", "exp", "new", "sid", "expires_at", "browser_close"} {
		if !claims.has(name) {
			t.Errorf("claim %q missing with a session: %s", name, r.seen.payload)
		}
	}
	if claims.New {
		t.Error("new = true with a stored session")
	}
	if claims.SID == "" {
		t.Error("sid is empty")
	}
	if claims.BrowserClose {
		t.Error("browser_close = true by default")
	}
	if claims.Exp-claims.Iat != 60 {
		t.Errorf("exp - iat = %d, want 60", claims.Exp-claims.Iat)
	}
	ctNear(t, "expires_at", claims.ExpiresAt, ctResponseDate(t, w.resp).Unix()+1209600, 2)
	ctWantData(t, claims, map[string]string{"a": "1"})
}

func ctTestTokenTTL(t *testing.T, e *ctEnv) {
	c := newClient(t)
	for _, step := range []string{"no session", "session"} {
		if step == "session" {
			e.write(t, c, "/ttl30/", "X-Session-Set", `{"a":1}`)
		}
		claims := e.read(t, c, "/ttl30/")
		if step == "session" && claims.New {
			t.Fatal("no session on the token_ttl route")
		}
		if claims.Exp-claims.Iat != 30 {
			t.Errorf("%s: exp - iat = %d, want 30", step, claims.Exp-claims.Iat)
		}
	}
}

func ctTestSID(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	key1 := ctJarKey(t, e, c, "/", "sessionid")
	sid1 := e.read(t, c, "/").SID
	if again := e.read(t, c, "/").SID; again != sid1 {
		t.Fatalf("sid changed between two reads: %q then %q", sid1, again)
	}
	if sid1 == "" || sid1 == key1 || strings.Contains(sid1, key1) || strings.Contains(key1, sid1) {
		t.Fatalf("sid %q reveals the cookie value %q", sid1, key1)
	}

	other := newClient(t)
	e.write(t, other, "/", "X-Session-Set", `{"a":1}`)
	if sid := e.read(t, other, "/").SID; sid == sid1 {
		t.Fatalf("two sessions share the sid %q", sid)
	}

	e.write(t, c, "/", "X-Session-Cycle-Key", "1")
	key2 := ctJarKey(t, e, c, "/", "sessionid")
	if key2 == key1 {
		t.Fatal("cycle key kept the key")
	}
	claims := e.read(t, c, "/")
	if claims.SID == sid1 || claims.SID == "" || claims.SID == key2 {
		t.Fatalf("sid after cycle key = %q (before %q, cookie %q)", claims.SID, sid1, key2)
	}
	if again := e.read(t, c, "/").SID; again != claims.SID {
		t.Fatalf("sid not stable after cycle key: %q then %q", claims.SID, again)
	}
}

// A request without a cookie, or whose cookie names no stored session,
// gets new=true and an empty session, never an error.
func ctTestNewWithBadCookie(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"secret":"s3cr3t"}`)
	real := ctJarKey(t, e, c, "/", "sessionid")
	tampered := real[:31] + "a"
	if real[31] == 'a' {
		tampered = real[:31] + "b"
	}
	cases := []struct{ name, cookie string }{
		{"no cookie", ""},
		{"garbage", "sessionid=not a key; x=1"},
		{"unknown key", "sessionid=" + session.NewKey()},
		{"tampered key", "sessionid=" + tampered},
		{"key in upper case", "sessionid=" + strings.ToUpper(real)},
		{"key with a suffix", "sessionid=" + real + "0"},
		{"key cut short", "sessionid=" + real[:31]},
		{"path traversal", "sessionid=../../../../etc/passwd"},
		{"empty value", "sessionid="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := ctCall{}
			if tc.cookie != "" {
				call.header = ctLines("Cookie", tc.cookie)
			}
			claims := ctToken(t, e.ok(t, ctRawClient(), call))
			if !claims.New || claims.has("sid") || claims.has("expires_at") {
				t.Fatalf("claims %v %v; want new, no sid", claims.New, claims.raw)
			}
			ctWantData(t, claims, nil)
		})
	}
	// The real session is untouched by all that.
	ctWantData(t, e.read(t, c, "/"), map[string]string{"secret": `"s3cr3t"`})
}

// The session cookie is removed from the upstream's Cookie header; every
// other cookie arrives as the client sent it.
func ctTestCookieWithheld(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	key := ctJarKey(t, e, c, "/", "sessionid")

	cases := []struct {
		name, cookie string
		want         []string // cookie pairs at the upstream
	}{
		{"among others", "theme=dark; sessionid=" + key + "; csrftoken=abc=def; sessionidx=1; xsessionid=2",
			[]string{"theme=dark", "csrftoken=abc=def", "sessionidx=1", "xsessionid=2"}},
		{"first", "sessionid=" + key + "; theme=dark", []string{"theme=dark"}},
		{"alone", "sessionid=" + key, nil},
		{"stale cookie", "sessionid=" + session.NewKey() + "; theme=dark", []string{"theme=dark"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.ok(t, ctRawClient(), ctCall{header: ctLines("Cookie", tc.cookie)})
			var got []string
			for _, line := range r.seen.header.Values("Cookie") {
				for p := range strings.SplitSeq(line, ";") {
					if p = strings.TrimSpace(p); p != "" {
						got = append(got, p)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("upstream cookies %q, want %q", got, tc.want)
			}
			if tc.name != "stale cookie" {
				ctWantData(t, ctToken(t, r), map[string]string{"a": "1"})
			}
		})
	}
}

func ctTestPassCookie(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/pass/", "X-Session-Set", `{"a":1}`)
	key := ctJarKey(t, e, c, "/pass/", "sessionid")
	r := e.ok(t, ctRawClient(), ctCall{path: "/pass/", header: ctLines("Cookie", "theme=dark; sessionid="+key)})
	ctWantData(t, ctToken(t, r), map[string]string{"a": "1"})
	got := r.seen.header.Get("Cookie")
	if !strings.Contains(got, "sessionid="+key) || !strings.Contains(got, "theme=dark") {
		t.Fatalf("upstream Cookie %q, want the session cookie and theme=dark", got)
	}
}

// With `header X-App-Sess`, the token travels in X-App-Sess, the updates in
// X-App-Sess-*, and both directions are stripped under that name.
func ctTestCustomHeader(t *testing.T, e *ctEnv) {
	const base = "X-App-Sess"
	c := newClient(t)
	w := e.do(t, c, ctCall{path: "/hdr/", base: base,
		header: ctLines("X-App-Sess", "forged", "x_app_sess_set", `{"evil":1}`, "X.App.Sess.Flush", "1"),
		answer: ctLines("X-App-Sess-Set", `{"app":1}`, "x_app_sess_set", `{"low":2}`, "X-Other", "kept"),
	})
	ctWantStatus(t, w, http.StatusOK)
	if !slices.Equal(w.seen.family, []string{base}) {
		t.Fatalf("%s headers at the upstream: %v, want only %s", base, w.seen.family, base)
	}
	ctToken(t, w)
	if v := w.seen.header.Values("X-Session"); len(v) > 0 {
		t.Fatalf("the token went out as X-Session too: %q", v)
	}
	ctNoFamily(t, w.resp, base)
	if w.resp.Header.Get("X-Other") != "kept" {
		t.Fatalf("an ordinary response header was lost: %v", w.resp.Header)
	}
	ctSetCookie(t, w.resp, "sessionid")

	// X-Session-* means nothing on this route.
	e.ok(t, c, ctCall{path: "/hdr/", base: base, answer: ctLines("X-Session-Set", `{"ignored":1}`, "X-Session-Flush", "1")})
	claims := ctToken(t, e.ok(t, c, ctCall{path: "/hdr/", base: base}))
	ctWantData(t, claims, map[string]string{"app": "1", "low": "2"})
}
