package session_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
)

// An upstream ends its user's other sessions (LogoutOthers) or all of them
// (LogoutAll) with an update, under its route's policy.
func TestLogoutUpdate(t *testing.T) {
	const field = "_auth_user_id"
	setup := func(t *testing.T, p session.Policy) (*session.Manager, []string, string) {
		t.Helper()
		ix, err := memstore.New().WithUserIndex(field)
		if err != nil {
			t.Fatal(err)
		}
		m := &session.Manager{Store: ix, Config: session.Config{Age: time.Hour, UserKey: field}}
		var keys []string
		for range 3 {
			keys = append(keys, login(t, m, "42"))
		}
		other := login(t, m, "7")
		m.Config.Policy = p // the route's, after the logins of another
		return m, keys, other
	}
	live := func(t *testing.T, m *session.Manager, key string) bool {
		t.Helper()
		s, err := m.Load(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return !s.IsNew()
	}

	t.Run("Others", func(t *testing.T) {
		m, keys, other := setup(t, session.Policy{})
		var ended []string
		m.OnLogout = func(keys []string) { ended = append(ended, keys...) }
		s, _ := m.Load(ctx, keys[1])
		res, err := m.Commit(ctx, s, &session.Update{LogoutOthers: true, Set: session.Data{"pw": json.RawMessage(`2`)}})
		if err != nil || res.Cookie != session.CookieSet || res.Key == keys[1] {
			t.Fatalf("Commit = %+v, %v; want this session under a new key", res, err)
		}
		for _, k := range keys {
			if live(t, m, k) {
				t.Fatal("a session of the user survived LogoutOthers, or this one under its old key")
			}
		}
		if !live(t, m, res.Key) || !live(t, m, other) {
			t.Fatal("LogoutOthers ended this session or another user's")
		}
		if len(ended) != 2 {
			t.Fatalf("OnLogout was told of %d sessions; want 2", len(ended))
		}
		// This session, stamped after the revocation, cycles its key later.
		s, _ = m.Load(ctx, res.Key)
		if res, err = m.Commit(ctx, s, &session.Update{CycleKey: true}); err != nil || !live(t, m, res.Key) {
			t.Fatalf("cycle_key after LogoutOthers: %v", err)
		}
	})

	t.Run("All", func(t *testing.T) {
		m, keys, other := setup(t, session.Policy{})
		s, _ := m.Load(ctx, keys[0])
		res, err := m.Commit(ctx, s, &session.Update{LogoutAll: true})
		if err != nil || res.Cookie != session.CookieDelete {
			t.Fatalf("Commit = %+v, %v; want the cookie deleted", res, err)
		}
		for _, k := range keys {
			if live(t, m, k) {
				t.Fatal("a session of the user survived LogoutAll")
			}
		}
		if !live(t, m, other) {
			t.Fatal("LogoutAll ended another user's session")
		}
	})

	for _, tc := range []struct {
		name string
		p    session.Policy
	}{
		{"AllowFlushOff", session.Policy{DenyFlush: true}},
		{"UserHidden", session.Policy{Hide: []string{"_auth*"}}},
		{"UserDenyWrite", session.Policy{DenyWrite: []string{field}}},
	} {
		t.Run("RefusedBy"+tc.name, func(t *testing.T) {
			m, keys, _ := setup(t, tc.p)
			s, _ := m.Load(ctx, keys[0])
			_, err := m.Commit(ctx, s, &session.Update{LogoutOthers: true, Set: session.Data{"a": json.RawMessage(`1`)}})
			if le, ok := errors.AsType[*session.LogoutError](err); !ok || le.Op != "logout_others" {
				t.Fatalf("Commit: %v; want a *LogoutError", err)
			}
			for _, k := range keys {
				if !live(t, m, k) {
					t.Fatal("a refused logout ended a session")
				}
			}
			if s, _ := m.Load(ctx, keys[0]); s.Data()["a"] != nil {
				t.Fatal("a refused logout persisted the rest of its update")
			}
		})
	}

	t.Run("RefusedWithoutUserKey", func(t *testing.T) {
		m := &session.Manager{Store: memstore.New(), Config: session.Config{Age: time.Hour}}
		s, _ := m.Load(ctx, "")
		if _, err := m.Commit(ctx, s, &session.Update{LogoutAll: true}); !errors.As(err, new(*session.LogoutError)) {
			t.Fatalf("Commit: %v; want a *LogoutError", err)
		}
	})
}

// login stores a new session of user and returns its key.
func login(t *testing.T, m *session.Manager, user string) string {
	t.Helper()
	s, err := m.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Commit(ctx, s, &session.Update{Set: session.Data{"_auth_user_id": json.RawMessage(`"` + user + `"`)}})
	if err != nil || res.Cookie != session.CookieSet {
		t.Fatalf("login: %+v, %v", res, err)
	}
	return res.Key
}
