package integration

// Reliability scenario 2b, "Logout races", end to end: a slow request
// (held in the upstream by the script's before hook, after the handler
// loaded the session) sets, deletes, changes the expiry or cycles the key
// while a logout of the same session goes through. Afterwards no live
// session may hold the ended session's data.

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/relreport"
)

// relSlowAnswers are the slow request's updates, in turn.
var relSlowAnswers = []struct {
	name   string
	answer [][2]string
}{
	{"set", ctLines("X-Session-Set", `{"cart": 2}`)},
	{"delete", ctLines("X-Session-Delete", `["cart"]`)},
	{"expiry", ctLines("X-Session-Expiry", "7200")},
	{"cycle", ctLines("X-Session-Cycle-Key", "1")},
}

type relExchange struct {
	status int
	key    string // the session cookie the response set, "" if none
	err    error
}

func relSend(client *http.Client, req *http.Request) relExchange {
	resp, err := client.Do(req)
	if err != nil {
		return relExchange{err: err}
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	x := relExchange{status: resp.StatusCode, err: err}
	for _, c := range ctCookies(resp, "sessionid") {
		if c.Value != "" && c.MaxAge >= 0 {
			x.key = c.Value
		}
	}
	return x
}

func TestReliabilityLogoutRacesE2E(t *testing.T) {
	trials := relreport.Scale(20, 300)
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := startCtEnv(t, st.setup(t))
			client := relClient(t)
			resurrections, interrupted := 0, 0
			for i := range trials {
				slow := relSlowAnswers[i%len(relSlowAnswers)]
				// Even trials hold the slow request until the logout has
				// answered; odd ones hold both after they loaded the session
				// and release them together.
				held := i%2 == 0
				login := newClient(t)
				e.write(t, login, "", "X-Session-Set", `{"user": "alice", "cart": 1}`)
				key := ctJarKey(t, e, login, "", "sessionid")
				cookie := ctLines("Cookie", "sessionid="+key)

				reached, release := make(chan struct{}), make(chan struct{})
				slowReq, _ := e.newRequest(t, &ctCall{header: cookie, answer: slow.answer, before: func() {
					close(reached)
					<-release
				}})
				logoutCall := &ctCall{header: cookie, answer: ctLines("X-Session-Flush", "1")}
				logoutReached := make(chan struct{})
				if !held {
					// Both requests load the session before either commits.
					logoutCall.before = func() {
						close(logoutReached)
						<-release
					}
				}
				logoutReq, logoutID := e.newRequest(t, logoutCall)
				slowDone := make(chan relExchange, 1)
				go func() { slowDone <- relSend(client, slowReq) }()
				select {
				case <-reached:
				case x := <-slowDone:
					t.Fatalf("trial %d: the slow request ended before reaching the upstream: %d %v", i, x.status, x.err)
				case <-time.After(30 * time.Second):
					t.Fatalf("trial %d: the slow request did not reach the upstream in 30s", i)
				}
				var logout relExchange
				if held {
					logout = relSend(client, logoutReq)
					close(release)
				} else {
					done := make(chan relExchange, 1)
					go func() { done <- relSend(client, logoutReq) }()
					select {
					case <-logoutReached:
					case x := <-done:
						t.Fatalf("trial %d: the logout ended before reaching the upstream: %d %v", i, x.status, x.err)
					case <-time.After(30 * time.Second):
						t.Fatalf("trial %d: the logout did not reach the upstream in 30s", i)
					}
					close(release)
					logout = <-done
				}
				s := <-slowDone
				if s.err != nil || logout.err != nil {
					t.Fatalf("trial %d: slow: %v, logout: %v", i, s.err, logout.err)
				}
				for who, x := range map[string]relExchange{"slow " + slow.name: s, "logout": logout} {
					if x.status != http.StatusOK && x.status != http.StatusBadRequest {
						t.Fatalf("trial %d: %s answered %d, want 200 or 400 (interrupted)", i, who, x.status)
					}
					if x.status == http.StatusBadRequest {
						interrupted++
					}
				}
				if held && (logout.status != http.StatusOK || s.status != http.StatusBadRequest) {
					t.Errorf("trial %d (%s held past the logout): slow %d, logout %d; want 400, 200", i, slow.name, s.status, logout.status)
				}

				if seen := e.up.seenFor(logoutID); seen == nil || seen.claims.New {
					t.Fatalf("trial %d: the logout did not find the session it was to end", i)
				}
				var live []string
				if len(e.readWithCookie(t, "", "sessionid", key).Data) > 0 {
					live = append(live, "the old key")
				}
				if logout.status == http.StatusOK && s.key != "" && s.key != key {
					if len(e.readWithCookie(t, "", "sessionid", s.key).Data) > 0 {
						live = append(live, "the slow request's new key")
					}
				}
				if len(live) > 0 {
					resurrections++
					t.Errorf("trial %d (%s, held %v): after the logout %v still live (slow %d, logout %d)", i, slow.name, held, live, s.status, logout.status)
				}
			}
			relreport.Record(t, relreport.Figure{
				Scenario: "2. Logout races", Name: fmt.Sprintf("resurrections, %d trials through Caddy, %s", trials, st.name),
				Value: resurrections, Unit: "sessions", Goal: "0", Met: relreport.Met(resurrections == 0),
				Note: "a slow set/delete/expiry/cycle_key request is held in the upstream after its session loaded, while a logout (X-Session-Flush) of the same cookie goes through (half held until the logout answered, half with both held after loading and released together); then both keys are read back",
			})
			relreport.Record(t, relreport.Figure{
				Scenario: "2. Logout races", Name: fmt.Sprintf("losers answering 400, %d trials through Caddy, %s", trials, st.name),
				Value: interrupted, Unit: "responses",
				Note: "the request that lost the race (Django's SessionInterrupted) answers 400 instead of saving",
			})
		})
	}
}
