package session_test

import (
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// New sessions share one empty Data (session.go): no update of a new
// session, whatever it does, may write into it, or the next request
// without a session would see another's data.
func TestNewSessionsShareNoData(t *testing.T) {
	m, _ := newManager(t, session.Config{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour})
	for _, u := range []*session.Update{
		{Set: data("a", "1")},
		{Incr: map[string]int64{"n": 1}},
		{Expiry: &session.Expiry{Seconds: 60}},
		{Delete: []string{"a"}},
		{Clear: true, Set: data("b", "2")},
		{Flush: true, Set: data("c", "3")},
		{CycleKey: true, Set: data("d", "4")},
	} {
		s := load(t, m, "")
		if _, err := m.Commit(ctx, s, u); err != nil {
			t.Fatalf("%+v: %v", u, err)
		}
		if d := load(t, m, "").Data(); len(d) != 0 {
			t.Fatalf("after %+v, a new session holds %v", u, d)
		}
	}
}
