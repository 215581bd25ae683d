package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-session/caddy-session/session"
)

// A scripted session's life logs each end reason with its sid and store,
// explains each decision at debug level, and never logs a session key or
// a session value.
func TestLogs(t *testing.T) {
	h := newHandler(t, &Handler{CookieName: "logs"})
	t.Cleanup(func() { _ = h.Cleanup() })
	core, logs := observer.New(zapcore.DebugLevel)
	h.logger = zap.New(core)

	var cookies []string // every session key the flow used
	cookie := func(w *httptest.ResponseRecorder) *http.Cookie {
		for _, c := range w.Result().Cookies() {
			if c.Name == "logs" && c.Value != "" {
				cookies = append(cookies, c.Value)
				return c
			}
		}
		return nil
	}
	do := func(c *http.Cookie, answer http.Header) (*httptest.ResponseRecorder, error) {
		r := newRequest("GET", "/")
		if c != nil {
			r.AddCookie(c)
		}
		return serve(t, h, r, nil, &upstream{header: answer})
	}
	const secretValue = "value-never-logged"
	w, _ := do(nil, http.Header{"X-Session-Set": {`{"user":"` + secretValue + `"}`}})
	c := cookie(w)
	do(c, nil)
	unknown := unknownKey()
	do(&http.Cookie{Name: "logs", Value: unknown}, nil)
	cookies = append(cookies, unknown)
	do(&http.Cookie{Name: "logs", Value: "tampered!"}, nil)
	w, _ = do(c, http.Header{"X-Session-Cycle-Key": {"1"}})
	c = cookie(w)
	do(c, http.Header{"X-Session-Flush": {"1"}})

	// interrupted: a logout lands while another request is being served.
	w, _ = do(nil, http.Header{"X-Session-Set": {`{"user":"` + secretValue + `"}`}})
	c = cookie(w)
	r := newRequest("GET", "/")
	r.AddCookie(c)
	_ = h.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		do(c, http.Header{"X-Session-Flush": {"1"}})
		w.Header().Set("X-Session-Set", `{"more":"`+secretValue+`"}`)
		w.WriteHeader(http.StatusOK)
		return nil
	}))

	// expired: a session last used two hours ago meets an idle timeout of
	// one hour. (Once the timeout is on, the store forgets such a session
	// itself, and the cookie names no stored session: a miss.)
	old := strconv.FormatInt(time.Now().Add(-2*time.Hour).Unix(), 10)
	w, _ = do(nil, http.Header{"X-Session-Set": {`{"user":"` + secretValue + `"}`}})
	c = cookie(w)
	// Only the handler writes the access time (an upstream's Set of it is
	// ignored): date it back in the store itself.
	if _, err := h.manager.Store.Save(t.Context(), c.Value, session.Change{Mode: session.ModeUpdate, Set: session.Data{session.AccessedKey: []byte(old)}}); err != nil {
		t.Fatal(err)
	}
	h.manager.Config.IdleTimeout = time.Hour
	do(c, nil)

	ended := map[string]map[string]any{}
	var messages []string
	for _, e := range logs.All() {
		fields := e.ContextMap()
		messages = append(messages, e.Message)
		if e.Message == "session ended" {
			ended[fmt.Sprint(fields["reason"])] = fields
		}
		line := fmt.Sprint(e.Message, fields)
		for _, k := range cookies {
			if strings.Contains(line, k) {
				t.Errorf("a log line holds a session key: %s", line)
			}
		}
		if strings.Contains(line, secretValue) {
			t.Errorf("a log line holds a session value: %s", line)
		}
	}
	for _, reason := range []string{endFlushed, endInterrupted, endExpired} {
		f, ok := ended[reason]
		if !ok {
			t.Errorf("no \"session ended\" line with reason %s; lines: %q", reason, messages)
			continue
		}
		if f["store"] != "memory" || f["sid"] == "" || f["sid"] == nil {
			t.Errorf("session ended (%s) fields = %v; want store memory and a sid", reason, f)
		}
	}
	if ended[endExpired]["timeout"] != "idle" {
		t.Errorf("expired session: %v, want timeout idle", ended[endExpired])
	}
	for _, want := range []string{
		"no session cookie: new session",
		"cookie named a live session: loaded",
		"cookie named no stored session (expired, ended or unknown): new session",
		"session cookie is not a session key (malformed or tampered): new session",
		"session saved under a new key",
		"session key cycled: the old key is dead, the data moved to a new one",
		"session flushed: its key is dead",
		"no session change: nothing saved",
	} {
		found := false
		for _, m := range messages {
			found = found || m == want
		}
		if !found {
			t.Errorf("no debug line %q", want)
		}
	}
}
