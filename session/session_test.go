package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
)

var ctx = context.Background()

const age = 14 * 24 * time.Hour

// clock is an injectable time source, so expiry is tested without sleeping.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newManager(t *testing.T, cfg session.Config) (*session.Manager, *clock) {
	t.Helper()
	if cfg.Age == 0 {
		cfg.Age = age
	}
	// Stores judge expiry by the real clock, so start from it.
	c := &clock{t: time.Now().UTC().Truncate(time.Hour).Add(time.Hour)}
	return &session.Manager{Store: memstore.New(), Config: cfg, Now: c.now}, c
}

func data(kv ...string) session.Data {
	d := session.Data{}
	for i := 0; i < len(kv); i += 2 {
		d[kv[i]] = json.RawMessage(kv[i+1])
	}
	return d
}

// seed stores a session with d and returns its key.
func seed(t *testing.T, m *session.Manager, d session.Data) string {
	t.Helper()
	s, err := m.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Commit(ctx, s, &session.Update{Set: d})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cookie != session.CookieSet || !session.ValidKey(res.Key) {
		t.Fatalf("seeding: got %+v", res)
	}
	return res.Key
}

func load(t *testing.T, m *session.Manager, cookie string) *session.Session {
	t.Helper()
	s, err := m.Load(ctx, cookie)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeys(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		k := session.NewKey()
		if !session.ValidKey(k) {
			t.Fatalf("NewKey gave invalid key %q", k)
		}
		if seen[k] {
			t.Fatalf("NewKey repeated %q", k)
		}
		seen[k] = true
	}
	for _, bad := range []string{"", "short", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "abcdefghijklmnopqrstuvwxyz01234/", "abcdefghijklmnopqrstuvwxyz0123456", "../../../../../../../../etc/pass"} {
		if session.ValidKey(bad) {
			t.Errorf("ValidKey(%q) = true", bad)
		}
	}
}

func TestCommit(t *testing.T) {
	inAnHour := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour) // the clock's start + 1h
	tests := []struct {
		name       string
		cfg        session.Config
		existing   session.Data // stored before the request; nil: no session
		cookie     string       // cookie when there is no existing session
		update     *session.Update
		wantCookie session.CookieAction
		wantData   session.Data // what is stored under the resulting key; nil: nothing
		newKey     bool         // the cookie's key differs from the request's
		wantAge    time.Duration
		wantClose  bool
	}{
		{name: "new session, no update: nothing stored, no cookie",
			wantCookie: session.CookieKeep},
		{name: "new session, set: created under a fresh key",
			update:     &session.Update{Set: data("a", "1")},
			wantCookie: session.CookieSet, wantData: data("a", "1"), newKey: true, wantAge: age},
		{name: "unknown cookie, no update: cookie deleted",
			cookie:     session.NewKey(),
			wantCookie: session.CookieDelete},
		{name: "malformed cookie, no update: cookie deleted",
			cookie:     "not-a-key",
			wantCookie: session.CookieDelete},
		{name: "unknown cookie, set: not adopted, fresh key",
			cookie:     session.NewKey(),
			update:     &session.Update{Set: data("a", "1")},
			wantCookie: session.CookieSet, wantData: data("a", "1"), newKey: true, wantAge: age},
		{name: "existing, no update: untouched",
			existing:   data("a", "1"),
			wantCookie: session.CookieKeep, wantData: data("a", "1")},
		{name: "existing, set and delete",
			existing:   data("a", "1", "b", "2"),
			update:     &session.Update{Delete: []string{"a"}, Set: data("c", "3")},
			wantCookie: session.CookieSet, wantData: data("b", "2", "c", "3"), wantAge: age},
		{name: "existing, clear: deleted with its cookie",
			existing:   data("a", "1"),
			update:     &session.Update{Clear: true},
			wantCookie: session.CookieDelete},
		{name: "existing, clear then set: replaced, same key",
			existing:   data("a", "1"),
			update:     &session.Update{Clear: true, Set: data("b", "2")},
			wantCookie: session.CookieSet, wantData: data("b", "2"), wantAge: age},
		{name: "existing, flush: deleted with its cookie",
			existing:   data("a", "1"),
			update:     &session.Update{Flush: true},
			wantCookie: session.CookieDelete},
		{name: "existing, flush then set: new key, only the new data",
			existing:   data("a", "1"),
			update:     &session.Update{Flush: true, Set: data("b", "2")},
			wantCookie: session.CookieSet, wantData: data("b", "2"), newKey: true, wantAge: age},
		{name: "existing, cycle key: new key, same data",
			existing:   data("a", "1"),
			update:     &session.Update{CycleKey: true, Set: data("user", `"alice"`)},
			wantCookie: session.CookieSet, wantData: data("a", "1", "user", `"alice"`), newKey: true, wantAge: age},
		{name: "existing, delete the last key: deleted with its cookie",
			existing:   data("a", "1"),
			update:     &session.Update{Delete: []string{"a"}},
			wantCookie: session.CookieDelete},
		{name: "set_expiry(0): browser-close cookie",
			update:     &session.Update{Set: data("a", "1"), Expiry: &session.Expiry{Seconds: 0}},
			wantCookie: session.CookieSet, wantData: data("a", "1", session.ExpiryKey, "0"), newKey: true, wantAge: age, wantClose: true},
		{name: "set_expiry(300)",
			update:     &session.Update{Set: data("a", "1"), Expiry: &session.Expiry{Seconds: 300}},
			wantCookie: session.CookieSet, wantData: data("a", "1", session.ExpiryKey, "300"), newKey: true, wantAge: 300 * time.Second},
		{name: "set_expiry(time)",
			update:     &session.Update{Set: data("a", "1"), Expiry: &session.Expiry{At: inAnHour}},
			wantCookie: session.CookieSet, wantData: data("a", "1", session.ExpiryKey, `"`+session.FormatTime(inAnHour)+`"`), newKey: true, wantAge: time.Hour},
		{name: "set_expiry(None) drops a custom expiry",
			existing:   data("a", "1", session.ExpiryKey, "300"),
			update:     &session.Update{Expiry: &session.Expiry{Default: true}},
			wantCookie: session.CookieSet, wantData: data("a", "1"), wantAge: age},
		{name: "set_expiry alone on an empty session stores it, as Django does",
			update:     &session.Update{Expiry: &session.Expiry{Seconds: 60}},
			wantCookie: session.CookieSet, wantData: data(session.ExpiryKey, "60"), newKey: true, wantAge: time.Minute},
		{name: "expire_at_browser_close",
			cfg:        session.Config{ExpireAtBrowserClose: true},
			update:     &session.Update{Set: data("a", "1")},
			wantCookie: session.CookieSet, wantData: data("a", "1"), newKey: true, wantAge: age, wantClose: true},
		{name: "save_every_request resends an unmodified session",
			cfg:        session.Config{SaveEveryRequest: true},
			existing:   data("a", "1"),
			wantCookie: session.CookieSet, wantData: data("a", "1"), wantAge: age},
		{name: "save_every_request stores nothing for an empty session",
			cfg:        session.Config{SaveEveryRequest: true},
			wantCookie: session.CookieKeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t, tt.cfg)
			cookie := tt.cookie
			if tt.existing != nil {
				cookie = seed(t, m, tt.existing)
			}
			s := load(t, m, cookie)
			res, err := m.Commit(ctx, s, tt.update)
			if err != nil {
				t.Fatal(err)
			}
			if res.Cookie != tt.wantCookie {
				t.Fatalf("cookie action = %v, want %v", res.Cookie, tt.wantCookie)
			}
			key := cookie
			if res.Cookie == session.CookieSet {
				key = res.Key
				if !session.ValidKey(key) {
					t.Fatalf("cookie key %q is not a session key", key)
				}
				if (key != cookie) != tt.newKey {
					t.Errorf("new key = %v, want %v", key != cookie, tt.newKey)
				}
				if res.Age != tt.wantAge || res.BrowserClose != tt.wantClose {
					t.Errorf("age, browser close = %v, %v; want %v, %v", res.Age, res.BrowserClose, tt.wantAge, tt.wantClose)
				}
			}
			got := load(t, m, key)
			if tt.wantData == nil {
				if !got.IsNew() {
					t.Errorf("session %v is stored, want nothing", got.Data())
				}
			} else {
				assertData(t, got.Data(), tt.wantData)
			}
			if tt.newKey && cookie != "" && !load(t, m, cookie).IsNew() {
				t.Errorf("the old key still holds a session")
			}
		})
	}
}

func assertData(t *testing.T, got, want session.Data) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("data = %s, want %s", js(got), js(want))
	}
	for k, v := range want {
		if string(got[k]) != string(v) {
			t.Fatalf("data = %s, want %s", js(got), js(want))
		}
	}
}

func js(d session.Data) string { b, _ := json.Marshal(d); return string(b) }

func TestExpiryCountsFromLastModification(t *testing.T) {
	m, c := newManager(t, session.Config{Age: time.Hour})
	key := seed(t, m, data("a", "1"))
	first := load(t, m, key).ExpiresAt()
	if want := c.t.Add(time.Hour); !first.Equal(want) {
		t.Fatalf("expires at %v, want %v", first, want)
	}

	c.t = c.t.Add(30 * time.Minute) // a read does not extend it
	s := load(t, m, key)
	if _, err := m.Commit(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	if got := load(t, m, key).ExpiresAt(); !got.Equal(first) {
		t.Fatalf("read moved expiry to %v", got)
	}

	if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Set: data("b", "2")}); err != nil {
		t.Fatal(err)
	}
	if got, want := load(t, m, key).ExpiresAt(), c.t.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("a write set expiry to %v, want %v", got, want)
	}

	c.t = c.t.Add(time.Hour + time.Second)
	if !load(t, m, key).IsNew() {
		t.Fatal("an expired session was loaded")
	}
}

func TestSaveEveryRequestExtendsExpiry(t *testing.T) {
	m, c := newManager(t, session.Config{Age: time.Hour, SaveEveryRequest: true})
	key := seed(t, m, data("a", "1"))
	c.t = c.t.Add(30 * time.Minute)
	if _, err := m.Commit(ctx, load(t, m, key), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := load(t, m, key).ExpiresAt(), c.t.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("expires at %v, want %v", got, want)
	}
}

func TestConcurrentLogoutIsNotUndone(t *testing.T) {
	m, _ := newManager(t, session.Config{})
	key := seed(t, m, data("user", `"alice"`))
	slow := load(t, m, key) // a request that started before the logout
	if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Flush: true}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Commit(ctx, slow, &session.Update{Set: data("cart", "1")})
	if err != session.ErrInterrupted {
		t.Fatalf("commit after a concurrent flush: err = %v, want ErrInterrupted", err)
	}
	if !load(t, m, key).IsNew() {
		t.Fatal("the flushed session came back")
	}
}

func TestDeleteKeepsFieldsWrittenConcurrently(t *testing.T) {
	m, _ := newManager(t, session.Config{})
	key := seed(t, m, data("a", "1"))
	deleter := load(t, m, key) // sees only "a"
	if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Set: data("b", "2")}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Commit(ctx, deleter, &session.Update{Delete: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cookie == session.CookieDelete {
		t.Fatal("cookie deleted although the session still holds b")
	}
	assertData(t, load(t, m, key).Data(), data("b", "2"))
}

func TestTimeFormat(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"2026-11-25T13:00:00+00:00", "2026-11-25T13:00:00+00:00"},
		{"2026-11-25T13:00:00.123456+01:00", "2026-11-25T13:00:00.123456+01:00"},
		{"2026-11-25T13:00:00Z", "2026-11-25T13:00:00+00:00"},
	} {
		got, err := session.ParseTime(tt.in)
		if err != nil {
			t.Fatalf("ParseTime(%q): %v", tt.in, err)
		}
		if s := session.FormatTime(got); s != tt.want {
			t.Errorf("FormatTime(ParseTime(%q)) = %q, want %q", tt.in, s, tt.want)
		}
	}
	if _, err := session.ParseTime("soon"); err == nil {
		t.Error(`ParseTime("soon") succeeded`)
	}
}

// TestCommitIncr: X-Session-Incr's semantics in the Manager, with the
// order flush, clear, delete, set, incr, cycle-key.
func TestCommitIncr(t *testing.T) {
	stored := func(t *testing.T, m *session.Manager, key string) session.Data {
		t.Helper()
		rec, ok, err := m.Store.Load(ctx, key)
		if err != nil || !ok {
			t.Fatalf("Load(%s) = %v, %v", key, ok, err)
		}
		return rec.Data
	}
	t.Run("update", func(t *testing.T) {
		m, _ := newManager(t, session.Config{})
		key := seed(t, m, data("n", `1`, "keep", `true`))
		s := load(t, m, key)
		// Another request increments meanwhile: both count.
		if _, err := m.Store.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Incr: map[string]int64{"n": 10}}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Commit(ctx, s, &session.Update{Incr: map[string]int64{"n": 1, "fresh": 5}}); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, m, key); string(got["n"]) != "12" || string(got["fresh"]) != "5" || string(got["keep"]) != "true" {
			t.Errorf("stored %v; want n 12, fresh 5, keep true", got)
		}
	})
	t.Run("set then incr", func(t *testing.T) {
		m, _ := newManager(t, session.Config{})
		key := seed(t, m, data("n", `1`))
		if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Set: data("n", `100`), Incr: map[string]int64{"n": 1}}); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, m, key); string(got["n"]) != "101" {
			t.Errorf("n = %s; want 101", got["n"])
		}
	})
	t.Run("clear then incr", func(t *testing.T) {
		m, _ := newManager(t, session.Config{})
		key := seed(t, m, data("n", `7`, "other", `1`))
		if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Clear: true, Incr: map[string]int64{"n": 1}}); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, m, key); len(got) != 1 || string(got["n"]) != "1" {
			t.Errorf("stored %v; want only n 1", got)
		}
	})
	t.Run("cycle keeps the count", func(t *testing.T) {
		m, _ := newManager(t, session.Config{})
		key := seed(t, m, data("n", `7`))
		res, err := m.Commit(ctx, load(t, m, key), &session.Update{CycleKey: true, Incr: map[string]int64{"n": 1}})
		if err != nil {
			t.Fatal(err)
		}
		if got := stored(t, m, res.Key); string(got["n"]) != "8" {
			t.Errorf("n under the new key = %s; want 8", got["n"])
		}
	})
	t.Run("new session", func(t *testing.T) {
		m, _ := newManager(t, session.Config{})
		s, err := m.Load(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Commit(ctx, s, &session.Update{Incr: map[string]int64{"visits": 1}})
		if err != nil || res.Key == "" {
			t.Fatalf("Commit = %+v, %v", res, err)
		}
		if got := stored(t, m, res.Key); string(got["visits"]) != "1" {
			t.Errorf("visits = %s; want 1", got["visits"])
		}
	})
	t.Run("not an integer", func(t *testing.T) {
		m, _ := newManager(t, session.Config{})
		key := seed(t, m, data("n", `"seven"`, "a", `1`))
		_, err := m.Commit(ctx, load(t, m, key), &session.Update{Set: data("a", `2`), Incr: map[string]int64{"n": 1}})
		if ie, ok := errors.AsType[*session.IncrError](err); !ok || ie.Key != "n" {
			t.Fatalf("Commit = %v; want an IncrError for n", err)
		}
		if got := stored(t, m, key); string(got["a"]) != "1" || string(got["n"]) != `"seven"` {
			t.Errorf("stored %v after a refused update; want it unchanged", got)
		}
	})
	t.Run("counts toward max_update_keys", func(t *testing.T) {
		m, _ := newManager(t, session.Config{MaxUpdateKeys: 2})
		key := seed(t, m, data("a", `1`))
		_, err := m.Commit(ctx, load(t, m, key), &session.Update{Set: data("a", `2`), Incr: map[string]int64{"b": 1, "c": 1}})
		if _, ok := errors.AsType[*session.LimitError](err); !ok {
			t.Fatalf("Commit = %v; want a LimitError", err)
		}
	})
}
