package session_test

import (
	"errors"
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"_auth_*", "_auth_user_id", true},
		{"_auth_*", "_auth_", true},
		{"_auth_*", "auth_user", false},
		{"*_hash", "_auth_user_hash", true},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"cart", "cart", true},
		{"cart", "carts", false},
		{"a*b*c", "a/x/b/y/c", true},
		{"a*b*c", "abx", false},
		{"ü*", "üx", true},
		{"*.*", "a.b", true},
	} {
		if got := session.Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v; want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestPolicy: what a scoped upstream sees, and which of its updates the
// Manager refuses or narrows.
func TestPolicy(t *testing.T) {
	policy := session.Policy{Hide: []string{"_auth_user_hash"}, DenyWrite: []string{"_auth_*", "_session_expiry"}}
	newScoped := func(t *testing.T, p session.Policy) (*session.Manager, string) {
		m, _ := newManager(t, session.Config{})
		key := seed(t, m, data("_auth_user_id", `"7"`, "_auth_user_hash", `"h"`, "cart", `[1]`, "theme", `"dark"`))
		m.Config.Policy = p
		return m, key
	}
	stored := func(t *testing.T, m *session.Manager, key string) session.Data {
		t.Helper()
		rec, ok, err := m.Store.Load(ctx, key)
		if err != nil || !ok {
			t.Fatalf("Load = %v, %v", ok, err)
		}
		return rec.Data
	}

	t.Run("hidden keys are not visible", func(t *testing.T) {
		m, key := newScoped(t, policy)
		v := m.Visible(load(t, m, key))
		if _, ok := v["_auth_user_hash"]; ok || len(v) != 3 {
			t.Errorf("visible %v; want all but _auth_user_hash", v)
		}
	})
	for _, tc := range []struct {
		name string
		u    session.Update
		want string // the key the error names
	}{
		{"set", session.Update{Set: data("cart", `[2]`, "_auth_user_id", `"1"`)}, "_auth_user_id"},
		{"delete", session.Update{Delete: []string{"_auth_user_id"}}, "_auth_user_id"},
		{"incr", session.Update{Incr: map[string]int64{"_auth_n": 1}}, "_auth_n"},
		{"set of a hidden, denied key", session.Update{Set: data("_auth_user_hash", `"x"`)}, "_auth_user_hash"},
		{"expiry", session.Update{Expiry: &session.Expiry{Seconds: 60}}, "_session_expiry"},
	} {
		t.Run("deny_write refuses "+tc.name, func(t *testing.T) {
			m, key := newScoped(t, policy)
			before := stored(t, m, key)
			_, err := m.Commit(ctx, load(t, m, key), &tc.u)
			pe, ok := errors.AsType[*session.PolicyError](err)
			if !ok || pe.Key != tc.want {
				t.Fatalf("Commit = %v; want a PolicyError naming %s", err, tc.want)
			}
			assertSame(t, stored(t, m, key), before)
		})
	}
	t.Run("clear keeps what the upstream cannot see or write", func(t *testing.T) {
		m, key := newScoped(t, policy)
		if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Clear: true, Set: data("theme", `"light"`)}); err != nil {
			t.Fatal(err)
		}
		assertSame(t, stored(t, m, key), data("_auth_user_id", `"7"`, "_auth_user_hash", `"h"`, "theme", `"light"`))
	})
	t.Run("allow_flush off", func(t *testing.T) {
		for _, u := range []session.Update{{Flush: true}, {Clear: true}, {CycleKey: true}} {
			m, key := newScoped(t, session.Policy{DenyFlush: true})
			before := stored(t, m, key)
			if _, err := m.Commit(ctx, load(t, m, key), &u); !errors.As(err, new(*session.PolicyError)) {
				t.Errorf("Commit(%+v) = %v; want a PolicyError", u, err)
			}
			assertSame(t, stored(t, m, key), before)
		}
	})
	t.Run("flush is a logout and ends everything", func(t *testing.T) {
		m, key := newScoped(t, policy)
		if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Flush: true}); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := m.Store.Load(ctx, key); ok {
			t.Error("the session outlived its flush")
		}
	})
}

func assertSame(t *testing.T, got, want session.Data) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("stored %v; want %v", got, want)
	}
	for k, v := range want {
		if string(got[k]) != string(v) {
			t.Fatalf("stored %v; want %v", got, want)
		}
	}
}
