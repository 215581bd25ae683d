package integration

// "Log out everywhere" from an app, without Caddy's admin endpoint: the
// app (integration/upstreams/python/logout_everywhere.py, which
// docs/operations.md quotes) answers X-Session-Logout-Others or
// X-Session-Logout-All, and the handler ends the user's sessions under the
// route's policy. A client cannot send it, and an upstream cannot send it
// as a trailer.

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

func TestLogoutEverywhereFromApp(t *testing.T) {
	py := pythonWithJWT(t)
	for _, st := range revokeStores {
		t.Run(st.name, func(t *testing.T) {
			appPort := testredis.FreePort(t)
			app := exec.Command(py, filepath.Join(upstreamDir(t, "python"), "logout_everywhere.py"), strconv.Itoa(appPort))
			app.Env = append(os.Environ(), "SESSION_SECRET="+testSecret)
			appAddr := "127.0.0.1:" + strconv.Itoa(appPort)
			startProcess(t, "python app", app, appAddr)
			fx := st.setup(t)
			// /locked/ is the same app and sessions behind a route whose
			// policy forbids ending sessions.
			site := "handle /locked/* {\n" + indent(ctSessionBlock(fx.line, "user_key _auth_user_id\nallow_flush off")) +
				"\n\turi strip_prefix /locked\n\treverse_proxy " + appAddr + "\n}\nhandle {\n" +
				indent(ctSessionBlock(fx.line, "user_key _auth_user_id")) + "\n\treverse_proxy " + appAddr + "\n}"
			c := startCaddy(t, "", site)

			type state struct {
				User   *string  `json:"user"`
				SID    string   `json:"sid"`
				New    bool     `json:"new"`
				Family []string `json:"family"`
			}
			do := func(cl *http.Client, method, path string, header ...string) (*http.Response, []byte) {
				t.Helper()
				req, _ := http.NewRequest(method, c.URL+path, nil)
				for i := 0; i+1 < len(header); i += 2 {
					req.Header[header[i]] = []string{header[i+1]}
				}
				resp, err := cl.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return resp, body
			}
			get := func(cl *http.Client, header ...string) state {
				t.Helper()
				resp, body := do(cl, "GET", "/", header...)
				var s state
				if resp.StatusCode != 200 || json.Unmarshal(body, &s) != nil {
					t.Fatalf("GET /: %d %s", resp.StatusCode, body)
				}
				if len(s.Family) > 0 {
					t.Fatalf("the app received session headers %q", s.Family)
				}
				return s
			}
			post := func(cl *http.Client, path string, want int) *http.Response {
				t.Helper()
				resp, body := do(cl, "POST", path)
				if resp.StatusCode != want {
					t.Fatalf("POST %s: %d %s; want %d", path, resp.StatusCode, body, want)
				}
				for k := range resp.Header {
					if strings.HasPrefix(strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(k)), "x-session") {
						t.Fatalf("POST %s: the client got header %q", path, k)
					}
				}
				for k := range resp.Trailer {
					if strings.Contains(strings.ToLower(k), "session") {
						t.Fatalf("POST %s: the client got trailer %q", path, k)
					}
				}
				return resp
			}
			loggedIn := func(cl *http.Client) bool {
				t.Helper()
				s := get(cl)
				return !s.New && s.User != nil
			}
			login := func(user string) *http.Client {
				t.Helper()
				cl := newClient(t)
				post(cl, "/login?user="+user, 200)
				if s := get(cl); s.New || s.User == nil || *s.User != user {
					t.Fatalf("not logged in as %s: %+v", user, s)
				}
				return cl
			}
			phone, laptop, tablet, other := login("42"), login("42"), login("42"), login("7")

			// A client that sends the headers itself, in any spelling, on
			// any request, ends nothing: the app never sees them.
			for _, name := range []string{"X-Session-Logout-All", "x_session.logout-others", "X-SESSION-LOGOUT-ALL"} {
				get(phone, name, "1")
				resp, _ := do(phone, "POST", "/login?user=42", name, "1")
				if resp.StatusCode != 200 {
					t.Fatalf("POST /login with a client-sent %s: %d", name, resp.StatusCode)
				}
			}
			for _, cl := range []*http.Client{phone, laptop, tablet, other} {
				if !loggedIn(cl) {
					t.Fatal("a client-sent logout header ended a session")
				}
			}

			// An upstream that sends it as a trailer: refused whole (502),
			// nothing ends.
			post(laptop, "/logout-in-trailer", 502)
			// A route whose policy forbids ending sessions: refused whole.
			post(laptop, "/locked/logout-other-devices", 502)
			post(laptop, "/locked/logout-everywhere", 502)
			for _, cl := range []*http.Client{phone, laptop, tablet, other} {
				if !loggedIn(cl) {
					t.Fatal("a refused logout ended a session")
				}
			}

			// Log out the other devices (after a password change): phone
			// and tablet are logged out, the laptop goes on under a new sid.
			before := get(laptop).SID
			post(laptop, "/logout-other-devices", 200)
			if loggedIn(phone) || loggedIn(tablet) {
				t.Fatal("another device is still logged in after X-Session-Logout-Others")
			}
			s := get(laptop)
			if s.New || s.User == nil || *s.User != "42" {
				t.Fatal("X-Session-Logout-Others logged out the device that asked")
			}
			if s.SID == before {
				t.Fatal("X-Session-Logout-Others kept the session's key; want a new one")
			}
			if !loggedIn(other) {
				t.Fatal("X-Session-Logout-Others ended another user's session")
			}

			// Log out everywhere, this device included.
			phone = login("42")
			post(laptop, "/logout-everywhere", 200)
			if loggedIn(laptop) || loggedIn(phone) {
				t.Fatal("a session survived X-Session-Logout-All")
			}
			if !loggedIn(other) {
				t.Fatal("X-Session-Logout-All ended another user's session")
			}
			if n := strings.Count(c.Logs(), `"by":"upstream"`); n != 3 {
				t.Fatalf("%d log lines of sessions the upstream ended; want 3", n)
			}
		})
	}
}
