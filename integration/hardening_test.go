package integration

// End to end, through the real ./caddy, the defects a security review
// reproduced (issue "Hardening the core"): a login racing a logout brought
// the session back, unbounded sessions locked users out, error responses
// lost the site's security headers, an upstream 5xx with odd update headers
// became 502, and stripping happened only where the handler ran.

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A slow login (cycle_key) and a logout of the same session in another
// tab: whichever ends the session first wins, and the other answers 400.
// The session never comes back under a new key, on any store.
func TestHardeningCycleRace(t *testing.T) {
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := startCtEnv(t, st.setup(t))
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"user":"bob"}`)
			key := ctJarKey(t, e, c, "/", "sessionid")

			t.Run("logout finishes first", func(t *testing.T) {
				arrived, release := make(chan struct{}, 1), make(chan struct{})
				done := make(chan *ctResult)
				go func() {
					done <- e.do(t, ctRawClient(), ctCall{
						header: ctLines("Cookie", "sessionid="+key),
						answer: ctLines("X-Session-Cycle-Key", "1", "X-Session-Set", `{"logged_in":true}`),
						before: func() { arrived <- struct{}{}; <-release },
					})
				}()
				// The slow login has loaded the session; now log out.
				waitArrivals(t, arrived, 1)
				logout := e.do(t, ctRawClient(), ctCall{header: ctLines("Cookie", "sessionid="+key), answer: ctLines("X-Session-Flush", "1")})
				ctWantStatus(t, logout, http.StatusOK)
				ctWantDeleted(t, logout.resp, "sessionid")
				close(release)
				login := <-done
				ctWantStatus(t, login, http.StatusBadRequest)
				ctNoSetCookie(t, login.resp)
				if claims := e.readWithCookie(t, "/", "sessionid", key); !claims.New {
					t.Fatal("the logged-out session is live again under its old key")
				}
			})

			t.Run("parallel cycles", func(t *testing.T) {
				e.write(t, c, "/", "X-Session-Set", `{"user":"carol"}`)
				key := ctJarKey(t, e, c, "/", "sessionid")
				const n = 8
				arrived, release := make(chan struct{}, n), make(chan struct{})
				results := make([]*ctResult, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						results[i] = e.do(t, ctRawClient(), ctCall{
							header: ctLines("Cookie", "sessionid="+key),
							answer: ctLines("X-Session-Cycle-Key", "1"),
							before: func() { arrived <- struct{}{}; <-release },
						})
					})
				}
				waitArrivals(t, arrived, n)
				close(release)
				wg.Wait()
				var live []string
				for _, r := range results {
					switch r.resp.StatusCode {
					case http.StatusOK:
						live = append(live, ctSetCookie(t, r.resp, "sessionid").Value)
					case http.StatusBadRequest:
						ctNoSetCookie(t, r.resp)
					default:
						t.Fatalf("cycle answered %d", r.resp.StatusCode)
					}
				}
				if len(live) != 1 {
					t.Fatalf("%d of %d parallel cycles left a live session; want exactly 1", len(live), n)
				}
				// Logging out of the one session leaves none.
				logout := e.do(t, ctRawClient(), ctCall{header: ctLines("Cookie", "sessionid="+live[0]), answer: ctLines("X-Session-Flush", "1")})
				ctWantStatus(t, logout, http.StatusOK)
				for _, k := range []string{key, live[0]} {
					if claims := e.readWithCookie(t, "/", "sessionid", k); !claims.New {
						t.Fatal("a session survived the logout")
					}
				}
			})
		})
	}
}

// An update over the size limit is refused whole (502, a log line with the
// size and the limit, nothing stored), and the user goes on using the site
// with the session they had.
func TestHardeningSessionLimits(t *testing.T) {
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := startCtEnv(t, st.setup(t))
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"user":"bob"}`)

			huge := `{"blob":"` + strings.Repeat("x", 300_000) + `"}`
			r := e.do(t, c, ctCall{answer: ctLines("X-Session-Set", huge)})
			ctWantStatus(t, r, http.StatusBadGateway)
			ctNoSetCookie(t, r.resp)
			ctLogLine(t, e.caddy, "session size 300", "over the limit of 5120")

			var many strings.Builder
			many.WriteString("{")
			for i := range 1000 {
				if i > 0 {
					many.WriteString(",")
				}
				fmt.Fprintf(&many, `"k%d":1`, i)
			}
			many.WriteString("}")
			r = e.do(t, c, ctCall{answer: ctLines("X-Session-Set", many.String())})
			ctWantStatus(t, r, http.StatusBadGateway)
			ctLogLine(t, e.caddy, "keys in one update 1000", "over the limit of 128")

			ctWantData(t, e.read(t, c, "/"), map[string]string{"user": `"bob"`})
			// And the user can still log out.
			r = e.write(t, c, "/", "X-Session-Flush", "1")
			ctWantDeleted(t, r.resp, "sessionid")
		})
	}
}

// The module's own error responses keep the headers the site set before
// it; an upstream 5xx passes as it is with its session headers stripped.
func TestHardeningErrorResponses(t *testing.T) {
	fx := ctStores[0].setup(t)
	up := newCtUpstream(t)
	site := "header Strict-Transport-Security max-age=31536000\nheader X-Frame-Options DENY\n" +
		ctSessionBlock(fx.line, "") + "\nreverse_proxy " + up.host
	e := &ctEnv{caddy: startCaddy(t, "", site), up: up, store: fx}
	c := newClient(t)

	r := e.do(t, c, ctCall{answer: ctLines("X-Session-Set", `{"a":`, "X-Upstream", "leak")})
	ctWantStatus(t, r, http.StatusBadGateway)
	if r.resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" || r.resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("502 lost the site's security headers: %v", r.resp.Header)
	}
	if r.resp.Header.Get("X-Upstream") != "" {
		t.Error("502 carries the upstream's headers")
	}

	r = e.do(t, c, ctCall{status: http.StatusInternalServerError, respBody: "oops", answer: ctLines("X-Session-Bogus", "1", "X-Session-Set", `{"a":1}`)})
	ctWantStatus(t, r, http.StatusInternalServerError)
	if string(r.body) != "oops" {
		t.Errorf("5xx body = %q, want the upstream's", r.body)
	}
	ctNoFamily(t, r.resp, "X-Session")
	ctNoSetCookie(t, r.resp)
}

// `session <matcher>` strips the requests its matcher does not take, so a
// client-forged token never reaches the upstream; and a handle_errors
// upstream with no session handler is reported at start.
func TestHardeningStrippingEverywhere(t *testing.T) {
	fx := ctStores[0].setup(t)
	up := newCtUpstream(t)
	block := strings.Replace(ctSessionBlock(fx.line, ""), "session {", "session /app/* {", 1)
	site := block + "\nreverse_proxy " + up.host + "\nhandle_errors {\n\treverse_proxy " + up.host + "\n}"
	e := &ctEnv{caddy: startCaddy(t, "", site), up: up, store: fx}

	r := e.do(t, ctRawClient(), ctCall{path: "/other", header: ctLines("X-Session", "forged", "X_Session_Set", `{"admin":true}`),
		answer: ctLines("X-Session-Set", `{"a":1}`)})
	ctWantStatus(t, r, http.StatusOK)
	if len(r.seen.family) != 0 {
		t.Errorf("an unmatched request reached the upstream with %q", r.seen.family)
	}
	ctNoFamily(t, r.resp, "X-Session")
	ctNoSetCookie(t, r.resp)

	r = e.do(t, ctRawClient(), ctCall{path: "/app/x"})
	ctWantStatus(t, r, http.StatusOK)
	if !ctToken(t, r).New {
		t.Error("a matched request got no fresh token")
	}

	ctLogLine(t, e.caddy, "session headers are not covered here", "handle_errors", "reverse_proxy to "+up.host)
}

// waitArrivals waits until n requests have reached the upstream (each sends
// on arrived once it has been recorded, so its session is loaded).
func waitArrivals(t *testing.T, arrived <-chan struct{}, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for range n {
		select {
		case <-arrived:
		case <-timeout:
			t.Fatalf("fewer than %d requests reached the upstream within 30s", n)
		}
	}
}
