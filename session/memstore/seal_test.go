package memstore

import (
	"bytes"
	"testing"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func TestSealed(t *testing.T) {
	s := New()
	storetest.RunSealed(t, storetest.SealedStore{
		Open: func(t *testing.T, sealer *session.Sealer) session.Store { return s.WithSealer(sealer) },
		Dump: func(t *testing.T) []byte {
			s.mu.Lock()
			defer s.mu.Unlock()
			var b bytes.Buffer
			for k, e := range s.entries {
				b.WriteString(k)
				b.Write(e.sealed)
				d, _ := session.MarshalData(e.data)
				b.Write(d)
			}
			return b.Bytes()
		},
		Raw: func(t *testing.T, key string) []byte {
			s.mu.Lock()
			defer s.mu.Unlock()
			e := s.entries[key]
			if e.sealed != nil {
				return bytes.Clone(e.sealed)
			}
			d, _ := session.MarshalData(e.data)
			return d
		},
		SetRaw: func(t *testing.T, key string, b []byte) {
			s.mu.Lock()
			defer s.mu.Unlock()
			e := s.entries[key]
			e.sealed, e.data = bytes.Clone(b), nil
			s.entries[key] = e
		},
	})
}

// TestSealedUserIndex: the index, eviction and revocation keep working on
// sealed sessions.
func TestSealedUserIndex(t *testing.T) {
	sealer := storetest.NewSealer(t, nil)
	storetest.RunUserIndex(t, func(t *testing.T) session.UserIndexer {
		ix, err := New().WithSealer(sealer).WithUserIndex(storetest.UserField)
		if err != nil {
			t.Fatal(err)
		}
		return ix
	})
}
