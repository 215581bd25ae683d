package caddymodule

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// TestRedisConnEveryStore gives every connection subdirective to each store
// that talks to Redis and requires that each reaches the same connection
// and the same go-redis options: the block is parsed, checked and turned
// into a client in one place. A field added to RedisConn without its
// subdirective here fails the test.
func TestRedisConnEveryStore(t *testing.T) {
	block := map[string]string{
		"address":      "address 10.0.0.1:26379 10.0.0.2:26379",
		"master_name":  "master_name mymaster",
		"username":     "username app",
		"password":     "password {env.CADDY_SESSION_TEST_REDIS_PASSWORD}",
		"db":           "db 2",
		"tls":          "tls",
		"dial_timeout": "dial_timeout 3s",
		"timeout":      "timeout 4s",
		"pool_size":    "pool_size 7",
		"pipeline":     "pipeline off",
	}
	want := RedisConn{
		Addresses:   []string{"10.0.0.1:26379", "10.0.0.2:26379"},
		MasterName:  "mymaster",
		Username:    "app",
		Password:    "{env.CADDY_SESSION_TEST_REDIS_PASSWORD}",
		DB:          2,
		TLS:         true,
		DialTimeout: caddy.Duration(3 * time.Second),
		Timeout:     caddy.Duration(4 * time.Second),
		PoolSize:    7,
		Pipeline:    new(false),
	}
	typ := reflect.TypeFor[RedisConn]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "addresses" {
			name = "address"
		}
		if _, ok := block[name]; !ok {
			t.Errorf("RedisConn.%s: no subdirective %q in this test's block: add it here, and it reaches every store", f.Name, name)
		}
		if reflect.ValueOf(want).Field(i).IsZero() {
			t.Errorf("RedisConn.%s: zero in the wanted connection: give it a value", f.Name)
		}
	}
	var lines []string
	for _, l := range block {
		lines = append(lines, l)
	}
	conn := strings.Join(lines, "\n")
	t.Setenv("CADDY_SESSION_TEST_REDIS_PASSWORD", "s3cret")

	for _, tc := range []struct {
		name, input string
		conn        func(caddyfile.Unmarshaler) *RedisConn
		mod         caddyfile.Unmarshaler
	}{
		{"redis", "redis {\n" + conn + "\n}", func(m caddyfile.Unmarshaler) *RedisConn { return &m.(*RedisStore).RedisConn }, new(RedisStore)},
		{"cache", "cache {\n" + conn + "\nversion 3\n}", func(m caddyfile.Unmarshaler) *RedisConn { return &m.(*CacheStore).RedisConn }, new(CacheStore)},
		{"cached_db", "cached_db {\ncache {\n" + conn + "\n}\ndb {\ndsn /tmp/x.sqlite3\n}\n}", func(m caddyfile.Unmarshaler) *RedisConn { return &m.(*CachedDBStore).Cache.RedisConn }, new(CachedDBStore)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.mod.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input)); err != nil {
				t.Fatal(err)
			}
			got := tc.conn(tc.mod)
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("connection\n got %+v\nwant %+v", *got, want)
			}
			opts, err := got.clientOptions()
			if err != nil {
				t.Fatal(err)
			}
			if opts.Password != "s3cret" || opts.MasterName != "mymaster" || opts.DB != 2 || opts.TLSConfig == nil ||
				opts.DialTimeout != 3*time.Second || opts.ReadTimeout != 4*time.Second || opts.WriteTimeout != 4*time.Second || opts.PoolSize != 7 || len(opts.Addrs) != 2 {
				t.Fatalf("go-redis options %+v do not carry the block", opts)
			}
		})
	}
}

// TestRedisConnChecksEveryStore: a connection that cannot work is refused
// with the same message by each store, named after it.
func TestRedisConnChecksEveryStore(t *testing.T) {
	for _, tc := range []struct{ input, wantErr string }{
		{"redis {\naddress 10.0.0.1:6379 10.0.0.2:6379\ndb 2\n}", "store redis: db 2: a Redis Cluster"},
		{"cache {\naddress 10.0.0.1:6379 10.0.0.2:6379\ndb 2\n}", "store cache: db 2: a Redis Cluster"},
		{"cached_db {\ncache {\naddress 10.0.0.1:6379 10.0.0.2:6379\ndb 2\n}\ndb {\ndsn /tmp/x\n}\n}", "store cache: db 2: a Redis Cluster"},
		{"cache {\nmaster_name m\n}", "store cache: master_name: needs the sentinels' addresses"},
		{"cache {\nwait_replicas 1\n}", `store cache: unrecognized subdirective "wait_replicas"`},
	} {
		var mod caddyfile.Unmarshaler
		switch {
		case strings.HasPrefix(tc.input, "redis"):
			mod = new(RedisStore)
		case strings.HasPrefix(tc.input, "cache "):
			mod = new(CacheStore)
		default:
			mod = new(CachedDBStore)
		}
		err := mod.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v, want %q", tc.input, err, tc.wantErr)
		}
	}
}

// TestRedisConnPipeline: the client a Redis block builds sends the
// commands of concurrent requests to a node in fewer round trips than
// commands, by default; with `pipeline off`, one round trip each. With
// client_cache, `pipeline on` is refused.
func TestRedisConnPipeline(t *testing.T) {
	srv := testredis.Start(t)
	for _, tc := range []struct {
		block     string
		pipelined bool
	}{
		{"", true},
		{"pipeline on", true},
		{"pipeline off", false},
	} {
		t.Run(tc.block, func(t *testing.T) {
			rs := new(RedisStore)
			input := "redis {\naddress " + srv.Addr() + "\n" + tc.block + "\n}"
			if err := rs.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
				t.Fatal(err)
			}
			opts, err := rs.clientOptions()
			if err != nil {
				t.Fatal(err)
			}
			client := rs.newClient(opts)
			t.Cleanup(func() { _ = client.Close() })
			ctx := t.Context()
			const callers, each = 32, 30
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					for range each {
						if err := client.HGetAll(ctx, fmt.Sprintf("h%d", i)).Err(); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			// Pools warm, connections said HELLO: count from here.
			wg.Wait()
			before := totalReads(t, srv)
			for i := range callers {
				wg.Go(func() {
					for range each {
						_ = client.HGetAll(ctx, fmt.Sprintf("h%d", i)).Err()
					}
				})
			}
			wg.Wait()
			trips := totalReads(t, srv) - before - 1
			if tc.pipelined && trips >= callers*each {
				t.Errorf("%d concurrent HGETALLs took %d round trips; want fewer (pipelined)", callers*each, trips)
			}
			if !tc.pipelined && trips < callers*each {
				t.Errorf("%d concurrent HGETALLs took %d round trips; want one each at least (pipeline off)", callers*each, trips)
			}
		})
	}
	err := new(RedisStore).UnmarshalCaddyfile(caddyfile.NewTestDispenser("redis {\npipeline on\nclient_cache\n}"))
	if err == nil || !strings.Contains(err.Error(), "pipeline on: not with client_cache") {
		t.Errorf("pipeline on with client_cache: error %v; want it refused", err)
	}
}

// totalReads is the requests and pipelines Redis has read from clients
// (INFO stats total_reads_processed).
func totalReads(t *testing.T, srv *testredis.Server) int {
	t.Helper()
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 1})
	defer raw.Close()
	return testredis.TotalReads(t, raw)
}
