package storetest

import (
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

// BenchmarkCodec measures c's Encode and Decode of a session of about 100
// bytes of JSON, the size issue 8's targets name.
func BenchmarkCodec(b *testing.B, c session.Codec) {
	d := session.Data{
		"_auth_user_id": []byte(`"42"`),
		"cart":          []byte(`{"items":[1,2,3],"total":"12.50"}`),
		"theme":         []byte(`"dark"`),
		"lang":          []byte(`"en"`),
	}
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
