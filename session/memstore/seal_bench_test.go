package memstore

import (
	"testing"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// BenchmarkEncryption: Load and Save with and without encrypt, ~100 B and
// 4 KiB sessions (docs/security.md).
func BenchmarkEncryption(b *testing.B) {
	s := New()
	storetest.BenchmarkSealed(b, func(b *testing.B, sealer *session.Sealer) session.Store { return s.WithSealer(sealer) })
}
