package redisstore_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// loadSizes are the sessions BenchmarkLoad and TestLoadAllocs read: a
// login's few fields (about 100 bytes as JSON) and a 4 KiB session of 16
// fields.
var loadSizes = []struct {
	name string
	data session.Data
}{
	{"small", session.Data{
		"_auth_user_id":      []byte(`"7"`),
		"_auth_user_backend": []byte(`"django.contrib.auth.backends.ModelBackend"`),
		"_auth_user_hash":    []byte(`"0123456789abcdef"`),
		"cart":               []byte(`[1,2,3]`),
	}},
	{"4KiB", func() session.Data {
		d := session.Data{}
		for i := range 16 {
			d[fmt.Sprintf("field%02d", i)] = []byte(`"` + strings.Repeat("x", 240) + `"`)
		}
		return d
	}()},
}

// BenchmarkLoad is one Load (one HGETALL) of each of loadSizes, on one
// connection: the client's and the store's own CPU and allocations per
// read, beside the round trip.
func BenchmarkLoad(b *testing.B) {
	srv := testredis.Start(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 1})
	b.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, "bench")
	for _, sz := range loadSizes {
		b.Run(fmt.Sprintf("%s/%dB", sz.name, session.Size(sz.data)), func(b *testing.B) {
			key := session.NewKey()
			if _, err := s.Save(b.Context(), key, session.Change{Mode: session.ModeCreate, Set: sz.data, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := s.Load(b.Context(), key); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// TestLoadAllocs: what Load allocates beyond the client's own HGETALL (its
// reply's map and strings) is the session's map and one array for all of
// its values, not a copy of each value.
func TestLoadAllocs(t *testing.T) {
	srv := testredis.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 1})
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, "bench")
	for _, sz := range loadSizes {
		key := session.NewKey()
		if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: sz.data, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		client := testing.AllocsPerRun(50, func() {
			if err := c.HGetAll(t.Context(), "bench:"+key).Err(); err != nil {
				t.Fatal(err)
			}
		})
		load := testing.AllocsPerRun(50, func() {
			if _, ok, err := s.Load(t.Context(), key); err != nil || !ok {
				t.Fatal(ok, err)
			}
		})
		own := load - client
		t.Logf("%s: Load %v allocations, HGETALL alone %v", sz.name, load, client)
		if want := mapAllocs(len(sz.data)) + 1; own > want {
			t.Errorf("%s (%d fields): Load allocates %v beyond HGETALL, want at most %v", sz.name, len(sz.data), own, want)
		}
	}
}

// mapAllocs is how many allocations a session.Data of n fields made at its
// size takes.
func mapAllocs(n int) float64 {
	return testing.AllocsPerRun(50, func() {
		d := make(session.Data, n)
		for _, k := range mapKeys[:n] {
			d[k] = nil
		}
		sink = d
	})
}

var (
	sink    session.Data
	mapKeys = func() (keys []string) {
		for i := range 64 {
			keys = append(keys, strconv.Itoa(i))
		}
		return keys
	}()
)
