package session_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// A login (cycle_key) whose request was slow, and a logout in another tab
// that finished first: the login must not bring the session back under a
// new key (the resurrection). Likewise a logout after a parallel
// cycle, and two cycles of one session.
func TestCycleKeyNeverResurrects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first *session.Update // commits first, from its own load
		then  *session.Update // loaded before first committed
	}{
		{"logout then login", &session.Update{Flush: true}, &session.Update{CycleKey: true, Set: data("user", `"alice"`)}},
		{"cycle then cycle", &session.Update{CycleKey: true}, &session.Update{CycleKey: true}},
		{"cycle then logout", &session.Update{CycleKey: true}, &session.Update{Flush: true}},
		{"logout then cycle with expiry", &session.Update{Flush: true}, &session.Update{CycleKey: true, Expiry: &session.Expiry{Seconds: 60}}},
		{"logout then flush with new data", &session.Update{Flush: true}, &session.Update{Flush: true, Set: data("msg", `"bye"`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, session.Config{})
			key := seed(t, m, data("user", `"bob"`))
			slow := load(t, m, key)
			firstRes, err := m.Commit(ctx, load(t, m, key), tc.first)
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Commit(ctx, slow, tc.then)
			if !errors.Is(err, session.ErrInterrupted) {
				t.Fatalf("the slower request: err = %v, result %+v; want ErrInterrupted", err, res)
			}
			// Only what the first request left may be live.
			if !load(t, m, key).IsNew() {
				t.Fatal("the old key is live again")
			}
			if firstRes.Cookie == session.CookieSet {
				assertData(t, load(t, m, firstRes.Key).Data(), data("user", `"bob"`))
			}
		})
	}
}

// Many cycles of one session at once: exactly one wins, and one live
// session remains.
func TestParallelCyclesLeaveOneSession(t *testing.T) {
	m, _ := newManager(t, session.Config{})
	key := seed(t, m, data("user", `"bob"`))
	const n = 16
	sessions := make([]*session.Session, n)
	for i := range sessions {
		sessions[i] = load(t, m, key)
	}
	var mu sync.Mutex
	var won []string
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			res, err := m.Commit(ctx, s, &session.Update{CycleKey: true})
			switch {
			case err == nil:
				mu.Lock()
				won = append(won, res.Key)
				mu.Unlock()
			case !errors.Is(err, session.ErrInterrupted):
				t.Errorf("cycle: %v", err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d of %d parallel cycles succeeded; want exactly 1", len(won), n)
	}
	assertData(t, load(t, m, won[0]).Data(), data("user", `"bob"`))
}

// cycle_key takes what is stored, so a field another request wrote after
// this one loaded the session is kept under the new key.
func TestCycleKeyKeepsConcurrentWrites(t *testing.T) {
	m, _ := newManager(t, session.Config{})
	key := seed(t, m, data("user", `"bob"`))
	login := load(t, m, key)
	if _, err := m.Commit(ctx, load(t, m, key), &session.Update{Set: data("cart", `[1]`)}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Commit(ctx, login, &session.Update{CycleKey: true, Set: data("auth", `1`)})
	if err != nil {
		t.Fatal(err)
	}
	assertData(t, load(t, m, res.Key).Data(), data("user", `"bob"`, "cart", `[1]`, "auth", `1`))
}

func TestLimits(t *testing.T) {
	big := `"` + strings.Repeat("x", 200) + `"`
	for _, tc := range []struct {
		name    string
		cfg     session.Config
		seed    session.Data
		update  *session.Update
		wantErr string // "" for success
	}{
		{"under size", session.Config{MaxSize: 300}, nil, &session.Update{Set: data("a", big)}, ""},
		{"over size", session.Config{MaxSize: 100}, nil, &session.Update{Set: data("a", big)}, "session size 208 is over the limit of 100"},
		{"grows over size", session.Config{MaxSize: 300}, data("a", big), &session.Update{Set: data("b", big)}, "session size"},
		{"shrinking is allowed", session.Config{MaxSize: 220}, data("a", big), &session.Update{Delete: []string{"a"}, Set: data("b", "1")}, ""},
		{"too many keys", session.Config{MaxUpdateKeys: 2}, nil, &session.Update{Set: data("a", "1", "b", "2"), Delete: []string{"c"}}, "keys in one update 3 is over the limit of 2"},
		{"flush then set over size", session.Config{MaxSize: 100}, data("a", "1"), &session.Update{Flush: true, Set: data("a", big)}, "session size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, tc.cfg)
			s := load(t, m, "")
			var key string
			if tc.seed != nil {
				key = seed(t, m, tc.seed)
				s = load(t, m, key)
			}
			res, err := m.Commit(ctx, s, tc.update)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Commit: %v", err)
				}
				return
			}
			var le *session.LimitError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Commit = %+v, %v; want a LimitError %q", res, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "xxxx") {
				t.Fatalf("the error quotes session data: %v", err)
			}
			// Nothing persisted: the seeded session is as it was.
			if key != "" {
				assertData(t, load(t, m, key).Data(), tc.seed)
			}
		})
	}
}

// A stored session over the limit (written before the limit was lowered)
// is loaded as no session, so its token cannot grow past what upstreams
// accept, and left in the store: the user is not locked out, and raising
// the limit brings it back.
func TestOversizeStoredSessionIsNotLoaded(t *testing.T) {
	m, _ := newManager(t, session.Config{})
	key := seed(t, m, data("a", `"`+strings.Repeat("x", 500)+`"`))
	m.Config.MaxSize = 100
	s := load(t, m, key)
	if !s.IsNew() || len(s.Data()) != 0 || s.Oversize() != session.Size(data("a", `"`+strings.Repeat("x", 500)+`"`)) {
		t.Fatalf("oversized session loaded: new=%v data=%d oversize=%d", s.IsNew(), len(s.Data()), s.Oversize())
	}
	// The user can log in again: a fresh session under a new key.
	res, err := m.Commit(ctx, s, &session.Update{Set: data("user", `"bob"`)})
	if err != nil || res.Cookie != session.CookieSet || res.Key == key {
		t.Fatalf("login after an oversized session = %+v, %v", res, err)
	}
	m.Config.MaxSize = 0
	if load(t, m, key).IsNew() {
		t.Fatal("the oversized session was removed from the store")
	}
}

func TestSize(t *testing.T) {
	for _, d := range []session.Data{
		{},
		data("a", "1"),
		data("a", "1", "b", `"x"`),
		data("q\"uote\\", `{"x":[1,2]}`, "ctl\n\x01", "null", "é", `"é"`),
	} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := session.Size(d); got != len(b) {
			t.Errorf("Size(%s) = %d, want %d", b, got, len(b))
		}
	}
}

// A custom expiry too large for a time.Duration, or negative, stored by
// another tool, is ignored (the configured age applies), never wrapped
// around into an expiry in the past or centuries away.
func TestStoredExpiryNeverOverflows(t *testing.T) {
	for _, v := range []string{`10000000000`, `99999999999`, `9223372036854775807`, `99999999999999999999`, `-5`, `1.5`} {
		t.Run(v, func(t *testing.T) {
			m, clk := newManager(t, session.Config{})
			key := seed(t, m, data("a", "1", session.ExpiryKey, v))
			s := load(t, m, key)
			if s.IsNew() {
				t.Fatal("session with an odd expiry was not stored")
			}
			if got := s.ExpiresAt().Sub(clk.now()); got < age-time.Minute || got > age+time.Minute {
				t.Fatalf("expires in %v; want the configured %v", got, age)
			}
		})
	}
}

func TestValidExpiryValue(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{`0`, true}, {`3600`, true}, {`9223372036`, true},
		{`"2030-01-02T03:04:05+00:00"`, true}, {`"2030-01-02T03:04:05.123456"`, true},
		{`9223372037`, false}, {`10000000000`, false}, {`99999999999999999999`, false},
		{`-1`, false}, {`1.5`, false}, {`1e3`, false}, {`null`, false}, {`true`, false},
		{`"soon"`, false}, {`{}`, false}, {`[0]`, false}, {``, false},
	} {
		if _, ok := session.ValidExpiryValue(json.RawMessage(tc.v)); ok != tc.ok {
			t.Errorf("ValidExpiryValue(%s) = %v, want %v", tc.v, ok, tc.ok)
		}
	}
}
