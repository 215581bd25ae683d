package memstore

import (
	"context"
	"encoding/binary"
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
	data, _, err := s.openData(key, e)
	if err != nil {
		return entry{}, false
	}
	e.data, e.sealed, e.users = data, nil, nil
	return e, true
}

// openData is the data of e and whether it is under the current key. A
// sealed entry holds its fields in a binary form (encodeData) rather than
// JSON: nothing but this store reads it, and it decodes in a fraction of
// JSON's time. An entry stored before this view sealed is plaintext, which
// the sealer reads only when it accepts plaintext.
func (s *Store) openData(key string, e entry) (session.Data, bool, error) {
	if e.sealed == nil {
		b, err := session.MarshalData(e.data)
		if err != nil {
			return nil, false, err
		}
		return s.sealer.OpenData(key, b)
	}
	plain, current, err := s.sealer.Open(key, session.WholeSession, e.sealed)
	if err != nil {
		return nil, false, err
	}
	d, err := decodeData(plain)
	if err != nil {
		return nil, false, err
	}
	return d, current, nil
}

// encodeData is d as the sealed entries hold it: the number of fields,
// then each name and value, each length-prefixed (uvarint).
func encodeData(d session.Data) []byte {
	n := binary.MaxVarintLen64
	for k, v := range d {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := binary.AppendUvarint(make([]byte, 0, n), uint64(len(d)))
	for k, v := range d {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

var errBadEntry = errors.New("memstore: malformed sealed entry")

// decodeData is encodeData's inverse.
func decodeData(b []byte) (session.Data, error) {
	next := func() ([]byte, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, false
		}
		out := b[w : w+int(n)]
		b = b[w+int(n):]
		return out, true
	}
	count, w := binary.Uvarint(b)
	if w <= 0 || count > uint64(len(b)) {
		return nil, errBadEntry
	}
	b = b[w:]
	d := make(session.Data, count)
	for range count {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return nil, errBadEntry
		}
		d[string(k)] = v
	}
	if len(b) != 0 || len(d) == 0 {
		return nil, errBadEntry
	}
	return d, nil
}

// seal returns e as this view stores it: sealed, with its users under
// every indexed field, when the view has a sealer. The caller holds mu.
func (s *Store) seal(key string, e entry) (entry, error) {
	if s.sealer == nil {
		return e, nil
	}
	b := s.sealer.Seal(key, session.WholeSession, encodeData(e.data))
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
		data, current, err := s.openData(key, e)
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
