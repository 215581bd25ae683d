package redisstore_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func client(t *testing.T, srv *testredis.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	srv := testredis.Start(t)
	for _, prefix := range []string{"", "session"} {
		t.Run(fmt.Sprintf("Prefix=%q", prefix), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) session.Store { return redisstore.New(client(t, srv), prefix) })
		})
	}
}

func TestKeyLayout(t *testing.T) {
	srv := testredis.Start(t)
	raw := client(t, srv)
	for _, tc := range []struct{ prefix, format string }{
		{"", "%s"},
		{"django_sessions", "django_sessions:%s"},
	} {
		t.Run(fmt.Sprintf("Prefix=%q", tc.prefix), func(t *testing.T) {
			ctx := t.Context()
			s := redisstore.New(client(t, srv), tc.prefix)
			key := session.NewKey()
			expiresAt := time.Now().Add(time.Hour)
			set := session.Data{"user_id": []byte(`9007199254740993`), "name": []byte(`"José \u00e9"`)}
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: set, ExpiresAt: expiresAt}); err != nil {
				t.Fatal(err)
			}
			rkey := fmt.Sprintf(tc.format, key)
			if typ := raw.Type(ctx, rkey).Val(); typ != "hash" {
				t.Fatalf("TYPE %s = %q; want hash", rkey, typ)
			}
			fields, err := raw.HGetAll(ctx, rkey).Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(fields) != len(set)+1 {
				t.Errorf("HGETALL %s = %q; want %d fields and the expiry", rkey, fields, len(set))
			}
			if want := fmt.Sprint(expiresAt.UnixMilli()); fields[redisstore.ExpiryField] != want {
				t.Errorf("expiry field = %q; want %s", fields[redisstore.ExpiryField], want)
			}
			for k, v := range set {
				if fields[k] != string(v) {
					t.Errorf("field %q = %q; want %q", k, fields[k], v)
				}
			}
			at, err := raw.PExpireTime(ctx, rkey).Result()
			if err != nil {
				t.Fatal(err)
			}
			if at.Milliseconds() != expiresAt.UnixMilli() {
				t.Errorf("PEXPIRETIME = %d; want %d", at.Milliseconds(), expiresAt.UnixMilli())
			}
			if n := raw.DBSize(ctx).Val(); n != 1 {
				t.Errorf("DBSIZE = %d; want 1 (the hash only)", n)
			}
			if _, err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if n := raw.Exists(ctx, rkey).Val(); n != 0 {
				t.Errorf("key %s still exists after Delete", rkey)
			}
		})
	}
}

func TestHashWithoutTTLIsNotASession(t *testing.T) {
	srv := testredis.Start(t)
	key := session.NewKey()
	if err := client(t, srv).HSet(t.Context(), key, "a", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := redisstore.New(client(t, srv), "").Load(t.Context(), key); ok || err != nil {
		t.Fatalf("Load = %v, %v; want not found, nil", ok, err)
	}
}

// TestHashOfAnEarlierVersion: a hash with a TTL but no expiry field, as
// the store wrote before ExpiryField, still loads, and the next update
// adds the field without changing the expiry.
func TestHashOfAnEarlierVersion(t *testing.T) {
	srv := testredis.Start(t)
	raw := client(t, srv)
	ctx := t.Context()
	key := session.NewKey()
	expiresAt := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := raw.HSet(ctx, key, "a", "1").Err(); err != nil {
		t.Fatal(err)
	}
	raw.PExpireAt(ctx, key, expiresAt)
	s := redisstore.New(client(t, srv), "")
	rec, ok, err := s.Load(ctx, key)
	if !ok || err != nil || string(rec.Data["a"]) != "1" || len(rec.Data) != 1 {
		t.Fatalf("Load = %v, %v, %v; want {a: 1}", rec.Data, ok, err)
	}
	if d := rec.ExpiresAt.Sub(expiresAt); d < -time.Second || d > time.Second {
		t.Errorf("ExpiresAt = %v; want about %v", rec.ExpiresAt, expiresAt)
	}
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": []byte(`2`)}}); err != nil {
		t.Fatal(err)
	}
	if got, want := raw.HGet(ctx, key, redisstore.ExpiryField).Val(), fmt.Sprint(expiresAt.UnixMilli()); got != want {
		t.Errorf("expiry field after an update = %q; want %s", got, want)
	}
}

// TestDeletingEveryFieldEndsTheSession: the expiry field alone is no
// session.
func TestDeletingEveryFieldEndsTheSession(t *testing.T) {
	srv := testredis.Start(t)
	s := redisstore.New(client(t, srv), "session")
	ctx := t.Context()
	key := session.NewKey()
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	left, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Delete: []string{"a"}})
	if left || err != nil {
		t.Fatalf("Save(delete the only field) = %v, %v; want false, nil", left, err)
	}
	if n := client(t, srv).Exists(ctx, "session:"+key).Val(); n != 0 {
		t.Error("the hash is still stored with only its expiry field")
	}
}

func TestLargeSession(t *testing.T) {
	// More fields than Lua's unpack() could take at once.
	srv := testredis.Start(t)
	s := redisstore.New(client(t, srv), "")
	key := session.NewKey()
	set := make(session.Data, 20000)
	for i := range 20000 {
		set[fmt.Sprint(i)] = []byte(fmt.Sprint(i))
	}
	if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: set, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	left, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Delete: slices.Collect(maps.Keys(set)), ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil || left {
		t.Fatalf("Save(delete all) = %v, %v; want false, nil", left, err)
	}
}

func TestOutage(t *testing.T) {
	srv := testredis.Start(t)
	// No retries: each failure is quick, and recovery must not depend on
	// a retry hiding a dead pooled connection.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, "session")
	ctx := t.Context()
	key := session.NewKey()
	create := session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: time.Now().Add(time.Hour)}
	if _, err := s.Save(ctx, key, create); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	if _, ok, err := s.Load(ctx, key); err == nil {
		t.Errorf("Load while Redis is down = %v, nil; want an error", ok)
	}
	update := session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": []byte(`2`)}, ExpiresAt: time.Now().Add(time.Hour)}
	if _, err := s.Save(ctx, key, update); err == nil || errors.Is(err, session.ErrGone) {
		t.Errorf("Save while Redis is down: error = %v; want a connection error", err)
	}
	if _, err := s.Delete(ctx, key); err == nil {
		t.Error("Delete while Redis is down succeeded")
	}

	// The restarted server is empty and has no scripts cached: the same
	// store must reconnect and fall back from EVALSHA to EVAL.
	srv.Restart()
	if _, ok, err := s.Load(ctx, key); ok || err != nil {
		t.Fatalf("Load after restart = %v, %v; want not found, nil", ok, err)
	}
	if _, err := s.Save(ctx, key, create); err != nil {
		t.Fatalf("Save after restart: %v", err)
	}
	if rec, ok, err := s.Load(ctx, key); !ok || err != nil || string(rec.Data["a"]) != "1" {
		t.Fatalf("Load after restart = %v, %v, %v", rec, ok, err)
	}
}
