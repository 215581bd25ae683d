package integration

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
)

// After scripted traffic, the session metrics on Caddy's admin /metrics
// have moved by exactly what the traffic did, and hold no sid or key.
func TestMetricsEndpoint(t *testing.T) {
	up := newOpsUpstream(t)
	up.answer("/login", "X-Session-Set", `{"user":"alice"}`)
	up.answer("/bad", "X-Session-Set", `{"user":`)
	up.answer("/many", "X-Session-Set", `{"a":1,"b":2,"c":3}`)
	up.answer("/logout", "X-Session-Flush", "1")
	up.answer("/policy/login", "X-Session-Set", `{"_auth_user_id":"1"}`)
	entered, release := make(chan struct{}), make(chan struct{})
	up.handle("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		w.Header().Set("X-Session-Set", `{"late":true}`)
	})
	down := "127.0.0.1:" + strconv.Itoa(testredis.FreePort(t)) // no Redis there
	c := startCaddy(t, "", `@anon {
	path /app/*
	not session user
}
redir @anon /login 302
handle /down/* {
	session {
		secret {env.SESSION_SECRET}
		cookie_name down
		store redis {
			address `+down+`
			dial_timeout 1s
			timeout 1s
		}
	}
	respond "unreachable"
}
handle /policy/* {
	session {
		secret {env.SESSION_SECRET}
		store memory
		cookie_name policy
		deny_write _auth*
	}
	reverse_proxy `+up.host+`
}
handle {
	session {
		secret {env.SESSION_SECRET}
		store memory
		max_update_keys 2
	}
	reverse_proxy `+up.host+`
}`)
	before, _ := opsMetrics(t, c)

	client := newClient(t)
	expect := func(path string, status int) {
		t.Helper()
		if got, body, _ := opsGet(t, client, c.URL+path); got != status {
			t.Fatalf("GET %s = %d %q, want %d", path, got, body, status)
		}
	}
	expect("/login", http.StatusOK)
	expect("/app/page", http.StatusOK) // the gate's matcher and the handler: one load
	expect("/bad", http.StatusBadGateway)
	expect("/many", http.StatusBadGateway)
	// A save that a concurrent logout interrupts.
	slow := getStatus(client, c.URL+"/slow")
	<-entered
	expect("/logout", http.StatusOK)
	close(release)
	if got := <-slow; got != http.StatusBadRequest {
		t.Fatalf("interrupted save: %d, want 400", got)
	}
	if got, _, _ := opsGet(t, newClient(t), c.URL+"/policy/login"); got != http.StatusBadGateway {
		t.Fatalf("an update against deny_write: %d, want 502", got)
	}
	unknown := session.NewRealm([]byte(testSecret)).New() // a key these sites could have issued
	for path, cookie := range map[string]string{"/": "sessionid", "/down/x": "down"} {
		req, _ := http.NewRequest("GET", c.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: cookie, Value: unknown})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[string]int{"/": 200, "/down/x": 503}[path]; resp.StatusCode != want {
			t.Fatalf("GET %s with an unknown cookie: %d, want %d", path, resp.StatusCode, want)
		}
	}

	after, text := opsMetrics(t, c)
	for series, want := range map[string]float64{
		`caddy_session_loads_total{result="hit",store="memory"}`:                      5, // app, bad, many, slow, logout
		`caddy_session_loads_total{result="miss",store="memory"}`:                     1,
		`caddy_session_loads_total{result="error",store="redis"}`:                     1,
		`caddy_session_saves_total{op="create",store="memory"}`:                       1,
		`caddy_session_saves_total{op="flush",store="memory"}`:                        1,
		`caddy_session_store_duration_seconds_count{op="load",store="memory"}`:        6,
		`caddy_session_store_duration_seconds_count{op="save",store="memory"}`:        5, // login, many, slow, logout, policy/login
		`caddy_session_store_errors_total{kind="connection",op="load",store="redis"}`: 1,
		`caddy_session_interrupted_saves_total{store="memory"}`:                       1,
		`caddy_session_update_rejections_total{reason="malformed",store="memory"}`:    1,
		`caddy_session_update_rejections_total{reason="policy",store="memory"}`:       1,
		`caddy_session_limit_refusals_total{limit="max_update_keys",store="memory"}`:  1,
		`caddy_session_ended_total{reason="flushed",store="memory"}`:                  1,
		`caddy_session_ended_total{reason="interrupted",store="memory"}`:              1,
		`caddy_session_size_bytes_count{store="memory"}`:                              5,
		`caddy_session_size_bytes_bucket{store="memory",le="64"}`:                     5, // {"user":"alice"}
	} {
		if _, ok := after[series]; !ok {
			t.Errorf("%s is not exported", series)
			continue
		}
		if _, ok := before[series]; !ok {
			t.Errorf("%s was not exported before any traffic (at 0)", series)
		}
		if d := after[series] - before[series]; d != want {
			t.Errorf("%s moved by %v, want %v", series, d, want)
		}
	}
	for _, leak := range []string{unknown, "alice", "sid="} {
		if strings.Contains(text, leak) {
			t.Errorf("the metrics hold %q", leak)
		}
	}
	if t.Failed() {
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "caddy_session_") {
				lines = append(lines, l)
			}
		}
		fmt.Println(strings.Join(lines, "\n"))
	}
}
