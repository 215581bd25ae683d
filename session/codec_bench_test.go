package session_test

import (
	"testing"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// BenchmarkJSONCodec is the file, db and cached_db stores' codec json:
// a session as one JSON object.
func BenchmarkJSONCodec(b *testing.B) { storetest.BenchmarkCodec(b, session.JSONCodec{}) }
