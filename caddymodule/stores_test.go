package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/filestore"
)

// The file store's expired sessions are swept in the background, and the
// sweeper stops with the store.
func TestPurgerSweepsExpiredFiles(t *testing.T) {
	old := purgeInterval
	purgeInterval = 10 * time.Millisecond
	t.Cleanup(func() { purgeInterval = old })

	dir := dirWithMode(t, 0o700) // the store refuses a directory others can list
	fs, err := filestore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := session.NewKey()
	if _, err := fs.Save(t.Context(), key, session.Change{
		Mode:      session.ModeCreate,
		Set:       session.Data{"a": json.RawMessage("1")},
		ExpiresAt: time.Now().Add(50 * time.Millisecond),
	}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, key)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the session file was not written: %v", err)
	}

	var runs atomic.Int64
	stop := runPurger(zap.NewNop(), func(now time.Time) (int, error) {
		runs.Add(1)
		return fs.Purge(now)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(file); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired session file was never purged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	after := runs.Load()
	time.Sleep(50 * time.Millisecond)
	if runs.Load() != after {
		t.Fatal("the purger kept running after stop")
	}
}

// wait_replicas: parsed from the Caddyfile into wait_replicas and
// wait_timeout, and refused where WAIT cannot apply.
func TestRedisStoreWaitReplicas(t *testing.T) {
	parse := []struct {
		name, input string
		want        RedisStore
		wantErr     string
	}{
		{name: "n only", input: "redis {\n wait_replicas 1\n}", want: RedisStore{WaitReplicas: 1}},
		{name: "n and timeout", input: "redis {\n wait_replicas 2 250ms\n}", want: RedisStore{WaitReplicas: 2, WaitTimeout: caddy.Duration(250 * time.Millisecond)}},
		{name: "zero", input: "redis {\n wait_replicas 0\n}", wantErr: "wait_replicas: bad value \"0\""},
		{name: "no args", input: "redis {\n wait_replicas\n}", wantErr: "wait_replicas: want <n> [<timeout>]"},
		{name: "bad timeout", input: "redis {\n wait_replicas 1 soon\n}", wantErr: "wait_replicas: bad timeout"},
		{name: "twice", input: "redis {\n wait_replicas 1\n wait_replicas 2\n}", wantErr: "wait_replicas"},
		{name: "on a cluster", input: "redis {\n address 127.0.0.1:1 127.0.0.1:2\n wait_replicas 1\n}", wantErr: "wait_replicas: not on a Redis Cluster"},
		{name: "timeout not below the command timeout", input: "redis {\n timeout 1s\n wait_replicas 1 1s\n}", wantErr: "must be below the command timeout"},
	}
	for _, tc := range parse {
		t.Run(tc.name, func(t *testing.T) {
			rs, ok := parseRedisStore(t, tc.input, tc.wantErr)
			if !ok {
				return
			}
			if rs.WaitReplicas != tc.want.WaitReplicas || rs.WaitTimeout != tc.want.WaitTimeout {
				t.Fatalf("got wait_replicas %d, wait_timeout %s; want %d, %s", rs.WaitReplicas, time.Duration(rs.WaitTimeout), tc.want.WaitReplicas, time.Duration(tc.want.WaitTimeout))
			}
		})
	}

	validate := []struct {
		name    string
		store   RedisStore
		wantErr string
	}{
		{name: "sentinel", store: RedisStore{RedisConn: RedisConn{Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "m"}, WaitReplicas: 1}},
		{name: "negative", store: RedisStore{WaitReplicas: -1}, wantErr: "store redis: wait_replicas: must not be negative"},
		{name: "timeout alone", store: RedisStore{WaitTimeout: caddy.Duration(time.Second)}, wantErr: "store redis: wait_timeout: needs wait_replicas"},
		{name: "default timeout vs short command timeout", store: RedisStore{RedisConn: RedisConn{Timeout: caddy.Duration(500 * time.Millisecond)}, WaitReplicas: 1}, wantErr: "must be below the command timeout"},
	}
	for _, tc := range validate {
		t.Run("Validate/"+tc.name, func(t *testing.T) {
			err := tc.store.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v; want %q", err, tc.wantErr)
			}
		})
	}

	// `store cache` has no WAIT: its Django layout is another client's.
	var cs CacheStore
	if err := cs.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cache {\n wait_replicas 1\n}")); err == nil {
		t.Error("store cache accepted wait_replicas")
	}
}

// client_cache: parsed from the Caddyfile, and refused where go-redis
// cannot cache or the layout is not the store's own.
func TestRedisStoreClientCache(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        *RedisClientCache
		wantErr     string
	}{
		{name: "bare", input: "redis {\n client_cache\n}", want: &RedisClientCache{}},
		{name: "staleness and entries", input: "redis {\n client_cache 250ms {\n max_entries 50\n }\n}", want: &RedisClientCache{MaxStaleness: caddy.Duration(250 * time.Millisecond), MaxEntries: 50}},
		{name: "bad staleness", input: "redis {\n client_cache soon\n}", wantErr: "client_cache: bad max_staleness"},
		{name: "unknown", input: "redis {\n client_cache {\n size 5\n }\n}", wantErr: `client_cache: unrecognized subdirective "size"`},
		{name: "twice", input: "redis {\n client_cache\n client_cache\n}", wantErr: "client_cache"},
		{name: "cluster", input: "redis {\n address 127.0.0.1:1 127.0.0.1:2\n client_cache\n}", wantErr: "client_cache: single node only"},
		{name: "sentinel", input: "redis {\n address 127.0.0.1:1\n master_name m\n client_cache\n}", wantErr: "client_cache: single node only"},
		{name: "db", input: "redis {\n db 2\n client_cache\n}", wantErr: "client_cache: database 0 only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, ok := parseRedisStore(t, tc.input, tc.wantErr)
			if !ok {
				return
			}
			if rs.ClientCache == nil || *rs.ClientCache != *tc.want {
				t.Fatalf("got client_cache %+v; want %+v", rs.ClientCache, tc.want)
			}
		})
	}
	if cfg := (&RedisClientCache{}).cacheConfig(); cfg.MaxStaleness != time.Second || cfg.MaxEntries != 10000 {
		t.Errorf("defaults: %+v; want max_staleness 1s, max_entries 10000", cfg)
	}
	var cs CacheStore
	if err := cs.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cache {\n client_cache\n}")); err == nil {
		t.Error("store cache accepted client_cache")
	}
}

// parseRedisStore parses `store redis` from input. With wantErr it checks
// that parsing fails with an error containing it and reports false.
func parseRedisStore(t *testing.T, input, wantErr string) (*RedisStore, bool) {
	t.Helper()
	rs := new(RedisStore)
	err := rs.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err %v; want one containing %q", err, wantErr)
		}
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return rs, true
}
