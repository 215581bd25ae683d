package redisblob

import (
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

// BenchmarkCacheJSONCodec is store cache's codec (django-redis' JSON
// serializer) on a session of about 100 bytes.
func BenchmarkCacheJSONCodec(b *testing.B) {
	d := session.Data{
		"_auth_user_id": []byte(`"42"`),
		"cart":          []byte(`{"items":[1,2,3],"total":"12.50"}`),
		"theme":         []byte(`"dark"`),
		"lang":          []byte(`"en"`),
	}
	var c CacheJSONCodec
	enc, err := c.Encode(d)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Encode(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
