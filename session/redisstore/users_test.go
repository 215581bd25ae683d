package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func indexed(t *testing.T, s *redisstore.Store) session.UserIndexer {
	t.Helper()
	ix, err := s.WithUserIndex(storetest.UserField)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestUserIndex(t *testing.T) {
	srv := testredis.Start(t)
	for _, prefix := range []string{"", "session"} {
		t.Run(fmt.Sprintf("Prefix=%q", prefix), func(t *testing.T) {
			open := func(t *testing.T) session.UserIndexer { return indexed(t, redisstore.New(client(t, srv), prefix)) }
			storetest.RunUserIndex(t, open)
			t.Run("Store", func(t *testing.T) {
				storetest.Run(t, func(t *testing.T) session.Store { return open(t) })
			})
		})
	}
}

// The index with client_cache: the view's writes drop the cached copies as
// the store's own do, so a read after a cycle_key or a revocation never
// sees the session as it was.
func TestUserIndexClientCache(t *testing.T) {
	srv := testredis.Start(t)
	open := func(t *testing.T) session.UserIndexer {
		s, _ := cachedStore(t, srv, time.Minute)
		return indexed(t, s)
	}
	storetest.RunUserIndex(t, open)
	t.Run("Store", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) session.Store { return open(t) })
	})
}

// The index hash in Redis itself: its entries go with their sessions, and
// the hash expires with the last of them.
func TestUserIndexLayout(t *testing.T) {
	srv := testredis.Start(t)
	raw := client(t, srv)
	ctx := t.Context()
	s := indexed(t, redisstore.New(client(t, srv), "session"))
	short, long := session.NewKey(), session.NewKey()
	shortExp, longExp := time.Now().Add(300*time.Millisecond), time.Now().Add(time.Hour)
	for key, exp := range map[string]time.Time{short: shortExp, long: longExp} {
		if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"_auth_user_id": []byte(`"42"`)}, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if n := raw.HLen(ctx, "session:user:42").Val(); n != 2 {
		t.Fatalf("HLEN session:user:42 = %d; want 2", n)
	}
	if ttl := raw.PTTL(ctx, "session:user:42").Val(); ttl < 59*time.Minute {
		t.Fatalf("the index hash's TTL is %v; want the latest session's, about 1h", ttl)
	}
	time.Sleep(time.Until(shortExp) + 200*time.Millisecond)
	list, err := s.UserSessions(ctx, "42")
	if err != nil || len(list) != 1 || list[0].Key != long {
		t.Fatalf("UserSessions = %d sessions, %v; want the live one", len(list), err)
	}
	if ok := raw.HExists(ctx, "session:user:42", short).Val(); ok {
		t.Fatal("the expired session's entry is still in the index hash after a listing")
	}
	if _, err := s.Delete(ctx, long); err != nil {
		t.Fatal(err)
	}
	if n := raw.Exists(ctx, "session:user:42").Val(); n != 0 {
		t.Fatal("the index hash outlived its last session's removal")
	}
}

// The scripts read a user as session.UserValue does.
func TestUserIndexValues(t *testing.T) {
	srv := testredis.Start(t)
	s := indexed(t, redisstore.New(client(t, srv), "session"))
	ctx := t.Context()
	for _, v := range []string{`"42"`, `42`, `-7`, `1.5e3`, `" spaced "`, `"\u00e9t\u00e9"`, `"日本"`, `9007199254740993`, `""`, `null`, `true`, `{}`, `[1]`, `01`, `1.`, `"` + string(make([]byte, 300)) + `"`} {
		t.Run(v, func(t *testing.T) {
			key := session.NewKey()
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"_auth_user_id": []byte(v), "x": []byte(`1`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			user, ok := session.UserValue([]byte(v))
			if !ok {
				return
			}
			list, err := s.UserSessions(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, us := range list {
				found = found || us.Key == key
			}
			if !found {
				t.Fatalf("session with user %s not listed under %q", v, user)
			}
		})
	}
}
