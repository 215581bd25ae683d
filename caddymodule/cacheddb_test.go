package caddymodule

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func TestCachedDBCaddyfile(t *testing.T) {
	var c CachedDBStore
	d := caddyfile.NewTestDispenser(`cached_db {
		cache {
			address 127.0.0.1:6379
			key_prefix djc
			version 2
		}
		db {
			dsn /var/lib/app/db.sqlite3
			table django_session
		}
	}`)
	if err := c.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	want := `{"cache":{"addresses":["127.0.0.1:6379"],"key_prefix":"djc","version":2},"db":{"dsn":"/var/lib/app/db.sqlite3","table":"django_session"}}`
	if string(b) != want {
		t.Fatalf("JSON = %s\nwant  %s", b, want)
	}
	for _, bad := range []string{
		`cached_db { cache { address 127.0.0.1:6379 } }`,
		`cached_db { db { dsn x.db } db { dsn y.db } cache { } }`,
		`cached_db { cache { address a:1 } db { dsn x.db } other 1 }`,
	} {
		var c CachedDBStore
		if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil || !strings.Contains(err.Error(), "store cached_db") {
			t.Errorf("%s: error %v; want one naming store cached_db", bad, err)
		}
	}
}

// The composite on a real Redis and a real SQLite database passes the
// shared conformance suite: deltas under the database's lock, reads through
// the cache, ends that stay ended.
func TestCachedDBConformance(t *testing.T) {
	rs := testredis.Start(t)
	c := &CachedDBStore{
		Cache: CacheStore{RedisConn: RedisConn{Addresses: []string{rs.Addr()}}, KeyPrefix: "djc"},
		DB:    DBStore{DSN: filepath.Join(t.TempDir(), "sessions.sqlite3")},
	}
	ctx := provisionCtx(t)
	if err := c.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Cleanup() })
	s, err := c.OpenStore(StoreOptions{Codec: "json", CookieName: "sessionid", Age: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(*testing.T) session.Store { return s })

	// Reads fill Django's cached_db key.
	key := session.NewKey()
	if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Load(t.Context(), key); !ok || err != nil {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	raw := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	if got, err := raw.Get(t.Context(), "djc:1:django.contrib.sessions.cached_db"+key).Result(); err != nil || got != `{"a":1}` {
		t.Fatalf("cached copy = %q, %v; want the session as JSON", got, err)
	}
}
