package session_test

import (
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
)

// max_sessions_per_user: a login (a session becoming the user's) ends the
// user's oldest sessions beyond the limit; later saves of a session already
// the user's do not.
func TestMaxSessionsPerUser(t *testing.T) {
	ix, err := memstore.New().WithUserIndex("_auth_user_id")
	if err != nil {
		t.Fatal(err)
	}
	var evicted int
	m := &session.Manager{Store: ix, Config: session.Config{Age: time.Hour, UserKey: "_auth_user_id", MaxSessionsPerUser: 2},
		OnEvict: func(ended []string, err error) {
			if err != nil {
				t.Error(err)
			}
			evicted += len(ended)
		}}
	ctx := t.Context()
	login := func() string {
		t.Helper()
		// Django's login: an anonymous session gets the user and a new key.
		anon, _ := m.Load(ctx, "")
		res, err := m.Commit(ctx, anon, &session.Update{Set: session.Data{"cart": []byte(`1`)}})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := m.Load(ctx, res.Key)
		res, err = m.Commit(ctx, s, &session.Update{Set: session.Data{"_auth_user_id": []byte(`"7"`)}, CycleKey: true})
		if err != nil {
			t.Fatal(err)
		}
		// Clocks of a millisecond resolution: let the next login be newer.
		for list, _ := ix.UserSessions(ctx, "7"); len(list) > 0 && !time.Now().After(list[len(list)-1].Created.Add(time.Millisecond)); {
			time.Sleep(time.Millisecond)
		}
		return res.Key
	}
	first, second, third := login(), login(), login()
	if evicted != 1 {
		t.Fatalf("evicted %d sessions after 3 logins with a limit of 2; want 1", evicted)
	}
	for key, want := range map[string]bool{first: false, second: true, third: true} {
		if _, ok, _ := ix.Load(ctx, key); ok != want {
			t.Errorf("session live = %v; want %v", ok, want)
		}
	}
	// A save of the user's own session is no login.
	s, _ := m.Load(ctx, second)
	if _, err := m.Commit(ctx, s, &session.Update{Set: session.Data{"cart": []byte(`2`)}}); err != nil {
		t.Fatal(err)
	}
	if evicted != 1 {
		t.Fatalf("a plain save evicted sessions (%d in all)", evicted)
	}
	login()
	if _, ok, _ := ix.Load(ctx, second); ok {
		t.Fatal("the oldest session survived the fourth login")
	}
}
