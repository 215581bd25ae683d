package redisblob_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/redisblob"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func client(t *testing.T, srv *testredis.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// layouts are the two key layouts. django-redis-sessions' values are
// Django's signed encoding in production (see django_test.go), which
// normalises JSON text as Python writes it; the suite checks values byte
// for byte, so it runs that layout with the JSON codec.
var layouts = []struct {
	name  string
	key   func(string) string
	codec session.Codec
}{
	{"Cache", redisblob.CacheKey("", 1, redisblob.CacheEngine), redisblob.CacheJSONCodec{}},
	{"CacheWithPrefixAndVersion", redisblob.CacheKey("djc", 7, redisblob.CacheEngine), redisblob.CacheJSONCodec{}},
	{"CachedDBCache", redisblob.CacheKey("", 1, redisblob.CachedDBEngine), redisblob.CacheJSONCodec{}},
	{"Sessions", redisblob.SessionsKey(""), session.JSONCodec{}},
	{"SessionsWithPrefix", redisblob.SessionsKey("session"), session.JSONCodec{}},
}

func TestConformance(t *testing.T) {
	srv := testredis.Start(t)
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			s := &blob.Store{Backend: redisblob.New(client(t, srv), l.key), Codec: l.codec}
			storetest.Run(t, func(*testing.T) session.Store { return s })
		})
	}
}

// The cache layout on a Redis Cluster of three primaries: every script
// touches one key, so go-redis routes it to the key's node.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testredis.StartCluster(t, 3)
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = rc.Close() })
	s := &blob.Store{Backend: redisblob.New(rc, redisblob.CacheKey("djc", 1, redisblob.CacheEngine)), Codec: redisblob.CacheJSONCodec{}}
	storetest.Run(t, func(*testing.T) session.Store { return s })

	// The sessions were spread over the nodes, not all in one slot.
	seen := 0
	for _, n := range c.Nodes {
		if k, err := client(t, n).DBSize(t.Context()).Result(); err == nil && k > 0 {
			seen++
		}
	}
	if seen < 2 {
		t.Errorf("sessions on %d of 3 nodes; want them spread", seen)
	}
}

func TestKeyLayout(t *testing.T) {
	srv := testredis.Start(t)
	raw := client(t, srv)
	for _, tc := range []struct {
		name   string
		key    func(string) string
		format string
	}{
		{"cache defaults", redisblob.CacheKey("", 1, redisblob.CacheEngine), ":1:django.contrib.sessions.cache%s"},
		{"cache prefix and version", redisblob.CacheKey("djc", 3, redisblob.CacheEngine), "djc:3:django.contrib.sessions.cache%s"},
		{"cached_db", redisblob.CacheKey("", 1, redisblob.CachedDBEngine), ":1:django.contrib.sessions.cached_db%s"},
		{"sessions bare", redisblob.SessionsKey(""), "%s"},
		{"sessions prefix", redisblob.SessionsKey("session"), "session:%s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := &blob.Store{Backend: redisblob.New(client(t, srv), tc.key), Codec: redisblob.CacheJSONCodec{}}
			key := session.NewKey()
			expiresAt := time.Now().Add(time.Hour)
			set := session.Data{"user_id": []byte(`9007199254740993`), "name": []byte(`"José \u00e9"`)}
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: set, ExpiresAt: expiresAt}); err != nil {
				t.Fatal(err)
			}
			rkey := fmt.Sprintf(tc.format, key)
			got, err := raw.Get(ctx, rkey).Result()
			if err != nil {
				t.Fatalf("GET %s: %v", rkey, err)
			}
			if want := `{"name":"José \u00e9","user_id":9007199254740993}`; got != want {
				t.Errorf("GET %s = %s; want %s", rkey, got, want)
			}
			at, err := raw.PExpireTime(ctx, rkey).Result()
			if err != nil {
				t.Fatal(err)
			}
			if at.Milliseconds() != expiresAt.UnixMilli() {
				t.Errorf("PEXPIRETIME = %d; want %d", at.Milliseconds(), expiresAt.UnixMilli())
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

// A key without a TTL, or of another type, is not a session this layout
// wrote: it reads as missing, is never deleted, and a new session drawn
// under its key replaces it.
func TestForeignValues(t *testing.T) {
	srv := testredis.Start(t)
	raw := client(t, srv)
	b := redisblob.New(client(t, srv), redisblob.SessionsKey(""))
	s := &blob.Store{Backend: b, Codec: session.JSONCodec{}}
	ctx := t.Context()
	for name, put := range map[string]func(key string) error{
		"string without TTL": func(key string) error { return raw.Set(ctx, key, `{"a":1}`, 0).Err() },
		"hash":               func(key string) error { return raw.HSet(ctx, key, "a", "1").Err() },
	} {
		t.Run(name, func(t *testing.T) {
			key := session.NewKey()
			if err := put(key); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := b.Read(ctx, key); ok || err != nil {
				t.Fatalf("Read = %v, %v; want not found, nil", ok, err)
			}
			if found, err := s.Delete(ctx, key); found || err != nil {
				t.Fatalf("Delete = %v, %v; want false, nil", found, err)
			}
			if raw.Exists(ctx, key).Val() != 1 {
				t.Fatal("Delete removed a value it did not write")
			}
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": []byte("2")}, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, session.ErrGone) {
				t.Fatalf("Save(update) = %v; want ErrGone", err)
			}
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"b": []byte("2")}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatalf("Save(create) = %v", err)
			}
			if got := raw.Get(ctx, key).Val(); got != `{"b":2}` {
				t.Fatalf("after create: %q", got)
			}
		})
	}
}

// A write that lands between Modify's read and its check-and-set makes the
// check fail; fn runs again on the newer value, and the newer write
// survives.
func TestModifyRetriesOnConflict(t *testing.T) {
	srv := testredis.Start(t)
	raw := client(t, srv)
	b := redisblob.New(client(t, srv), redisblob.SessionsKey(""))
	ctx := t.Context()

	for _, tc := range []struct {
		name  string
		start func(key string) // the state before Modify
		race  func(key string) // the concurrent write
	}{
		{"changed", func(key string) { raw.Set(ctx, key, "v1", time.Hour) }, func(key string) { raw.Set(ctx, key, "v2", time.Hour) }},
		{"created", func(string) {}, func(key string) { raw.Set(ctx, key, "v2", time.Hour) }},
		{"deleted", func(key string) { raw.Set(ctx, key, "v1", time.Hour) }, func(key string) { raw.Del(ctx, key) }},
		{"TTL removed", func(key string) { raw.Set(ctx, key, "v1", time.Hour) }, func(key string) { raw.Persist(ctx, key) }},
		{"replaced by a hash", func(key string) { raw.Set(ctx, key, "v1", time.Hour) }, func(key string) { raw.Del(ctx, key); raw.HSet(ctx, key, "a", "1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := session.NewKey()
			tc.start(key)
			var calls int
			var seen []string
			err := b.Modify(ctx, key, func(cur blob.Value, exists bool) (blob.Op, error) {
				calls++
				seen = append(seen, fmt.Sprintf("%s/%v", cur.Data, exists))
				if calls == 1 {
					tc.race(key)
				}
				return blob.Op{Kind: blob.Put, Value: blob.Value{Data: append([]byte("after "), cur.Data...), ExpiresAt: time.Now().Add(time.Hour)}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 2 {
				t.Fatalf("fn ran %d times (%q); want 2", calls, seen)
			}
			want := "after " + strings.TrimSuffix(strings.TrimSuffix(seen[1], "/true"), "/false")
			if got := raw.Get(ctx, key).Val(); got != want {
				t.Fatalf("stored %q; want %q (fn saw %q)", got, want, seen)
			}
		})
	}
}

// A writer that loses every race gives up after MaxAttempts with
// ErrContended, having written nothing.
func TestModifyGivesUp(t *testing.T) {
	srv := testredis.Start(t)
	raw := client(t, srv)
	b := redisblob.New(client(t, srv), redisblob.SessionsKey(""))
	key := session.NewKey()
	var calls atomic.Int64
	err := b.Modify(t.Context(), key, func(blob.Value, bool) (blob.Op, error) {
		n := calls.Add(1)
		raw.Set(t.Context(), key, fmt.Sprint("other ", n), time.Hour)
		return blob.Op{Kind: blob.Put, Value: blob.Value{Data: []byte("mine"), ExpiresAt: time.Now().Add(time.Hour)}}, nil
	})
	if !errors.Is(err, redisblob.ErrContended) {
		t.Fatalf("Modify = %v; want ErrContended", err)
	}
	if calls.Load() != redisblob.MaxAttempts {
		t.Fatalf("fn ran %d times; want %d", calls.Load(), redisblob.MaxAttempts)
	}
	if got := raw.Get(t.Context(), key).Val(); got == "mine" {
		t.Fatal("a write got through")
	}
}

// Errors name neither the key nor the value.
func TestErrorsHideKeyAndData(t *testing.T) {
	srv := testredis.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	s := &blob.Store{Backend: redisblob.New(c, redisblob.CacheKey("pfx", 1, redisblob.CacheEngine)), Codec: redisblob.CacheJSONCodec{}}
	key := session.NewKey()
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, errLoad := s.Load(ctx, key)
	_, errSave := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"secret": []byte(`"hunter2"`)}, ExpiresAt: time.Now().Add(time.Hour)})
	_, errDel := s.Delete(ctx, key)
	for _, err := range []error{errLoad, errSave, errDel} {
		if err == nil {
			t.Fatal("no error with Redis down")
		}
		for _, secret := range []string{key, "hunter2", "pfx"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q", err, secret)
			}
		}
	}
}
