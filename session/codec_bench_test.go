package session_test

import (
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

// benchData is a session of about 100 bytes of JSON.
var benchData = session.Data{
	"_auth_user_id": []byte(`"42"`),
	"cart":          []byte(`{"items":[1,2,3],"total":"12.50"}`),
	"theme":         []byte(`"dark"`),
	"lang":          []byte(`"en"`),
}

// BenchmarkJSONCodec is the file, db and cached_db stores' codec json:
// a session as one JSON object.
func BenchmarkJSONCodec(b *testing.B) {
	var c session.JSONCodec
	enc, err := c.Encode(benchData)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Encode(benchData); err != nil {
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
