package session_test

import (
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/relreport"
	"github.com/caddy-session/caddy-session/session"
)

func TestIdleTimeout(t *testing.T) {
	const idle = 30 * time.Minute
	m, clk := newManager(t, session.Config{IdleTimeout: idle})
	key := seed(t, m, data("user", `"bob"`))
	s := load(t, m, key)
	if s.IdleExpiresAt().Sub(clk.t) != idle {
		t.Fatalf("idle deadline in %v; want %v", s.IdleExpiresAt().Sub(clk.t), idle)
	}

	// Reads within the timeout keep the session alive: each read older
	// than a tenth of the timeout touches it.
	for range 5 {
		clk.t = clk.t.Add(idle - time.Minute)
		s := load(t, m, key)
		if s.IsNew() {
			t.Fatal("a session used within the idle timeout ended")
		}
		res, err := m.Commit(ctx, s, nil)
		if err != nil || res.Cookie != session.CookieKeep {
			t.Fatalf("a touch = %+v, %v; want the cookie left alone", res, err)
		}
	}
	clk.t = clk.t.Add(idle + time.Second)
	if s := load(t, m, key); !s.IsNew() {
		t.Fatal("a session idle past the timeout was loaded")
	}
	relreport.Record(t, relreport.Figure{Scenario: "6. Timeouts beyond Django", Name: "sessions served past idle_timeout", Value: 0, Goal: "0", Met: relreport.Met(true),
		Note: "injected clock: five reads 29 min apart kept a 30 min idle session alive, each touching it without a cookie; one read 30 min 1 s after the last found it ended"})
}

func TestAbsoluteTimeout(t *testing.T) {
	const abs = 2 * time.Hour
	m, clk := newManager(t, session.Config{AbsoluteTimeout: abs})
	start := clk.t
	key := seed(t, m, data("user", `"bob"`))
	// Busy all along, and cycled (a login keeps the creation time).
	for i := range 3 {
		clk.t = clk.t.Add(30 * time.Minute)
		u := &session.Update{Set: data("n", "1")}
		if i == 1 {
			u.CycleKey = true
		}
		res, err := m.Commit(ctx, load(t, m, key), u)
		if err != nil {
			t.Fatal(err)
		}
		key = res.Key
		if want := start.Add(abs).Sub(clk.t); res.Age != want {
			t.Fatalf("cookie age %v; want the time left, %v", res.Age, want)
		}
	}
	if s := load(t, m, key); s.IsNew() || !s.AbsoluteExpiresAt().Equal(start.Add(abs)) {
		t.Fatalf("absolute deadline %v; want %v", s.AbsoluteExpiresAt(), start.Add(abs))
	}
	clk.t = start.Add(abs)
	if s := load(t, m, key); !s.IsNew() {
		t.Fatal("a session past its absolute timeout was loaded")
	}
	relreport.Record(t, relreport.Figure{Scenario: "6. Timeouts beyond Django", Name: "sessions served past absolute_timeout", Value: 0, Goal: "0", Met: relreport.Met(true),
		Note: "injected clock: a session written every 30 min and cycled once ended exactly 2 h after creation; each cookie's Max-Age was the time left"})
}

// Only the Manager writes the timeout fields: an upstream cannot move them
// to extend a session, a flush starts a new creation time, and a session
// left with nothing but them is deleted.
func TestTimeoutFieldsAreTheManagers(t *testing.T) {
	m, clk := newManager(t, session.Config{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour})
	start := clk.t
	key := seed(t, m, data("user", `"bob"`))
	clk.t = clk.t.Add(50 * time.Minute)
	far := data(session.CreatedKey, "99999999999", session.AccessedKey, "99999999999")
	if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Set: far, Delete: []string{session.CreatedKey}}); err != nil {
		t.Fatal(err)
	}
	if s := load(t, m, key); !s.AbsoluteExpiresAt().Equal(start.Add(2 * time.Hour)) {
		t.Fatalf("the upstream moved the creation time: absolute deadline %v", s.AbsoluteExpiresAt())
	}

	res, err := m.Commit(ctx, load(t, m, key), &session.Update{Flush: true, Set: data("user", `"carol"`)})
	if err != nil {
		t.Fatal(err)
	}
	if s := load(t, m, res.Key); !s.AbsoluteExpiresAt().Equal(clk.t.Add(2 * time.Hour)) {
		t.Fatalf("a flush kept the old creation time: %v", s.AbsoluteExpiresAt())
	}

	res2, err := m.Commit(ctx, load(t, m, res.Key), &session.Update{Delete: []string{"user"}})
	if err != nil || res2.Cookie != session.CookieDelete {
		t.Fatalf("deleting the last key = %+v, %v; want the cookie deleted", res2, err)
	}
	if !load(t, m, res.Key).IsNew() {
		t.Fatal("a session holding only the timeout fields was kept")
	}
}
