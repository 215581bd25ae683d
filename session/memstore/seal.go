package memstore

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// WithSealer returns a view of the store's sessions that keeps the ones it
// writes sealed by sealer (encryption at rest), each session as one value
// bound to its key, and opens the ones it reads: a session it cannot open
// (another key, tampered, plaintext it does not accept) is no session,
// reported through the sealer. Views share the sessions, the user indexes
// and the revocation marks; each entry keeps its users in the clear, as
// the index does.
func (s *Store) WithSealer(sealer *session.Sealer) *Store {
	return &Store{state: s.state, sealer: sealer}
}

// open returns e with its data opened, or false when this view cannot
// open it. The caller holds mu.
func (s *Store) open(key string, e entry) (entry, bool) {
	if e.sealed == nil && s.sealer == nil {
		return e, true
	}
	stored := e.sealed
	if stored == nil {
		// Stored before this view sealed: plaintext, which the sealer
		// reads only when it accepts plaintext.
		b, err := session.MarshalData(e.data)
		if err != nil {
			return entry{}, false
		}
		stored = b
	}
	data, _, err := s.sealer.OpenData(key, stored)
	if err != nil {
		return entry{}, false
	}
	e.data, e.sealed, e.users = data, nil, nil
	return e, true
}

// seal returns e as this view stores it: sealed, with its users under
// every indexed field, when the view has a sealer. The caller holds mu.
func (s *Store) seal(key string, e entry) (entry, error) {
	if s.sealer == nil {
		return e, nil
	}
	b, err := s.sealer.SealData(key, e.data)
	if err != nil {
		return entry{}, err
	}
	users := s.owners(e, true)
	e.data, e.sealed, e.users = nil, b, users
	return e, nil
}

// Rekey implements session.Rekeyer: every session sealed again under the
// view's current key, under the store's mutex.
func (s *Store) Rekey(ctx context.Context) (session.RekeyReport, error) {
	var r session.RekeyReport
	if s.sealer == nil {
		return r, errors.New("rekeying: encryption is off")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for key, e := range s.entries {
		if !e.expiresAt.After(now) {
			continue
		}
		r.Sessions++
		stored := e.sealed
		if stored == nil {
			b, err := session.MarshalData(e.data)
			if err != nil {
				r.Refused++
				continue
			}
			stored = b
		}
		data, current, err := s.sealer.OpenData(key, stored)
		if err != nil {
			r.Refused++
			continue
		}
		if current {
			continue
		}
		e.data, e.sealed, e.users = data, nil, nil
		kept, err := s.seal(key, e)
		if err != nil {
			return r, err
		}
		s.entries[key] = kept
		r.Changed++
	}
	return r, ctx.Err()
}
