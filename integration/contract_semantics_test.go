package integration

// Contract, "Session semantics (Django's, kept exactly)".

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // the WebSocket accept key is defined with SHA-1
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // counts the db store's rows

	"github.com/caddy-session/caddy-session/session"
)

var ctSemanticsCases = []ctCase{
	{"key format", ctTestKeyFormat},
	{"a cookie naming no stored session is not adopted", ctTestNoAdoption},
	{"no cookie until the session holds data", ctTestNoCookieUntilData},
	{"cookie resent only when modified", ctTestCookieOnlyWhenModified},
	{"save_every_request resends the cookie", ctTestSaveEveryRequest},
	{"cookie age", ctTestCookieAge},
	{"cookie attributes", ctTestCookieAttributes},
	{"cookie deleted when the session empties", ctTestCookieDeleted},
	{"Vary Cookie on every response", ctTestVaryCookie},
	{"reading does not extend expiry", ctTestReadDoesNotExtend},
	{"5xx persists nothing", ctTestServerErrorPersistsNothing},
	{"other statuses persist", ctTestOtherStatusesPersist},
	{"concurrent writes to different keys", ctTestConcurrentDifferentKeys},
	{"concurrent writes to one key", ctTestConcurrentSameKey},
	{"WebSocket upgrade", ctTestWebSocket},
	{"server-sent events keep flushing", ctTestServerSentEvents},
	{"large bodies", ctTestLargeBodies},
}

func ctTestKeyFormat(t *testing.T, e *ctEnv) {
	seen := map[string]bool{}
	for range 5 {
		w := e.write(t, newClient(t), "/", "X-Session-Set", `{"a":1}`)
		key := ctSetCookie(t, w.resp, "sessionid").Value
		if !ctKeyRE.MatchString(key) {
			t.Fatalf("session key %q is not 32 characters of [a-z0-9]", key)
		}
		if seen[key] {
			t.Fatalf("session key %q handed out twice", key)
		}
		seen[key] = true
	}
}

// A write under a cookie that names no stored session gets a fresh key.
func ctTestNoAdoption(t *testing.T, e *ctEnv) {
	victim := newClient(t)
	e.write(t, victim, "/", "X-Session-Set", `{"owner":"victim"}`)
	real := ctJarKey(t, e, victim, "/", "sessionid")
	tampered := real[:31] + "a"
	if real[31] == 'a' {
		tampered = real[:31] + "b"
	}
	for _, tc := range []struct{ name, value string }{
		{"unknown key", session.NewKey()},
		{"tampered key", tampered},
		{"garbage", "not-a-key"},
		{"upper case", strings.ToUpper(real)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.ok(t, ctRawClient(), ctCall{
				header: ctLines("Cookie", "sessionid="+tc.value),
				answer: ctLines("X-Session-Set", `{"owner":"attacker"}`),
			})
			key := ctSetCookie(t, w.resp, "sessionid").Value
			if key == tc.value || key == real || !ctKeyRE.MatchString(key) {
				t.Fatalf("the write got key %q for cookie %q, want a fresh key", key, tc.value)
			}
			ctWantData(t, e.readWithCookie(t, "/", "sessionid", key), map[string]string{"owner": `"attacker"`})
			if ctKeyRE.MatchString(tc.value) {
				if claims := e.readWithCookie(t, "/", "sessionid", tc.value); !claims.New {
					t.Fatalf("the cookie's key %q was adopted: %s", tc.value, claims.raw)
				}
			}
		})
	}
	ctWantData(t, e.read(t, victim, "/"), map[string]string{"owner": `"victim"`})
}

func ctTestNoCookieUntilData(t *testing.T, e *ctEnv) {
	cases := []struct {
		name, path string
		lines      []string
	}{
		{"no update", "/", nil},
		{"empty Set", "/", []string{"X-Session-Set", "{}"}},
		{"Delete without a session", "/", []string{"X-Session-Delete", `["a"]`}},
		{"Clear without a session", "/", []string{"X-Session-Clear", "1"}},
		{"Flush without a session", "/", []string{"X-Session-Flush", "1"}},
		{"Cycle-Key without a session", "/", []string{"X-Session-Cycle-Key", "1"}},
		{"save_every_request, no data", "/every/", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			w := e.write(t, c, tc.path, tc.lines...)
			ctNoSetCookie(t, w.resp)
			if claims := e.read(t, c, tc.path); !claims.New {
				t.Fatalf("a session exists: %s", claims.raw)
			}
		})
	}
}

func ctTestCookieOnlyWhenModified(t *testing.T, e *ctEnv) {
	c := newClient(t)
	key := ctSetCookie(t, e.write(t, c, "/", "X-Session-Set", `{"a":1}`).resp, "sessionid").Value
	for range 2 {
		r := e.ok(t, c, ctCall{})
		ctNoSetCookie(t, r.resp)
	}
	// Setting a key to the value it holds is a modification, as in Django.
	w := e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	if got := ctSetCookie(t, w.resp, "sessionid").Value; got != key {
		t.Fatalf("key changed from %s to %s", key, got)
	}
}

func ctTestSaveEveryRequest(t *testing.T, e *ctEnv) {
	c := newClient(t)
	key := ctSetCookie(t, e.write(t, c, "/every/", "X-Session-Set", `{"a":1}`).resp, "sessionid").Value
	for range 2 {
		r := e.ok(t, c, ctCall{path: "/every/"})
		ck := ctSetCookie(t, r.resp, "sessionid")
		if ck.Value != key {
			t.Fatalf("key changed from %s to %s", key, ck.Value)
		}
		ctNear(t, "Max-Age", int64(ck.MaxAge), 1209600, 2)
	}
	ctWantData(t, e.read(t, c, "/every/"), map[string]string{"a": "1"})
}

func ctTestCookieAge(t *testing.T, e *ctEnv) {
	cases := []struct {
		name, path   string
		lines        []string
		maxAge       int64 // 0: no Max-Age nor Expires
		browserClose bool
	}{
		{"default 14 days", "/", nil, 1209600, false},
		{"cookie_age 1h", "/age/", nil, 3600, false},
		{"expire_at_browser_close", "/browser/", nil, 0, true},
		{"expire_at_browser_close with Expiry", "/browser/", []string{"X-Session-Expiry", "600"}, 600, false},
		{"Expiry 0", "/", []string{"X-Session-Expiry", "0"}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			w := e.write(t, c, tc.path, append([]string{"X-Session-Set", `{"a":1}`}, tc.lines...)...)
			ck := ctSetCookie(t, w.resp, "sessionid")
			attrs := ctAttrs(ck.Raw)
			_, hasMaxAge := attrs["max-age"]
			_, hasExpires := attrs["expires"]
			if tc.maxAge == 0 {
				if hasMaxAge || hasExpires {
					t.Fatalf("browser-close cookie %q has Max-Age or Expires", ck.Raw)
				}
			} else {
				if !hasMaxAge || !hasExpires {
					t.Fatalf("cookie %q lacks Max-Age or Expires", ck.Raw)
				}
				ctNear(t, "Max-Age", int64(ck.MaxAge), tc.maxAge, 2)
				ctNear(t, "Expires - Date", ck.Expires.Unix()-ctResponseDate(t, w.resp).Unix(), tc.maxAge, 2)
			}
			if claims := e.read(t, c, tc.path); claims.BrowserClose != tc.browserClose {
				t.Fatalf("browser_close = %v, want %v", claims.BrowserClose, tc.browserClose)
			}
		})
	}
}

func ctTestCookieAttributes(t *testing.T, e *ctEnv) {
	cases := []struct {
		name, path, cookie string
		want               map[string]string // lower-case attribute -> value; "" for flags
		absent             []string
	}{
		{"defaults", "/", "sessionid",
			map[string]string{"path": "/", "httponly": "", "samesite": "Lax"},
			[]string{"domain", "secure"}},
		{"configured", "/attrs/", "app_sess",
			map[string]string{"path": "/attrs", "domain": "example.test", "secure": "", "samesite": "Strict"},
			[]string{"httponly"}},
		{"samesite none", "/none/", "sessionid",
			map[string]string{"path": "/", "secure": "", "samesite": "None", "httponly": ""},
			[]string{"domain"}},
	}
	check := func(t *testing.T, raw string, want map[string]string, absent []string) {
		t.Helper()
		attrs := ctAttrs(raw)
		for k, v := range want {
			if got, ok := attrs[k]; !ok || !strings.EqualFold(got, v) {
				t.Errorf("Set-Cookie %q: attribute %s = %q (present %v), want %q", raw, k, got, ok, v)
			}
		}
		for _, k := range absent {
			if _, ok := attrs[k]; ok {
				t.Errorf("Set-Cookie %q has %s", raw, k)
			}
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := e.write(t, ctRawClient(), tc.path, "X-Session-Set", `{"a":1}`)
			ck := ctSetCookie(t, w.resp, tc.cookie)
			check(t, ck.Raw, tc.want, tc.absent)

			// The deleting cookie carries the same Path and Domain, or the
			// browser would keep the real one.
			d := e.do(t, ctRawClient(), ctCall{path: tc.path,
				header: ctLines("Cookie", tc.cookie+"="+ck.Value),
				answer: ctLines("X-Session-Flush", "1")})
			ctWantStatus(t, d, http.StatusOK)
			del := ctWantDeleted(t, d.resp, tc.cookie)
			check(t, del.Raw, tc.want, tc.absent)
		})
	}
}

func ctTestCookieDeleted(t *testing.T, e *ctEnv) {
	cases := []struct {
		name   string
		cookie func(t *testing.T) string // the cookie value the request carries
		lines  []string
	}{
		{"Clear", ctLiveKey(e), []string{"X-Session-Clear", "1"}},
		{"Flush", ctLiveKey(e), []string{"X-Session-Flush", "1"}},
		{"Delete of the last key", ctLiveKey(e), []string{"X-Session-Delete", `["a"]`}},
		{"stored session gone", func(*testing.T) string { return session.NewKey() }, nil},
		{"flushed session", func(t *testing.T) string {
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
			key := ctJarKey(t, e, c, "/", "sessionid")
			e.write(t, c, "/", "X-Session-Flush", "1")
			return key
		}, nil},
		{"garbage cookie", func(*testing.T) string { return "garbage" }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.cookie(t)
			r := e.ok(t, ctRawClient(), ctCall{header: ctLines("Cookie", "sessionid="+key), answer: ctLines(tc.lines...)})
			ctWantDeleted(t, r.resp, "sessionid")
			if claims := e.readWithCookie(t, "/", "sessionid", key); !claims.New {
				t.Fatalf("the session still exists: %s", claims.raw)
			}
		})
	}
	t.Run("jar forgets the cookie", func(t *testing.T) {
		c := newClient(t)
		e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
		e.write(t, c, "/", "X-Session-Flush", "1")
		if k := ctJarKey(t, e, c, "/", "sessionid"); k != "" {
			t.Fatalf("the browser still holds the cookie %q", k)
		}
	})
}

// ctLiveKey returns a func making a session {"a":1} and returning its key.
func ctLiveKey(e *ctEnv) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		c := newClient(t)
		e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
		return ctJarKey(t, e, c, "/", "sessionid")
	}
}

func ctTestVaryCookie(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	cases := []struct {
		name   string
		client *http.Client
		call   ctCall
	}{
		{"no session, no update", ctRawClient(), ctCall{}},
		{"creating a session", ctRawClient(), ctCall{answer: ctLines("X-Session-Set", `{"a":1}`)}},
		{"reading a session", c, ctCall{}},
		{"404", c, ctCall{status: http.StatusNotFound}},
		{"500", c, ctCall{status: http.StatusInternalServerError, answer: ctLines("X-Session-Set", `{"b":1}`)}},
		{"302", c, ctCall{status: http.StatusFound, answer: ctLines("Location", "/next")}},
		{"malformed update (502)", c, ctCall{answer: ctLines("X-Session-Set", "{")}},
		{"upstream's own Vary", c, ctCall{answer: ctLines("Vary", "Accept-Encoding")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.client, tc.call)
			if !ctVaryCookie(r.resp) {
				t.Fatalf("status %d: Vary %q lacks Cookie", r.resp.StatusCode, r.resp.Header.Values("Vary"))
			}
			if tc.name == "upstream's own Vary" && !strings.Contains(strings.Join(r.resp.Header.Values("Vary"), ","), "Accept-Encoding") {
				t.Fatalf("the upstream's Vary was lost: %q", r.resp.Header.Values("Vary"))
			}
		})
	}
}

// Expiry counts from the last modification: a read leaves expires_at alone,
// unless save_every_request.
func ctTestReadDoesNotExtend(t *testing.T, e *ctEnv) {
	plain, every := newClient(t), newClient(t)
	e.write(t, plain, "/", "X-Session-Set", `{"a":1}`)
	e.write(t, every, "/every/", "X-Session-Set", `{"a":1}`)
	plainAt := e.read(t, plain, "/").ExpiresAt
	everyAt := e.read(t, every, "/every/").ExpiresAt
	// Let the clock move on by whole seconds, so that a re-save would show.
	written := max(plainAt, everyAt) - 1209600
	ctEventually(t, 5*time.Second, "the clock to move on", func() bool { return time.Now().Unix() >= written+2 })

	for range 2 {
		r := e.ok(t, plain, ctCall{})
		ctNoSetCookie(t, r.resp)
		if got := ctToken(t, r).ExpiresAt; got != plainAt {
			t.Fatalf("a read moved expires_at from %d to %d", plainAt, got)
		}
	}
	r := e.ok(t, every, ctCall{path: "/every/"})
	ctSetCookie(t, r.resp, "sessionid")
	if got := e.read(t, every, "/every/").ExpiresAt; got <= everyAt {
		t.Fatalf("save_every_request: expires_at %d after a read, want later than %d", got, everyAt)
	}
}

func ctTestServerErrorPersistsNothing(t *testing.T, e *ctEnv) {
	cases := []struct {
		status int
		lines  []string
	}{
		{500, []string{"X-Session-Set", `{"b":2}`, "X-Session-Delete", `["a"]`, "X-Session-Cycle-Key", "1"}},
		{502, []string{"X-Session-Clear", "1"}},
		{503, []string{"X-Session-Flush", "1"}},
		{504, []string{"X-Session-Expiry", "0", "X-Session-Set", `{"c":3}`}},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
			before := e.read(t, c, "/")
			r := e.do(t, c, ctCall{status: tc.status, answer: ctLines(tc.lines...), respBody: "UPSTREAM-ERROR"})
			ctWantStatus(t, r, tc.status)
			if string(r.body) != "UPSTREAM-ERROR" {
				t.Errorf("the upstream's error body did not pass: %q", r.body)
			}
			ctNoSetCookie(t, r.resp)
			ctNoFamily(t, r.resp, "X-Session")
			after := e.read(t, c, "/")
			ctWantData(t, after, map[string]string{"a": "1"})
			if after.SID != before.SID || after.ExpiresAt != before.ExpiresAt || after.BrowserClose {
				t.Fatalf("the session changed: %s -> %s", before.raw, after.raw)
			}
		})
	}
	t.Run("no session", func(t *testing.T) {
		c := newClient(t)
		r := e.do(t, c, ctCall{status: 500, answer: ctLines("X-Session-Set", `{"a":1}`)})
		ctWantStatus(t, r, 500)
		ctNoSetCookie(t, r.resp)
		if claims := e.read(t, c, "/"); !claims.New {
			t.Fatalf("a session was created: %s", claims.raw)
		}
	})
}

func ctTestOtherStatusesPersist(t *testing.T, e *ctEnv) {
	for _, status := range []int{302, 303, 201, 204, 400, 401, 403, 404} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			c := newClient(t)
			lines := []string{"X-Session-Set", `{"user":"alice"}`}
			if status/100 == 3 {
				lines = append(lines, "Location", "/home")
			}
			r := e.do(t, c, ctCall{status: status, answer: ctLines(lines...)})
			ctWantStatus(t, r, status)
			if status/100 == 3 && r.resp.Header.Get("Location") != "/home" {
				t.Errorf("Location %q", r.resp.Header.Get("Location"))
			}
			ctSetCookie(t, r.resp, "sessionid")
			ctWantData(t, e.read(t, c, "/"), map[string]string{"user": `"alice"`})
		})
	}
}

// ctBarrier holds the upstream's handlers until n requests are inside it
// (or a deadline passes), so that all of them load the session before any
// commits.
type ctBarrier struct {
	n       int
	mu      sync.Mutex
	count   int
	full    chan struct{}
	timeout atomic.Bool
}

func newCtBarrier(n int) *ctBarrier { return &ctBarrier{n: n, full: make(chan struct{})} }

func (b *ctBarrier) wait() {
	b.mu.Lock()
	b.count++
	if b.count == b.n {
		close(b.full)
	}
	b.mu.Unlock()
	select {
	case <-b.full:
	case <-time.After(10 * time.Second):
		b.timeout.Store(true)
	}
}

// ctConcurrent sends the calls at once with a client without a jar that
// carries cookie, and requires each to answer 200.
func ctConcurrent(t *testing.T, e *ctEnv, cookie string, calls []ctCall) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: len(calls)}}
	t.Cleanup(client.CloseIdleConnections)
	reqs := make([]*http.Request, len(calls))
	for i := range calls {
		calls[i].header = append(calls[i].header, [2]string{"Cookie", cookie})
		reqs[i], _ = e.newRequest(t, &calls[i])
	}
	errs := make(chan error, len(reqs))
	var wg sync.WaitGroup
	for _, req := range reqs {
		wg.Go(func() {
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func ctTestConcurrentDifferentKeys(t *testing.T, e *ctEnv) {
	const n = 32
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"init":true}`)
	key := ctJarKey(t, e, c, "/", "sessionid")
	b := newCtBarrier(n)
	calls := make([]ctCall, n)
	want := map[string]string{"init": "true"}
	for i := range calls {
		calls[i] = ctCall{before: b.wait, answer: ctLines("X-Session-Set", fmt.Sprintf(`{"k%02d":%d}`, i, i))}
		want[fmt.Sprintf("k%02d", i)] = strconv.Itoa(i)
	}
	ctConcurrent(t, e, "sessionid="+key, calls)
	if b.timeout.Load() {
		t.Logf("not all %d requests were in the upstream at once", n)
	}
	ctWantData(t, e.read(t, c, "/"), want)
	if got := ctJarKey(t, e, c, "/", "sessionid"); got != key {
		t.Fatalf("the key changed from %s to %s", key, got)
	}
}

func ctTestConcurrentSameKey(t *testing.T, e *ctEnv) {
	const n = 32
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"v":"initial"}`)
	key := ctJarKey(t, e, c, "/", "sessionid")
	b := newCtBarrier(n)
	calls := make([]ctCall, n)
	values := map[string]bool{}
	for i := range calls {
		v := strings.Repeat(fmt.Sprintf("%02d", i), 600) // two values stay under max_session_size
		values[strconv.Quote(v)] = true
		calls[i] = ctCall{before: b.wait, answer: ctLines("X-Session-Set", fmt.Sprintf(`{"v":%q,"w":%q}`, v, v))}
	}
	ctConcurrent(t, e, "sessionid="+key, calls)
	got := e.read(t, c, "/").data()
	if !values[got["v"]] {
		t.Fatalf("v is none of the values written (torn?): %.80s…", got["v"])
	}
	if got["w"] != got["v"] {
		t.Fatalf("v and w come from different updates: one response's update was not applied whole")
	}
}

// The token rides on the upgrade request, and an update on the 101 is
// applied; the tunnel then works both ways.
func ctTestWebSocket(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"user":"alice"}`)
	key := ctJarKey(t, e, c, "/", "sessionid")

	const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="
	sum := sha1.Sum([]byte(wsKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) //nolint:gosec // RFC 6455
	accept := base64.StdEncoding.EncodeToString(sum[:])
	call := &ctCall{serve: func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + accept + "\r\n" +
			"X-Session-Set: {\"ws\":true}\r\nx_session_delete: [\"user\"]\r\n\r\n")
		_ = brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = brw.WriteString("echo:" + line)
			_ = brw.Flush()
		}
	}}
	id := e.up.register(call)

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.caddy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // a hang fails the test instead of stalling it
	fmt.Fprintf(conn, "GET /?cs=%s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nCookie: sessionid=%s\r\nX-Session-Set: {\"forged\":1}\r\n\r\n",
		id, strings.TrimPrefix(e.caddy.URL, "http://"), wsKey, key)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		t.Fatalf("status %d, want 101: %s", resp.StatusCode, body)
	}
	ctNoFamily(t, resp, "X-Session")
	if got := ctSetCookie(t, resp, "sessionid").Value; got != key {
		t.Errorf("the 101 set key %s, want %s", got, key)
	}

	seen := e.up.seenFor(id)
	if seen == nil || seen.verifyErr != nil {
		t.Fatalf("upgrade request token: %+v", seen)
	}
	ctWantData(t, seen.claims, map[string]string{"user": `"alice"`})
	if len(seen.family) != 1 {
		t.Fatalf("session headers on the upgrade request: %v", seen.family)
	}

	for _, msg := range []string{"hello", "again"} {
		fmt.Fprintf(conn, "%s\n", msg)
		line, err := br.ReadString('\n')
		if err != nil || line != "echo:"+msg+"\n" {
			t.Fatalf("through the tunnel: %q, %v", line, err)
		}
	}
	conn.Close()
	ctWantData(t, e.read(t, c, "/"), map[string]string{"ws": "true"})
}

// The first event reaches the client while the upstream is still writing.
func ctTestServerSentEvents(t *testing.T, e *ctEnv) {
	c := newClient(t)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var finished atomic.Bool
	req, _ := e.newRequest(t, &ctCall{serve: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Session-Set", `{"sse":1}`)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "data: first\n\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-time.After(15 * time.Second):
		}
		finished.Store(true)
		_, _ = io.WriteString(w, "data: second\n\n")
	}})
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "data: first\n" {
		t.Fatalf("first event: %q, %v", first, err)
	}
	if finished.Load() {
		t.Fatal("the first event arrived only after the upstream finished: the stream was buffered")
	}
	once.Do(func() { close(release) })
	rest, err := io.ReadAll(br)
	if err != nil || !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest of the stream: %q, %v", rest, err)
	}
	ctNoFamily(t, resp, "X-Session")
	ctSetCookie(t, resp, "sessionid")
	ctWantData(t, e.read(t, c, "/"), map[string]string{"sse": "1"})
}

// 20 MB each way pass intact, with a session update on the response.
func ctTestLargeBodies(t *testing.T, e *ctEnv) {
	const size = 20 << 20
	rng := rand.New(rand.NewChaCha8([32]byte{1, 2, 3}))
	up := make([]byte, size)
	for i := 0; i < size; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			up[i+j] = byte(v >> (8 * j))
		}
	}
	down := bytes.Clone(up)
	for i := range down {
		down[i] ^= 0x5a
	}
	c := newClient(t)
	r := e.ok(t, c, ctCall{method: http.MethodPost, body: up, serve: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Session-Set", `{"big":true}`)
		w.Header().Set("Content-Type", "application/octet-stream")
		for off := 0; off < len(down); off += 64 << 10 {
			if _, err := w.Write(down[off:min(off+64<<10, len(down))]); err != nil {
				return
			}
		}
	}})
	if r.seen.bodyLen != size || r.seen.bodySum != sha256.Sum256(up) {
		t.Fatalf("upstream got %d bytes (sum match %v), want %d intact", r.seen.bodyLen, r.seen.bodySum == sha256.Sum256(up), size)
	}
	if len(r.body) != size || !bytes.Equal(r.body, down) {
		t.Fatalf("client got %d bytes, want %d intact", len(r.body), size)
	}
	ctSetCookie(t, r.resp, "sessionid")
	ctWantData(t, e.read(t, c, "/"), map[string]string{"big": "true"})
}

// TestContractStoreContents looks into the store itself: nothing is stored
// until the session holds data, a flushed session is removed, and cycling
// the key leaves one stored session, not two. The memory store lives inside
// Caddy and cannot be inspected from here.
func TestContractStoreContents(t *testing.T) {
	for _, st := range ctStores {
		if st.name == "memory" {
			continue // it lives inside the Caddy process
		}
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := startCtEnv(t, st.setup(t))
			want := func(n int, after string) {
				t.Helper()
				if got := ctStoredSessions(t, e); got != n {
					t.Fatalf("after %s: %d stored sessions, want %d", after, got, n)
				}
			}
			want(0, "start")
			nothing := []struct {
				name string
				call ctCall
			}{
				{"no update", ctCall{}},
				{"empty Set", ctCall{answer: ctLines("X-Session-Set", "{}")}},
				{"Delete", ctCall{answer: ctLines("X-Session-Delete", `["a"]`)}},
				{"Clear", ctCall{answer: ctLines("X-Session-Clear", "1")}},
				{"Flush", ctCall{answer: ctLines("X-Session-Flush", "1")}},
				{"Cycle-Key", ctCall{answer: ctLines("X-Session-Cycle-Key", "1")}},
				{"Set on a 500", ctCall{status: 500, answer: ctLines("X-Session-Set", `{"a":1}`)}},
				{"Set beside a malformed header", ctCall{answer: ctLines("X-Session-Set", `{"a":1}`, "X-Session-Delete", "{")}},
				{"stale cookie", ctCall{header: ctLines("Cookie", "sessionid="+session.NewKey())}},
			}
			for _, n := range nothing {
				e.do(t, ctRawClient(), n.call)
				want(0, n.name)
			}

			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
			want(1, "a Set")
			e.write(t, c, "/", "X-Session-Cycle-Key", "1")
			want(1, "Cycle-Key")
			e.write(t, c, "/", "X-Session-Flush", "1", "X-Session-Set", `{"b":1}`)
			want(1, "Flush and Set")
			e.write(t, c, "/", "X-Session-Flush", "1")
			want(0, "Flush")
			e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
			e.write(t, c, "/", "X-Session-Delete", `["a"]`)
			want(0, "Delete of the last key")
		})
	}
}

// ctStoredSessions counts the sessions in e's file, Redis or db store.
func ctStoredSessions(t *testing.T, e *ctEnv) int {
	t.Helper()
	if e.store.redis != nil {
		client := redis.NewClient(&redis.Options{Addr: e.store.redis.Addr()})
		defer client.Close()
		n, err := client.DBSize(context.Background()).Result()
		if err != nil {
			t.Fatalf("counting Redis keys: %v", err)
		}
		return int(n)
	}
	if e.store.db != "" {
		db, err := sql.Open("sqlite", e.store.db)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM django_session`).Scan(&n); err != nil {
			t.Fatalf("counting rows: %v", err)
		}
		return n
	}
	entries, err := os.ReadDir(ctFileStoreDir(e.caddy))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	n := 0
	for _, en := range entries {
		if ctKeyRE.MatchString(en.Name()) {
			n++
		}
	}
	return n
}
