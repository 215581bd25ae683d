package session_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// storeRaw writes d under a fresh key straight into m's store, as another
// handler sharing the store (one with timeouts) would have left it.
func storeRaw(t *testing.T, m *session.Manager, d session.Data) string {
	t.Helper()
	key := session.NewKey()
	if _, err := m.Store.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: d, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return key
}

func storedData(t *testing.T, m *session.Manager, key string) (session.Data, bool) {
	t.Helper()
	rec, ok, err := m.Store.Load(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Data, ok
}

// TestReservedKeysAreTheHandlers: no update kind of any upstream changes
// _session_created or _session_accessed, on a handler with or without
// timeouts (issue 15, defect 3: X-Session-Incr moved the absolute timeout,
// and a handler without timeouts let an upstream Set them).
func TestReservedKeysAreTheHandlers(t *testing.T) {
	const created, accessed = "1700000000", "1700000100"
	far := "9000000000000"
	configs := []struct {
		name string
		cfg  session.Config
	}{
		{"no timeouts", session.Config{}},
		{"idle_timeout", session.Config{IdleTimeout: 100 * 365 * 24 * time.Hour}},
		{"absolute_timeout", session.Config{AbsoluteTimeout: 100 * 365 * 24 * time.Hour}},
		{"both", session.Config{IdleTimeout: 100 * 365 * 24 * time.Hour, AbsoluteTimeout: 100 * 365 * 24 * time.Hour}},
	}
	updates := []struct {
		name string
		u    session.Update
	}{
		{"set", session.Update{Set: data(session.CreatedKey, far, session.AccessedKey, far, "n", "2")}},
		{"delete", session.Update{Delete: []string{session.CreatedKey, session.AccessedKey}, Set: data("n", "2")}},
		{"incr", session.Update{Incr: map[string]int64{session.CreatedKey: 9000000000, session.AccessedKey: 9000000000, "n": 1}}},
		{"clear", session.Update{Clear: true, Set: data("n", "2")}},
		{"replace", session.Update{Clear: true, Set: data(session.CreatedKey, far, session.AccessedKey, far, "n", "2")}},
		{"cycle", session.Update{CycleKey: true, Set: data(session.CreatedKey, far, "n", "2")}},
	}
	for _, c := range configs {
		for _, tc := range updates {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				m, clk := newManager(t, c.cfg)
				key := storeRaw(t, m, data("user", `"bob"`, "n", "1", session.CreatedKey, created, session.AccessedKey, accessed))
				u := tc.u
				res, err := m.Commit(ctx, load(t, m, key), &u)
				if err != nil {
					t.Fatalf("Commit: %v", err)
				}
				if res.Key != "" {
					key = res.Key
				}
				got, ok := storedData(t, m, key)
				if !ok {
					t.Fatal("the session is gone")
				}
				if v := string(got[session.CreatedKey]); v != created {
					t.Errorf("%s = %q after the upstream's %s; want %s as the handler wrote it", session.CreatedKey, v, tc.name, created)
				}
				now := fmt.Sprint(clk.t.Unix())
				if v := string(got[session.AccessedKey]); v != accessed && (c.cfg.IdleTimeout == 0 || v != now) {
					t.Errorf("%s = %q after the upstream's %s; want %s (or the handler's stamp %s)", session.AccessedKey, v, tc.name, accessed, now)
				}
			})
		}
	}

	// A session without the fields: an upstream cannot plant them.
	for _, c := range configs {
		t.Run(c.name+"/cannot plant", func(t *testing.T) {
			m, _ := newManager(t, c.cfg)
			key := storeRaw(t, m, data("user", `"bob"`))
			for _, u := range []session.Update{
				{Set: data(session.CreatedKey, far)},
				{Incr: map[string]int64{session.CreatedKey: 9000000000000}},
			} {
				if _, err := m.Commit(ctx, load(t, m, key), &u); err != nil {
					t.Fatalf("Commit: %v", err)
				}
			}
			got, _ := storedData(t, m, key)
			if v, ok := got[session.CreatedKey]; ok && string(v) == far {
				t.Errorf("the upstream planted %s = %s", session.CreatedKey, v)
			}
			if v, ok := got[session.CreatedKey]; ok && c.cfg.AbsoluteTimeout == 0 {
				t.Errorf("%s = %s on a handler without absolute_timeout", session.CreatedKey, v)
			}
		})
	}

	// A clear that leaves only the handler's fields empties the session,
	// on every handler.
	for _, c := range configs {
		t.Run(c.name+"/clear empties", func(t *testing.T) {
			m, _ := newManager(t, c.cfg)
			key := storeRaw(t, m, data("user", `"bob"`, session.CreatedKey, created, session.AccessedKey, accessed))
			s := load(t, m, key)
			s.CookieKey = key
			res, err := m.Commit(ctx, s, &session.Update{Clear: true})
			if err != nil || res.Cookie != session.CookieDelete {
				t.Fatalf("Commit(clear) = %+v, %v; want the cookie deleted", res, err)
			}
			if d, ok := storedData(t, m, key); ok {
				t.Errorf("stored %v after a clear; want nothing", d)
			}
		})
	}
}

// TestExpiryKeyIsNoCounter: _session_expiry changes by its own rules
// (X-Session-Expiry, or a Set the header layer checks), never by a count
// that could carry it out of range.
func TestExpiryKeyIsNoCounter(t *testing.T) {
	m, _ := newManager(t, session.Config{})
	key := storeRaw(t, m, data("user", `"bob"`, session.ExpiryKey, "300"))
	_, err := m.Commit(ctx, load(t, m, key), &session.Update{Incr: map[string]int64{session.ExpiryKey: session.MaxCounter - 300}})
	if ie, ok := errors.AsType[*session.IncrError](err); !ok || ie.Key != session.ExpiryKey {
		t.Fatalf("Commit(incr %s) = %v; want an IncrError naming it", session.ExpiryKey, err)
	}
	if got, _ := storedData(t, m, key); string(got[session.ExpiryKey]) != "300" {
		t.Fatalf("%s = %s; want 300", session.ExpiryKey, got[session.ExpiryKey])
	}
}

// TestHiddenKeysAreNotWritable: a key hidden from an upstream can be
// neither set, deleted nor incremented by it (issue 15, defect 7); the
// update is refused whole.
func TestHiddenKeysAreNotWritable(t *testing.T) {
	policy := session.Policy{Hide: []string{"_auth_user_hash", "_session_expiry"}}
	for _, tc := range []struct {
		name string
		u    session.Update
		key  string
	}{
		{"set", session.Update{Set: data("cart", `[2]`, "_auth_user_hash", `"forged"`)}, "_auth_user_hash"},
		{"delete", session.Update{Set: data("cart", `[2]`), Delete: []string{"_auth_user_hash"}}, "_auth_user_hash"},
		{"incr", session.Update{Set: data("cart", `[2]`), Incr: map[string]int64{"_auth_user_hash": 1}}, "_auth_user_hash"},
		{"expiry", session.Update{Set: data("cart", `[2]`), Expiry: &session.Expiry{Seconds: 60}}, "_session_expiry"},
		{"replace", session.Update{Clear: true, Set: data("_auth_user_hash", `"forged"`)}, "_auth_user_hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, session.Config{})
			key := seed(t, m, data("_auth_user_id", `"7"`, "_auth_user_hash", `"h"`, "cart", `[1]`))
			m.Config.Policy = policy
			before, _ := storedData(t, m, key)
			u := tc.u
			_, err := m.Commit(ctx, load(t, m, key), &u)
			pe, ok := errors.AsType[*session.PolicyError](err)
			if !ok || pe.Key != tc.key || !strings.Contains(err.Error(), "hide") {
				t.Fatalf("Commit = %v; want a PolicyError naming %s and hide", err, tc.key)
			}
			after, _ := storedData(t, m, key)
			assertSame(t, after, before)
		})
	}
}

// TestSizeLimitHoldsAgainstConcurrentWriters: requests that each loaded
// the session small and each add 1.5 KB all passed the Manager's check and
// left 9 KB (issue 15, defect 8). The store's atomic step now refuses the
// ones that would pass the limit; the session stays loadable.
func TestSizeLimitHoldsAgainstConcurrentWriters(t *testing.T) {
	const limit = 5120
	m, _ := newManager(t, session.Config{MaxSize: limit})
	key := seed(t, m, data("user", `"bob"`))
	// Six requests load the session before any of them saves.
	loaded := make([]*session.Session, 6)
	for i := range loaded {
		loaded[i] = load(t, m, key)
	}
	big := `"` + strings.Repeat("x", 1500) + `"`
	won, refused := 0, 0
	for i, s := range loaded {
		_, err := m.Commit(ctx, s, &session.Update{Set: data(fmt.Sprintf("f%d", i), big)})
		var le *session.LimitError
		switch {
		case err == nil:
			won++
		case errors.As(err, &le):
			refused++
			if le.Limit != limit || le.Size <= limit {
				t.Errorf("LimitError %+v; want a size over %d", le, limit)
			}
		default:
			t.Fatalf("Commit %d: %v", i, err)
		}
	}
	got, _ := storedData(t, m, key)
	if n := session.Size(got); n > limit {
		t.Fatalf("stored session is %d bytes, over the limit of %d (%d writers answered OK)", n, limit, won)
	}
	if won != 3 || refused != 3 {
		t.Errorf("%d saved, %d refused; want 3 and 3", won, refused)
	}
	if s := load(t, m, key); s.IsNew() || s.Oversize() != 0 {
		t.Fatal("the user lost the session to others' writes")
	}
}

// TestChangeValidate: the one check of a change every store runs first.
func TestChangeValidate(t *testing.T) {
	later := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		c    session.Change
		ok   bool
	}{
		{"update without expiry keeps the stored one", session.Change{Mode: session.ModeUpdate}, true},
		{"create", session.Change{Mode: session.ModeCreate, ExpiresAt: later}, true},
		{"create without expiry", session.Change{Mode: session.ModeCreate}, false},
		{"replace without expiry", session.Change{Mode: session.ModeReplace}, false},
		{"unknown mode", session.Change{Mode: 9, ExpiresAt: later}, false},
		{"negative size limit", session.Change{Mode: session.ModeUpdate, MaxSize: -1}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestSizeLimitOnCycle: a cycle_key whose data, with what a concurrent
// request stored meanwhile, is over the limit is refused, and the session
// stays under its old key: the user is not logged out.
func TestSizeLimitOnCycle(t *testing.T) {
	m, _ := newManager(t, session.Config{MaxSize: 5120})
	key := seed(t, m, data("user", `"bob"`))
	login, other := load(t, m, key), load(t, m, key)
	big := `"` + strings.Repeat("x", 3000) + `"`
	if _, err := m.Commit(ctx, other, &session.Update{Set: data("cart", big)}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Commit(ctx, login, &session.Update{CycleKey: true, Set: data("profile", big)})
	if _, ok := errors.AsType[*session.LimitError](err); !ok {
		t.Fatalf("Commit(cycle) = %v; want a LimitError", err)
	}
	got, ok := storedData(t, m, key)
	if !ok || string(got["user"]) != `"bob"` || string(got["cart"]) != big || got["profile"] != nil {
		t.Fatalf("after the refused cycle the old key holds %d fields (found %v); want user and cart", len(got), ok)
	}
}
