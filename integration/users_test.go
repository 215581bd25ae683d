package integration

// The per-user index and "log out everywhere" against the real Caddy: the
// admin API's /sessions/ routes and the `caddy sessions` subcommands on
// every store with an index, max_sessions_per_user, and the refusal of
// user_key on signed_cookies.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testpg"
	"github.com/caddy-session/caddy-session/internal/testredis"
)

// usersStores are the stores the index runs on end to end.
var usersStores = []struct {
	name  string
	setup func(t *testing.T) *ctStoreFixture
}{
	{"memory", func(*testing.T) *ctStoreFixture { return &ctStoreFixture{line: "store memory"} }},
	{"file", func(*testing.T) *ctStoreFixture { return &ctStoreFixture{line: "store file"} }},
	{"redis", func(t *testing.T) *ctStoreFixture {
		s := testredis.Start(t)
		return &ctStoreFixture{line: ctRedisLine(s.Addr()), redis: s}
	}},
	{"db-postgres", func(t *testing.T) *ctStoreFixture {
		_, dsn := testpg.Database(t, "users_")
		return &ctStoreFixture{line: "store db {\n\tdsn " + dsn + "\n}"}
	}},
	{"db-sqlite", func(t *testing.T) *ctStoreFixture {
		path := filepath.Join(t.TempDir(), "sessions.sqlite3")
		return &ctStoreFixture{line: "store db {\n\tdsn " + path + "\n}", db: path}
	}},
	{"cache", func(t *testing.T) *ctStoreFixture {
		s := testredis.Start(t)
		return &ctStoreFixture{line: "store cache {\n\taddress " + s.Addr() + "\n\tkey_prefix djc\n}", redis: s}
	}},
	{"cached_db", func(t *testing.T) *ctStoreFixture {
		s := testredis.Start(t)
		path := filepath.Join(t.TempDir(), "sessions.sqlite3")
		return &ctStoreFixture{line: "store cached_db {\n\tcache {\n\t\taddress " + s.Addr() + "\n\t}\n\tdb {\n\t\tdsn " + path + "\n\t}\n}", redis: s, db: path}
	}},
	{"redis-django", func(t *testing.T) *ctStoreFixture {
		s := testredis.Start(t)
		return &ctStoreFixture{line: ctRedisLine(s.Addr()) + "\ncodec django"}
	}},
	{"file-django", func(t *testing.T) *ctStoreFixture {
		return &ctStoreFixture{line: "store file\ncodec django"}
	}},
}

// admin makes one admin API call and returns the status and body.
func admin(t *testing.T, c *Caddy, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(c.AdminPort)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sessionsCmd runs `caddy sessions <args> --address <admin>`.
func sessionsCmd(t *testing.T, c *Caddy, args ...string) string {
	t.Helper()
	args = append(append([]string{"sessions"}, args...), "--address", "127.0.0.1:"+strconv.Itoa(c.AdminPort))
	out, err := runCaddy(t, c.Dir, nil, args...)
	if err != nil {
		t.Fatalf("caddy %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

type adminList struct {
	Count    int `json:"count"`
	Sessions []struct {
		SID          string `json:"sid"`
		Created      string `json:"created"`
		LastModified string `json:"last_modified"`
		ExpiresAt    string `json:"expires_at"`
	} `json:"sessions"`
}

func (l adminList) sids() []string {
	var out []string
	for _, s := range l.Sessions {
		out = append(out, s.SID)
	}
	slices.Sort(out)
	return out
}

func TestUsersAdminAndCommands(t *testing.T) {
	for _, st := range usersStores {
		t.Run(st.name, func(t *testing.T) {
			e := startCtEnv(t, st.setup(t), "user_key _auth_user_id")
			// A login as Django does it: the user id and a new key.
			login := func(user string) (*http.Client, string) {
				t.Helper()
				c := newClient(t)
				e.write(t, c, "/", "X-Session-Set", `{"cart":[1]}`)
				e.write(t, c, "/", "X-Session-Set", `{"_auth_user_id":"`+user+`"}`, "X-Session-Cycle-Key", "1")
				cl := e.read(t, c, "/")
				if cl.New || cl.SID == "" {
					t.Fatal("not logged in after the login")
				}
				return c, cl.SID
			}
			cookies := func(c *http.Client) string {
				u, _ := url.Parse(e.caddy.URL)
				var out []string
				for _, ck := range c.Jar.Cookies(u) {
					out = append(out, ck.Value)
				}
				return strings.Join(out, " ")
			}
			a, sidA := login("42")
			b, sidB := login("42")
			c, sidC := login("42")
			other, _ := login("7")
			anon := newClient(t)
			e.write(t, anon, "/", "X-Session-Set", `{"cart":[2]}`)

			list := func(user string) adminList {
				t.Helper()
				code, body := admin(t, e.caddy, "GET", "/sessions/users/"+user)
				if code != 200 {
					t.Fatalf("GET /sessions/users/%s: %d %s", user, code, body)
				}
				for _, cl := range []*http.Client{a, b, c, other, anon} {
					if k := cookies(cl); k != "" && strings.Contains(body, k) {
						t.Fatal("the listing shows a session key")
					}
				}
				var l adminList
				if err := json.Unmarshal([]byte(body), &l); err != nil {
					t.Fatal(err)
				}
				return l
			}
			l := list("42")
			if want := slices.Sorted(slices.Values([]string{sidA, sidB, sidC})); !slices.Equal(l.sids(), want) || l.Count != 3 {
				t.Fatalf("user 42's sids = %q (count %d); want the 3 the upstream saw %q", l.sids(), l.Count, want)
			}
			for _, s := range l.Sessions {
				if s.Created == "" || s.LastModified == "" || s.ExpiresAt == "" {
					t.Fatalf("a listed session lacks a time: %+v", s)
				}
			}
			if n := strings.TrimSpace(sessionsCmd(t, e.caddy, "count", "--user", "42")); n != "3" {
				t.Fatalf("caddy sessions count = %q; want 3", n)
			}
			// The admin address from the config file, as caddy reload finds it.
			cmd := exec.Command(caddyPath, "sessions", "count", "--user", "42", "--config", e.caddy.config, "--adapter", "caddyfile")
			if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "3" {
				t.Fatalf("caddy sessions count --config: %v\n%s", err, out)
			}
			if out := sessionsCmd(t, e.caddy, "list", "--user", "42"); !strings.Contains(out, sidA) || !strings.Contains(out, sidC) {
				t.Fatalf("caddy sessions list does not show the sids:\n%s", out)
			}
			if out := sessionsCmd(t, e.caddy, "handlers"); !strings.Contains(out, `"user_key": "_auth_user_id"`) {
				t.Fatalf("caddy sessions handlers:\n%s", out)
			}

			// cycle_key keeps the session listed, under its new sid.
			e.write(t, b, "/", "X-Session-Cycle-Key", "1")
			sidB = e.read(t, b, "/").SID
			if !slices.Contains(list("42").sids(), sidB) || len(list("42").Sessions) != 3 {
				t.Fatalf("after cycle_key the listing misses the session: %q", list("42").sids())
			}

			// Revoke one by sid from the shell: that browser is logged out,
			// the others are not.
			if out := sessionsCmd(t, e.caddy, "revoke", "--user", "42", "--sid", sidA); !strings.Contains(out, "revoked 1 sessions") {
				t.Fatalf("caddy sessions revoke --sid: %s", out)
			}
			if !e.read(t, a, "/").New {
				t.Fatal("the revoked session still loads")
			}
			if e.read(t, b, "/").New || e.read(t, c, "/").New {
				t.Fatal("revoking one session ended another")
			}
			if code, _ := admin(t, e.caddy, "DELETE", "/sessions/users/42/"+sidA); code != 404 {
				t.Fatalf("revoking a revoked sid: %d; want 404", code)
			}

			// A logout (flush) leaves the index.
			e.write(t, c, "/", "X-Session-Flush", "1")
			if got := list("42").sids(); !slices.Equal(got, []string{sidB}) {
				t.Fatalf("after c's logout user 42 has %q; want only b's", got)
			}

			// Log out everywhere through the admin API.
			c2, _ := login("42")
			code, body := admin(t, e.caddy, "DELETE", "/sessions/users/42")
			if code != 200 || !strings.Contains(body, `"revoked":2`) {
				t.Fatalf("DELETE /sessions/users/42: %d %s", code, body)
			}
			if !e.read(t, b, "/").New || !e.read(t, c2, "/").New {
				t.Fatal("a session survived log out everywhere")
			}
			if e.read(t, other, "/").New || e.read(t, anon, "/").New {
				t.Fatal("log out everywhere ended another user's or an anonymous session")
			}
			if code, body := admin(t, e.caddy, "GET", "/sessions/users/42/count"); code != 200 || !strings.Contains(body, `"count":0`) {
				t.Fatalf("count after: %d %s", code, body)
			}
			// And from the shell, for the other user.
			if out := sessionsCmd(t, e.caddy, "revoke", "--user", "7"); !strings.Contains(out, "revoked 1 sessions of user 7") {
				t.Fatalf("caddy sessions revoke: %s", out)
			}
			if !e.read(t, other, "/").New {
				t.Fatal("user 7's session survived caddy sessions revoke")
			}

			// Each revocation is a "session ended" line (reason revoked, the
			// sid, never the key) and counts in caddy_session_ended_total.
			_, metrics := admin(t, e.caddy, "GET", "/metrics")
			revoked := ""
			for line := range strings.Lines(metrics) {
				if strings.HasPrefix(line, `caddy_session_ended_total{reason="revoked"`) {
					revoked = strings.TrimSpace(line[strings.LastIndexByte(line, ' '):])
				}
			}
			if revoked != "4" {
				t.Fatalf("caddy_session_ended_total{reason=\"revoked\"} = %q; want 4", revoked)
			}
			logs := e.caddy.Logs()
			if n := strings.Count(logs, `"reason":"revoked"`); n != 4 || !strings.Contains(logs, `"sid":"`+sidA+`"`) {
				t.Fatalf("%d log lines of revoked sessions (want 4), sid of the first among them: %v", n, strings.Contains(logs, sidA))
			}
			for _, cl := range []*http.Client{a, b, c, c2, other} {
				if k := cookies(cl); k != "" && strings.Contains(logs, k) {
					t.Fatal("the log shows a session key")
				}
			}

			if out := sessionsCmd(t, e.caddy, "purge"); !strings.Contains(out, `"purged"`) {
				t.Fatalf("caddy sessions purge:\n%s", out)
			}
			if code, body := admin(t, e.caddy, "POST", "/sessions/purge"); code != 200 {
				t.Fatalf("POST /sessions/purge: %d %s", code, body)
			}
		})
	}
}

// max_sessions_per_user: the fourth login of a user with a limit of 3 ends
// the oldest session; the upstream of that browser then sees no session.
func TestMaxSessionsPerUserEndToEnd(t *testing.T) {
	for _, st := range usersStores[:4] {
		t.Run(st.name, func(t *testing.T) {
			e := startCtEnv(t, st.setup(t), "user_key _auth_user_id", "max_sessions_per_user 3")
			var clients []*http.Client
			for i := range 4 {
				c := newClient(t)
				e.write(t, c, "/", "X-Session-Set", `{"_auth_user_id":"42","n":`+strconv.Itoa(i)+`}`)
				clients = append(clients, c)
				// The next login must be newer to the store's clock, which
				// keeps milliseconds: wait for the clock to pass the stamp.
				code, body := admin(t, e.caddy, "GET", "/sessions/users/42")
				var l adminList
				if code != 200 || json.Unmarshal([]byte(body), &l) != nil || len(l.Sessions) == 0 {
					t.Fatalf("listing: %d %s", code, body)
				}
				last, err := time.Parse(time.RFC3339Nano, l.Sessions[len(l.Sessions)-1].Created)
				if err != nil {
					t.Fatal(err)
				}
				for !time.Now().After(last.Add(time.Millisecond)) {
					time.Sleep(time.Millisecond)
				}
			}
			if !e.read(t, clients[0], "/").New {
				t.Fatal("the oldest session survived a login over max_sessions_per_user")
			}
			if n := strings.Count(e.caddy.Logs(), `"by":"max_sessions_per_user"`); n != 1 {
				t.Fatalf("%d log lines of sessions ended by max_sessions_per_user; want 1", n)
			}
			for i, c := range clients[1:] {
				if e.read(t, c, "/").New {
					t.Fatalf("session %d of the newest 3 ended", i+1)
				}
			}
		})
	}
}

// user_key on signed_cookies fails at load time, naming the reason.
func TestUserKeyRefusedOnSignedCookies(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "Caddyfile")
	site := "{\n\tadmin off\n}\nhttp://127.0.0.1:1 {\n\tsession {\n\t\tsecret {env.SESSION_SECRET}\n\t\tstore signed_cookies\n\t\tuser_key _auth_user_id\n\t}\n}\n"
	if err := os.WriteFile(cfg, []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCaddy(t, dir, []string{"SESSION_SECRET=" + testSecret}, "validate", "--config", cfg, "--adapter", "caddyfile")
	if err == nil || !strings.Contains(out, "user_key: store signed_cookies keeps each session in its cookie") {
		t.Fatalf("caddy validate: err %v, output:\n%s", err, out)
	}
}

// Many browsers of one user logging in, cycling their keys and being
// revoked at once: the index ends exactly right on every store. Then the
// sessions expire, and the index lists none.
func TestUserIndexUnderConcurrency(t *testing.T) {
	const n = 12
	for _, st := range usersStores[:4] {
		t.Run(st.name, func(t *testing.T) {
			e := startCtEnv(t, st.setup(t), "user_key _auth_user_id", "cookie_age 3s")
			clients := make([]*http.Client, n)
			for i := range clients {
				clients[i] = newClient(t)
			}
			each := func(f func(i int, c *http.Client)) {
				var wg sync.WaitGroup
				for i, c := range clients {
					wg.Go(func() { f(i, c) })
				}
				wg.Wait()
				if t.Failed() {
					t.FailNow()
				}
			}
			sids := make([]string, n)
			count := func() adminList {
				t.Helper()
				code, body := admin(t, e.caddy, "GET", "/sessions/users/42")
				var l adminList
				if code != 200 || json.Unmarshal([]byte(body), &l) != nil {
					t.Fatalf("listing: %d %s", code, body)
				}
				return l
			}
			each(func(i int, c *http.Client) {
				e.write(t, c, "/", "X-Session-Set", `{"_auth_user_id":"42"}`, "X-Session-Cycle-Key", "1")
			})
			if l := count(); l.Count != n {
				t.Fatalf("after %d concurrent logins the user has %d sessions listed", n, l.Count)
			}
			each(func(i int, c *http.Client) {
				e.write(t, c, "/", "X-Session-Cycle-Key", "1")
				sids[i] = e.read(t, c, "/").SID
			})
			if got, want := count().sids(), slices.Sorted(slices.Values(sids)); !slices.Equal(got, want) {
				t.Fatalf("after concurrent cycle_keys the listing has %d sids, %d of them current", len(got), len(want)-len(diffStrings(want, got)))
			}
			// Revocation racing the browsers' own writes: afterwards none
			// of them is logged in, and the index is empty.
			var wg sync.WaitGroup
			wg.Go(func() {
				if code, body := admin(t, e.caddy, "DELETE", "/sessions/users/42"); code != 200 {
					t.Errorf("revoking: %d %s", code, body)
				}
			})
			each(func(i int, c *http.Client) {
				r := e.do(t, c, ctCall{answer: ctLines("X-Session-Set", `{"n":`+strconv.Itoa(i)+`}`)})
				if s := r.resp.StatusCode; s != 200 && s != 400 {
					t.Errorf("a write racing the revocation: status %d", s)
				}
			})
			wg.Wait()
			each(func(i int, c *http.Client) {
				if cl := e.read(t, c, "/"); !cl.New && cl.data()["_auth_user_id"] == `"42"` {
					t.Errorf("browser %d is still logged in after the revocation", i)
				}
			})
			if l := count(); l.Count != 0 {
				t.Fatalf("%d sessions listed after the revocation", l.Count)
			}

			// Expiry: log in again, wait past the sessions' expiry.
			each(func(i int, c *http.Client) {
				e.write(t, c, "/", "X-Session-Set", `{"_auth_user_id":"42"}`, "X-Session-Cycle-Key", "1")
			})
			l := count()
			if l.Count != n {
				t.Fatalf("%d sessions listed after the new logins; want %d", l.Count, n)
			}
			var latest time.Time
			for _, s := range l.Sessions {
				exp, err := time.Parse(time.RFC3339Nano, s.ExpiresAt)
				if err != nil {
					t.Fatal(err)
				}
				if exp.After(latest) {
					latest = exp
				}
			}
			for !time.Now().After(latest.Add(10 * time.Millisecond)) {
				time.Sleep(time.Until(latest) + 10*time.Millisecond)
			}
			if l := count(); l.Count != 0 {
				t.Fatalf("%d sessions listed after every session expired", l.Count)
			}
		})
	}
}

func diffStrings(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
