package dbstore_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testpg"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/dbstore"
)

// BenchmarkRead is the read path of the db store against real databases:
// one stored session of about 100 bytes (a login and a small cart), read
// by key, as each request with a session cookie does; parallel reads from
// GOMAXPROCS goroutines, as concurrent requests do. Besides ns/op (wall
// time, which swings with whatever else runs on the machine), cpu-ns/op is
// this process's own CPU time per read (getrusage): what a read costs
// Caddy, the database server's work aside.
//
//	go test -run '^$' -bench BenchmarkRead -benchmem ./session/dbstore
func BenchmarkRead(b *testing.B) {
	for _, e := range []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"PostgreSQL", func(b *testing.B) string { _, dsn := testpg.Database(b, "dbstore_bench_"); return dsn }},
		{"SQLite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "db.sqlite3") }},
	} {
		b.Run(e.name, func(b *testing.B) {
			backend, err := dbstore.Open(e.dsn(b), "")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { backend.Close() })
			key := session.NewKey()
			data := []byte(`{"_auth_user_id":"42","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","cart":[1,2,3]}`)
			err = backend.Modify(b.Context(), key, func(blob.Value, bool) (blob.Op, error) {
				return blob.Op{Kind: blob.Put, Value: blob.Value{Data: data, ExpiresAt: time.Now().Add(time.Hour)}}, nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				defer cpuPerOp(b)()
				for b.Loop() {
					if _, ok, err := backend.Read(b.Context(), key); err != nil || !ok {
						b.Fatalf("Read = %v, %v", ok, err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				defer cpuPerOp(b)()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, ok, err := backend.Read(b.Context(), key); err != nil || !ok {
							b.Errorf("Read = %v, %v", ok, err)
							return
						}
					}
				})
			})
		})
	}
}

// cpuPerOp starts measuring this process's CPU time (user and system);
// the function it returns reports it per op as cpu-ns/op.
func cpuPerOp(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
