package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// BenchmarkEncryption: Load and Save with and without encrypt, ~100 B and
// 4 KiB sessions, against a local redis-server (docs/security.md).
func BenchmarkEncryption(b *testing.B) {
	srv := testredis.Start(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, "bench")
	storetest.BenchmarkSealed(b, func(b *testing.B, sealer *session.Sealer) session.Store { return s.WithSealer(sealer) })
}
