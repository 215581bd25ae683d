// Package blob is a session.Store over any backend that keeps one opaque
// value per session key: Django's layouts (the django_session table, the
// cache engine's Redis string, django-redis-sessions, the file engine),
// where a session is one encoded blob and a store cannot apply a delta to
// one field on its own. The Store decodes the current value, applies the
// delta and encodes the result inside the backend's atomic
// read-modify-write (a row lock, a check-and-set, a file lock), so
// concurrent requests that change different fields of one session still
// all survive, and a session deleted concurrently is never written back.
package blob

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// Value is what a backend keeps under one key.
type Value struct {
	Data []byte
	// ExpiresAt is when the value expires. Backends that keep no expiry of
	// their own (Django's file engine dates a session by its file's
	// modification time) leave it zero and set ModTime instead.
	ExpiresAt time.Time
	// ModTime is when the value was last written, for backends that keep
	// no expiry; the Store derives the expiry from it as Django does. On
	// Put it is the modification time such a backend must record (usually
	// now) for the value to expire at ExpiresAt.
	ModTime time.Time
}

// OpKind says what Modify writes.
type OpKind uint8

const (
	// Keep writes nothing.
	Keep OpKind = iota
	// Put stores Op.Value under the key (expiry and data).
	Put
	// Remove deletes the key.
	Remove
)

// Op is the outcome of a ModifyFunc.
type Op struct {
	Kind  OpKind
	Value Value // for Put: Data and ExpiresAt
	// Index, when not nil, is what the write does to the user index of a
	// UserIndexBackend, which applies it in the same atomic step.
	Index *IndexChange
}

// ModifyFunc computes what to write from what is stored: cur and exists
// (exists is false when nothing, or only an expired value, is stored; a
// backend may pass an expired value with exists true, and the Store checks
// its expiry itself). It may run more than once when an optimistic backend
// retries after a conflict, so it must have no other effect.
type ModifyFunc func(cur Value, exists bool) (Op, error)

// Backend keeps one opaque value per key. Implementations must be safe for
// concurrent use, including by several processes sharing the backing store
// (several Caddy instances, or Caddy and Django).
type Backend interface {
	// Read returns the value under key. A key that is not stored is
	// (Value{}, false, nil); only a failure to answer is an error.
	Read(ctx context.Context, key string) (Value, bool, error)

	// Modify runs fn on the value under key and writes what it returns,
	// atomically with respect to every other Modify of key: no other write
	// to key happens between fn's read and the write (a lock), or the write
	// is refused and fn runs again on the newer value (a check-and-set).
	// An error from fn is returned as it is, with nothing written.
	Modify(ctx context.Context, key string, fn ModifyFunc) error
}

// Swapper is a Backend that can also write in one step, without a lock,
// when the value stored under a key is still a given one: a compare-and-
// set. The Store uses it for an update whose session it loaded moments
// before (session.Change.Base), and Modify when the value has changed.
type Swapper interface {
	Backend
	// Swap writes op (Put or Remove) under key if old, data and expiry,
	// is what is stored there now, and reports whether it did. A false
	// answer writes nothing; so does an error.
	Swap(ctx context.Context, key string, old Value, op Op) (bool, error)
}

// Store is a session.Store over a Backend and a Codec.
type Store struct {
	Backend Backend
	Codec   session.Codec
	// Age is the session age used to date values that carry a ModTime and
	// no expiry (Django's SESSION_COOKIE_AGE). Default: 14 days.
	Age time.Duration
	// OnBadValue, when set, is told of every stored value the codec
	// rejected (tampered, signed with an unknown key, pickled): a security
	// event. The error holds neither the key nor the value.
	OnBadValue func(err error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// UserKey, when set, makes every write keep the backend's user index
	// by this field (WithUserIndex).
	UserKey string
	// Sealer, when set, seals each encoded value under the session's key
	// (session.WholeSession), and opens what it reads: a value it cannot
	// open is no session, reported through the Sealer (encryption at
	// rest, for this project's JSON codec).
	Sealer *session.Sealer
}

var _ session.Store = (*Store)(nil)

const defaultAge = 14 * 24 * time.Hour

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// decode returns the live session in v, or false when v is expired, empty
// or rejected by the codec (reported through OnBadValue).
func (s *Store) decode(key string, v Value, now time.Time) (session.Record, bool) {
	data, err := s.open(key, v.Data)
	if err != nil {
		// The Sealer reports its own refusals.
		if s.OnBadValue != nil && (s.Sealer == nil || !errors.Is(err, session.ErrSealed)) {
			s.OnBadValue(err)
		}
		return session.Record{}, false
	}
	if len(data) == 0 {
		return session.Record{}, false
	}
	exp := v.ExpiresAt
	if exp.IsZero() {
		exp = s.expiryFromModTime(data, v.ModTime)
	}
	if !exp.After(now) {
		return session.Record{}, false
	}
	return session.Record{Data: data, ExpiresAt: exp}, true
}

// open decodes b, the value under key, after opening it when sealed.
// A value the sealer refuses is an error it has reported.
func (s *Store) open(key string, b []byte) (session.Data, error) {
	if s.Sealer != nil || session.IsSealed(b) {
		plain, _, err := s.Sealer.Open(key, session.WholeSession, b)
		if err != nil {
			return nil, err
		}
		b = plain
	}
	return s.Codec.Decode(b)
}

// Expired reports whether v is past its expiry at now, for purging (Django's
// clear_expired). A value the codec cannot read is dated as an empty
// session, as Django dates it, rather than removed at once: with a wrong
// key configured, a purge must not wipe every session Django wrote.
func (s *Store) Expired(v Value, now time.Time) bool {
	exp := v.ExpiresAt
	if exp.IsZero() {
		data, err := s.Codec.Decode(v.Data)
		if err != nil {
			data = nil
		}
		exp = s.expiryFromModTime(data, v.ModTime)
	}
	return !exp.After(now)
}

// expiryFromModTime is Django's file engine: a custom expiry in seconds
// counts from the last modification, a time is itself, anything else is
// the modification plus the session age.
func (s *Store) expiryFromModTime(d session.Data, mod time.Time) time.Time {
	age := s.Age
	if age <= 0 {
		age = defaultAge
	}
	m := session.Manager{Config: session.Config{Age: age}, Now: func() time.Time { return mod }}
	return mod.Add(m.ExpiryAge(d))
}

// Load implements session.Store.
func (s *Store) Load(ctx context.Context, key string) (session.Record, bool, error) {
	v, ok, err := s.Backend.Read(ctx, key)
	if err != nil || !ok {
		return session.Record{}, false, err
	}
	rec, ok := s.decode(key, v, s.now())
	if ok {
		if _, swaps := s.Backend.(Swapper); swaps {
			rec.Version = version(v)
		}
	}
	return rec, ok, nil
}

// version is a Record.Version for v: its expiry (unix microseconds, the
// precision backends keep) and its data.
func version(v Value) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(v.Data)), uint64(v.ExpiresAt.UnixMicro()))
	return append(b, v.Data...)
}

// fromVersion is the Value a version was made of.
func fromVersion(b []byte) (Value, bool) {
	if len(b) < 8 {
		return Value{}, false
	}
	return Value{Data: b[8:], ExpiresAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b)))}, true
}

// Save implements session.Store: the delta is applied to the value stored
// at the moment of the write, under the backend's atomic read-modify-write.
func (s *Store) Save(ctx context.Context, key string, c session.Change) (bool, error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	var left bool
	fn := func(cur Value, exists bool) (Op, error) {
		now := s.now()
		left = false
		rec, live := session.Record{}, false
		if exists {
			rec, live = s.decode(key, cur, now)
		}
		var index *IndexChange
		if s.UserKey != "" {
			// Before Apply, which changes rec.Data in place.
			index = &IndexChange{Now: now}
			if live {
				index.Prev, _ = session.UserOf(rec.Data, s.UserKey)
			} else {
				index.Prev = s.userOf(key, cur, exists) // an expired value's entry goes too
			}
		}
		data, expiresAt, keep, err := c.Apply(rec, live, now)
		if err != nil {
			return Op{}, err
		}
		if index != nil && keep {
			index.User, _ = session.UserOf(data, s.UserKey)
			if c.Mode == session.ModeCreate && index.User != "" {
				// revoke.go: the session a take in this commit ended.
				index.Taken, _ = session.TakenSince(ctx, index.User)
			}
		}
		if !keep {
			if exists {
				return Op{Kind: Remove, Index: index}, nil
			}
			return Op{Kind: Keep}, nil
		}
		b, err := s.Codec.Encode(data)
		if err != nil {
			return Op{}, err
		}
		b = s.Sealer.Seal(key, session.WholeSession, b)
		left = true
		// For backends dated by modification time: the time from which
		// Django's rules give exactly expiresAt.
		mod := expiresAt.Add(now.Sub(s.expiryFromModTime(data, now)))
		return Op{Kind: Put, Value: Value{Data: b, ExpiresAt: expiresAt, ModTime: mod}, Index: index}, nil
	}
	// An update of the session as loaded: one compare-and-set, when
	// nothing changed it since. Not with a user index, which changes in
	// Modify's transaction beside the value.
	if sw, ok := s.Backend.(Swapper); ok && c.Mode == session.ModeUpdate && s.UserKey == "" {
		if old, ok := fromVersion(c.Base); ok {
			if op, err := fn(old, true); err == nil && op.Kind != Keep {
				swapped, err := sw.Swap(ctx, key, old, op)
				if err != nil {
					return false, fmt.Errorf("saving session: %w", err)
				}
				if swapped {
					return left, nil
				}
			}
		}
	}
	err := s.Backend.Modify(ctx, key, fn)
	if err != nil {
		if errors.Is(err, session.ErrKeyExists) || errors.Is(err, session.ErrGone) || errors.Is(err, session.ErrRevoked) {
			return false, err
		}
		return false, fmt.Errorf("saving session: %w", err)
	}
	return left, nil
}

// Take implements session.Store.
func (s *Store) Take(ctx context.Context, key string) (session.Record, bool, error) {
	var rec session.Record
	var found bool
	var index *IndexChange
	err := s.Backend.Modify(ctx, key, func(cur Value, exists bool) (Op, error) {
		rec, found, index = session.Record{}, false, nil
		if !exists {
			return Op{Kind: Keep}, nil
		}
		now := s.now()
		rec, found = s.decode(key, cur, now)
		op := Op{Kind: Remove}
		if s.UserKey != "" {
			index = &IndexChange{Prev: s.userOf(key, cur, exists), Now: now}
			index.WantCreated = index.Prev != "" && session.TracksTakes(ctx)
			op.Index = index
		}
		return op, nil
	})
	if err != nil {
		return session.Record{}, false, fmt.Errorf("taking session: %w", err)
	}
	if found && index != nil && index.Prev != "" && !index.Created.IsZero() {
		// revoke.go: the create that follows keeps the age, or is refused.
		session.NoteTaken(ctx, index.Prev, index.Created)
	}
	return rec, found, nil
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	_, found, err := s.Take(ctx, key)
	return found, err
}
