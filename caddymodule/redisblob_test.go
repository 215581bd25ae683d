package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/django"
	"github.com/caddy-session/caddy-session/session/redisblob"
)

func TestUnmarshalCacheStore(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string // the store's JSON
		wantErr string
	}{
		{name: "defaults", input: `store cache`, want: `{"backend":"cache"}`},
		{name: "empty block", input: `store cache { }`, want: `{"backend":"cache"}`},
		{
			name: "everything",
			input: `store cache { address 10.0.0.1:6379; master_name m; username u; password {env.P}; db 2; ` +
				`key_prefix djc; version 3; tls; dial_timeout 1s; timeout 3s; pool_size 5 }`,
			want: `{"backend":"cache","addresses":["10.0.0.1:6379"],"master_name":"m","username":"u","password":"{env.P}",` +
				`"db":2,"key_prefix":"djc","version":3,"tls":true,"dial_timeout":1000000000,"timeout":3000000000,"pool_size":5}`,
		},
		{name: "version 0 is kept", input: `store cache { version 0 }`, want: `{"backend":"cache","version":0}`},
		{name: "cluster", input: `store cache { address 10.0.0.1:6379 10.0.0.2:6379 }`, want: `{"backend":"cache","addresses":["10.0.0.1:6379","10.0.0.2:6379"]}`},
		{name: "bad version", input: `store cache { version one }`, wantErr: `store cache: version: bad value "one"`},
		{name: "version twice", input: `store cache { version 1; version 2 }`, wantErr: "store cache: version: already specified"},
		{name: "version without value", input: `store cache { version }`, wantErr: "store cache: "},
		{name: "unknown subdirective", input: `store cache { verison 2 }`, wantErr: `store cache: unrecognized subdirective "verison"`},
		{name: "argument", input: `store cache 127.0.0.1:6379`, wantErr: "store cache: takes a block, not arguments"},
		{name: "db on a cluster", input: `store cache { address 10.0.0.1:6379 10.0.0.2:6379; db 2 }`, wantErr: "store cache: db 2: a Redis Cluster"},
		{name: "placeholder typo", input: `store cache { password {envP} }`, wantErr: "store cache: password: unrecognized placeholder"},
		{name: "redis has no version", input: `store redis { version 2 }`, wantErr: `store redis: unrecognized subdirective "version"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := unmarshalSession(tt.input)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, h.StoreRaw, []byte(tt.want)) {
				t.Fatalf("store JSON = %s; want %s", h.StoreRaw, tt.want)
			}
		})
	}
}

func TestCacheStoreValidate(t *testing.T) {
	two := []string{"127.0.0.1:1", "127.0.0.1:2"}
	for _, tc := range []struct {
		name    string
		store   CacheStore
		wantErr string
	}{
		{name: "defaults", store: CacheStore{}},
		{name: "db on a cluster", store: CacheStore{RedisConn: RedisConn{Addresses: two, DB: 1}}, wantErr: "store cache: db 1: a Redis Cluster"},
		{name: "negative pool_size", store: CacheStore{RedisConn: RedisConn{PoolSize: -1}}, wantErr: "store cache: pool_size: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.store.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v; want %q", err, tc.wantErr)
			}
		})
	}
	t.Setenv("CADDY_SESSION_TEST_UNSET", "")
	c := CacheStore{RedisConn: RedisConn{Password: "{env.CADDY_SESSION_TEST_UNSET}"}}
	if err := c.Provision(provisionCtx(t)); err == nil || !strings.Contains(err.Error(), "store cache: password: evaluated placeholder") {
		t.Fatalf("Provision = %v; want the empty password named", err)
	}
}

// `store cache` keeps Django's cache engine layout whatever the handler's
// codec: "<key_prefix>:<version>:django.contrib.sessions.cache<key>", the
// session as JSON, the TTL the cookie age.
func TestHandlerCacheStore(t *testing.T) {
	srv := testredis.Start(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	for _, codec := range []string{"", "json", "django"} {
		t.Run("codec="+codec, func(t *testing.T) {
			h := newHandler(t, &Handler{
				Codec:    codec,
				StoreRaw: json.RawMessage(`{"backend":"cache","addresses":["` + srv.Addr() + `"],"key_prefix":"djc","version":2}`),
			})
			cookie := login(t, h, `{"_auth_user_id":"7","n":9007199254740993}`)
			key := "djc:2:django.contrib.sessions.cache" + cookie.Value
			got, err := raw.Get(t.Context(), key).Result()
			if err != nil {
				t.Fatalf("GET %s: %v", key, err)
			}
			if want := `{"_auth_user_id":"7","n":9007199254740993}`; got != want {
				t.Fatalf("stored %s; want %s", got, want)
			}
			if ttl := raw.PTTL(t.Context(), key).Val(); ttl < 14*24*time.Hour-time.Minute || ttl > 14*24*time.Hour {
				t.Fatalf("PTTL = %s; want the cookie age, 14 days", ttl)
			}
			if readClaims(t, h, cookie)["data"].(map[string]any)["_auth_user_id"] != "7" {
				t.Fatal("the session did not read back")
			}
		})
	}
}

// `store redis` is the hash layout with the default codec and
// django-redis-sessions' layout with codec django: "<key_prefix>:<key>"
// (the bare key with key_prefix ""), holding Django's signed encoding.
func TestHandlerRedisStoreDjangoLayout(t *testing.T) {
	srv := testredis.Start(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	const djangoKey = "django-insecure-test-key-for-redis-sessions"
	for _, tc := range []struct {
		name, codec, prefix, format, typ string
	}{
		{"hash layout", "", `"key_prefix":"session",`, "session:", "hash"},
		{"django bare key", "django", `"key_prefix":"",`, "", "string"},
		{"django default prefix", "django", ``, "session:", "string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandler(t, &Handler{
				Codec:           tc.codec,
				DjangoSecretKey: djangoKey,
				StoreRaw:        json.RawMessage(`{"backend":"redis",` + tc.prefix + `"addresses":["` + srv.Addr() + `"]}`),
			})
			cookie := login(t, h, `{"_auth_user_id":"7"}`)
			key := tc.format + cookie.Value
			if typ := raw.Type(t.Context(), key).Val(); typ != tc.typ {
				t.Fatalf("TYPE %s = %s; want %s", key, typ, tc.typ)
			}
			if tc.typ != "string" {
				return
			}
			b, err := raw.Get(t.Context(), key).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			data, err := (&django.Codec{Key: []byte(djangoKey), Salt: django.SessionSalt}).Decode(b)
			if err != nil || string(data["_auth_user_id"]) != `"7"` {
				t.Fatalf("the value decodes with Django's key as %q, %v", data, err)
			}
		})
	}
}

// The cache half of cached_db: the same store module, another engine
// prefix.
func TestCacheStoreBackendForCachedDB(t *testing.T) {
	srv := testredis.Start(t)
	c := &CacheStore{RedisConn: RedisConn{Addresses: []string{srv.Addr()}}}
	if _, err := c.Backend(redisblob.CachedDBEngine); err == nil {
		t.Fatal("Backend before Provision succeeded")
	}
	if err := c.Provision(provisionCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Cleanup() })
	b, err := c.Backend(redisblob.CachedDBEngine)
	if err != nil {
		t.Fatal(err)
	}
	s := &blob.Store{Backend: b, Codec: redisblob.CacheJSONCodec{}}
	key := session.NewKey()
	if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte("1")}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	if got := raw.Get(t.Context(), ":1:django.contrib.sessions.cached_db"+key).Val(); got != `{"a":1}` {
		t.Fatalf("cached_db key holds %q", got)
	}
}

// Two `store cache` configurations that differ only in key_prefix and
// version share one client; the last Cleanup closes it.
func TestCacheStoreSharesClient(t *testing.T) {
	srv := testredis.Start(t)
	v2 := 2
	a := &CacheStore{RedisConn: RedisConn{Addresses: []string{srv.Addr()}}, KeyPrefix: "a"}
	b := &CacheStore{RedisConn: RedisConn{Addresses: []string{srv.Addr()}}, KeyPrefix: "b", Version: &v2}
	for _, c := range []*CacheStore{a, b} {
		if err := c.Provision(provisionCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if a.client != b.client {
		t.Fatal("two clients for one connection configuration")
	}
	_ = a.Cleanup()
	if err := b.client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("the client closed while still in use: %v", err)
	}
	_ = b.Cleanup()
	if err := b.client.Ping(t.Context()).Err(); err == nil {
		t.Fatal("the client is still open after the last Cleanup")
	}
}
