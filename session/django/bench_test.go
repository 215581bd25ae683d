package django

import (
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

// benchSession is about 300 bytes serialized: a logged-in user with a cart
// and a little text outside ASCII.
var benchSession = session.Data{
	"_auth_user_id":      []byte(`"1042"`),
	"_auth_user_backend": []byte(`"django.contrib.auth.backends.ModelBackend"`),
	"_auth_user_hash":    []byte(`"8b1a9953c4611296a827abf8c47804d7e6c49c6b2f1e6a3d0e5c4b3a29180706"`),
	"_session_expiry":    []byte(`1209600`),
	"cart":               []byte(`{"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"total":"42.50"}`),
	"greeting":           []byte(`"Grüß Gott"`),
	"n":                  []byte(`9007199254740993`),
}

func BenchmarkEncode(b *testing.B) {
	c := testCodec()
	if s, _ := marshalPy(benchSession); len(s) < 250 || len(s) > 350 {
		b.Fatalf("the session is %d bytes serialized, want about 300", len(s))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(benchSession); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	c := testCodec()
	enc, err := c.Encode(benchSession)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeUncompressed is a value Django wrote without compression
// (Django compresses sessions that Go's deflate would leave plain).
func BenchmarkDecodeUncompressed(b *testing.B) {
	c := testCodec()
	s, err := marshalPy(benchSession)
	if err != nil {
		b.Fatal(err)
	}
	enc := []byte(Dumps(s, testKey, SessionSalt, false, testNow))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
