package redisblob

import (
	"testing"

	"github.com/caddy-session/caddy-session/session/storetest"
)

// BenchmarkCacheJSONCodec is store cache's codec (django-redis' JSON
// serializer).
func BenchmarkCacheJSONCodec(b *testing.B) { storetest.BenchmarkCodec(b, CacheJSONCodec{}) }
