package redisstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// BenchmarkSaveSizeLimit is the cost of checking Change.MaxSize inside the
// save script (it reads the whole hash): one field set on a 4 KB session
// of 20 fields, with and without the limit.
func BenchmarkSaveSizeLimit(b *testing.B) {
	srv := testredis.Start(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, "bench")
	data := session.Data{}
	for i := range 20 {
		data[fmt.Sprintf("field%02d", i)] = []byte(`"` + strings.Repeat("x", 190) + `"`)
	}
	for _, limit := range []int{0, 5120} {
		b.Run(fmt.Sprintf("MaxSize=%d", limit), func(b *testing.B) {
			key := session.NewKey()
			if _, err := s.Save(b.Context(), key, session.Change{Mode: session.ModeCreate, Set: data, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				c := session.Change{Mode: session.ModeUpdate, Set: session.Data{"n": []byte(fmt.Sprint(i))}, ExpiresAt: time.Now().Add(time.Hour), MaxSize: limit}
				if _, err := s.Save(b.Context(), key, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
