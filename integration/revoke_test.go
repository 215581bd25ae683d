package integration

// "Log out everywhere" and max_sessions_per_user against cycle_key in
// flight, through the real Caddy: once the revocation (or the login that
// evicts) has answered, no session of the user is live, under the old
// cookie or the cycled one.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// revokeStores are the stores that keep a revocation mark: every store
// that keeps a user index (memory, file, redis, db on PostgreSQL and
// SQLite, cache, cached_db, and the Django layouts of redis and file).
var revokeStores = usersStores

// revokeTrials is how many races each test runs per store: before the
// mark, about one in fifteen let a session survive on memory, file and
// redis. On the other stores, before their marks, every store lost a race
// within its first 8 trials, in both tests: they run fewer, to keep the
// suite short.
func revokeTrials(store string) int {
	switch store {
	case "memory", "file", "redis":
		return 40
	}
	return 15
}

// revokeOthers is how many other sessions the user has in each trial.
const revokeOthers = 10

// sessionCookie is c's value of the session cookie, "" when none.
func revokeCookie(e *ctEnv, c *http.Client) string {
	u, _ := url.Parse(e.caddy.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "sessionid" {
			return ck.Value
		}
	}
	return ""
}

// adminDo is admin for another goroutine: it reports instead of failing.
func adminDo(c *Caddy, method, path string) (int, string, error) {
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(c.AdminPort)+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// assertLoggedOut requires that none of values opens a session and that
// the index lists none of user's.
func assertLoggedOut(t *testing.T, e *ctEnv, user string, values ...string) {
	t.Helper()
	for _, v := range values {
		if v != "" && !e.readWithCookie(t, "/", "sessionid", v).New {
			t.Fatalf("%s: a cookie of the user still opens a session after the revocation answered", user)
		}
	}
	code, body := admin(t, e.caddy, "GET", "/sessions/users/"+user+"/count")
	var n struct{ Count int }
	if code != 200 || json.Unmarshal([]byte(body), &n) != nil || n.Count != 0 {
		t.Fatalf("after the revocation: %d %s; want a count of 0", code, body)
	}
}

func TestRevokeRacesCycleKey(t *testing.T) {
	for _, st := range revokeStores {
		t.Run(st.name, func(t *testing.T) {
			e := startCtEnv(t, st.setup(t), "user_key _auth_user_id")
			for trial := range revokeTrials(st.name) {
				user := fmt.Sprintf("u%d", trial)
				// Other browsers of the user first: the revocation, oldest
				// first, ends them before it reaches c's session, which
				// widens the race.
				for range revokeOthers {
					e.write(t, ctRawClient(), "/", "X-Session-Set", `{"_auth_user_id":"`+user+`"}`)
				}
				c := newClient(t)
				e.write(t, c, "/", "X-Session-Set", `{"_auth_user_id":"`+user+`"}`)
				old := revokeCookie(e, c)
				// The upstream starts the revocation as it answers with
				// cycle_key, so that Caddy's commit and the admin API's
				// revocation run at once.
				var wg sync.WaitGroup
				var code int
				var body string
				var err error
				cycled := e.do(t, c, ctCall{
					answer: ctLines("X-Session-Cycle-Key", "1"),
					before: func() {
						wg.Go(func() { code, body, err = adminDo(e.caddy, "DELETE", "/sessions/users/"+user) })
					},
				})
				wg.Wait()
				if err != nil || code != 200 {
					t.Fatalf("trial %d: DELETE /sessions/users/%s: %d %s %v", trial, user, code, body, err)
				}
				if s := cycled.resp.StatusCode; s != 200 && s != 400 {
					t.Fatalf("trial %d: the cycle_key answered %d; want 200 (before the revocation) or 400", trial, s)
				}
				assertLoggedOut(t, e, user, old, revokeCookie(e, c))
			}
		})
	}
}

// max_sessions_per_user 1: browser a is logged in and cycles its key
// while browser b logs in. b's login stands and a is logged out, whatever
// the order.
func TestEvictionRacesCycleKey(t *testing.T) {
	for _, st := range revokeStores {
		t.Run(st.name, func(t *testing.T) {
			e := startCtEnv(t, st.setup(t), "user_key _auth_user_id", "max_sessions_per_user 1")
			for trial := range revokeTrials(st.name) {
				user := fmt.Sprintf("u%d", trial)
				login := ctLines("X-Session-Set", `{"_auth_user_id":"`+user+`"}`)
				a, b := newClient(t), newClient(t)
				e.ok(t, a, ctCall{answer: login})
				old := revokeCookie(e, a)
				// The store's clock keeps milliseconds: b's login must be
				// newer than a's.
				code, body := admin(t, e.caddy, "GET", "/sessions/users/"+user)
				var l adminList
				if code != 200 || json.Unmarshal([]byte(body), &l) != nil || len(l.Sessions) != 1 {
					t.Fatalf("listing: %d %s", code, body)
				}
				waitPastStamp(t, l.Sessions[0].Created)

				req, _ := e.newRequest(t, &ctCall{answer: login})
				var wg sync.WaitGroup
				var bStatus int
				var bErr error
				cycled := e.do(t, a, ctCall{
					answer: ctLines("X-Session-Cycle-Key", "1"),
					before: func() {
						wg.Go(func() {
							resp, err := b.Do(req)
							if err != nil {
								bErr = err
								return
							}
							bStatus = resp.StatusCode
							resp.Body.Close()
						})
					},
				})
				wg.Wait()
				if bErr != nil || bStatus != 200 {
					t.Fatalf("trial %d: b's login: %d %v", trial, bStatus, bErr)
				}
				if s := cycled.resp.StatusCode; s != 200 && s != 400 {
					t.Fatalf("trial %d: a's cycle_key answered %d", trial, s)
				}
				if e.read(t, b, "/").New {
					t.Fatalf("trial %d: the newest login was logged out", trial)
				}
				for _, v := range []string{old, revokeCookie(e, a)} {
					if v != "" && !e.readWithCookie(t, "/", "sessionid", v).New {
						t.Fatalf("trial %d: the older browser is still logged in beyond max_sessions_per_user 1", trial)
					}
				}
			}
		})
	}
}

// waitPastStamp waits until the clock is a millisecond past stamp (an
// RFC 3339 time from the admin API), the resolution of the stores' stamps.
func waitPastStamp(t *testing.T, stamp string) {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		t.Fatal(err)
	}
	for !time.Now().After(at.Add(time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
}

// Two Caddy instances on one store: the revocation goes through one
// instance's admin API while the other commits the user's cycle_key, or
// a flush that logs the same user in again under a new key (Django's
// login after a flush). Once the revocation answers, neither instance
// opens any of the user's sessions. One store of each kind that several
// instances share: the hash layout (redis), the one-value layouts on a
// database (db on PostgreSQL), on Redis (redis-django) and on both
// (cached_db). Before the marks of the last three, each lost a race
// within its first two trials.
func TestRevokeRacesAcrossInstances(t *testing.T) {
	for _, st := range usersStores {
		switch st.name {
		case "redis", "db-postgres", "cached_db", "redis-django":
		default:
			continue
		}
		t.Run(st.name, func(t *testing.T) {
			fx := st.setup(t)
			one := startCtEnv(t, fx, "user_key _auth_user_id")
			two := startCtEnv(t, fx, "user_key _auth_user_id")
			for trial := range 4 {
				user := fmt.Sprintf("x%d", trial)
				login := `{"_auth_user_id":"` + user + `"}`
				for range 3 {
					one.write(t, ctRawClient(), "/", "X-Session-Set", login)
				}
				c := newClient(t)
				one.write(t, c, "/", "X-Session-Set", login)
				old := revokeCookie(one, c)
				answer := ctLines("X-Session-Cycle-Key", "1")
				if trial%2 == 1 {
					answer = ctLines("X-Session-Flush", "1", "X-Session-Set", login)
				}
				var wg sync.WaitGroup
				var code int
				var body string
				var err error
				moved := one.do(t, c, ctCall{
					answer: answer,
					before: func() {
						wg.Go(func() { code, body, err = adminDo(two.caddy, "DELETE", "/sessions/users/"+user) })
					},
				})
				wg.Wait()
				if err != nil || code != 200 {
					t.Fatalf("trial %d: DELETE /sessions/users/%s through the other instance: %d %s %v", trial, user, code, body, err)
				}
				if s := moved.resp.StatusCode; s != 200 && s != 400 {
					t.Fatalf("trial %d: the cycle_key or flush answered %d; want 200 (before the revocation) or 400", trial, s)
				}
				assertLoggedOut(t, one, user, old, revokeCookie(one, c))
				assertLoggedOut(t, two, user, old, revokeCookie(one, c))
			}
		})
	}
}
