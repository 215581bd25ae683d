// Package memstore is an in-process session store: one map from session
// key to its fields and expiry, guarded by a single mutex. It is for tests
// and trials, since sessions live only as long as the process. Every Save
// applies its delta to the current fields under the mutex, so concurrent
// requests changing different fields of one session all survive, and a
// field written concurrently ends with one whole value. Expired entries are
// invisible at once and removed by Purge, which the owner runs periodically.
package memstore

import (
	"bytes"
	"context"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// Store keeps sessions in memory. The zero value is not usable; call New.
// WithSealer returns a view of the same sessions that keeps them
// encrypted (seal.go).
type Store struct {
	*state
	// sealer, when set, seals every session this view writes as one value
	// (session.WholeSession) and opens what it reads.
	sealer *session.Sealer
}

// state is what every view of a Store shares.
type state struct {
	mu      sync.Mutex
	entries map[string]entry
	// indexes maps each indexed field to its users' session keys; every
	// write keeps every index, under mu (users.go).
	indexes map[string]map[string]map[string]struct{}
	// revoked holds each indexed field's users' revocation marks
	// (revoke.go).
	revoked map[string]map[string]time.Time
}

type entry struct {
	data      session.Data
	size      int // session.Size(data), measured when it was stored
	expiresAt time.Time
	// created and modified date the session for its user's index.
	created, modified time.Time
	// sealed, when not nil, is data sealed by a view with a Sealer, and
	// data is nil; users then holds the session's user under each indexed
	// field at the time of the write (seal.go).
	sealed []byte
	users  map[string]string
}

var (
	_ session.Store         = (*Store)(nil)
	_ session.CheckedValues = (*Store)(nil)
	_ session.Instant       = (*Store)(nil)
	_ session.LoaderAt      = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{state: &state{entries: make(map[string]entry)}}
}

// Load returns a copy of the session under key, unless it has expired.
func (s *Store) Load(ctx context.Context, key string) (session.Record, bool, error) {
	rec, ok, err := s.LoadAt(ctx, key, time.Now())
	if ok && s.sealer == nil {
		rec.Data = clone(rec.Data) // opened sealed data is a fresh copy already
	}
	return rec, ok, err
}

// LoadAt implements session.LoaderAt: the session under key unless it has
// expired at now, as stored, with no copy. A stored map is immutable:
// every Save stores a new map that nobody else holds (Set's values
// copied), no call writes into a stored one, and Take hands out a copy.
func (s *Store) LoadAt(_ context.Context, key string, now time.Time) (session.Record, bool, error) {
	s.mu.Lock()
	e, ok := s.live(key, now)
	s.mu.Unlock()
	if !ok {
		return session.Record{}, false, nil
	}
	return session.Record{Data: e.data, ExpiresAt: e.expiresAt, Size: e.size}, true, nil
}

// ValuesChecked implements session.CheckedValues: Save refuses a value
// that is not JSON in UTF-8.
func (s *Store) ValuesChecked() bool { return true }

// LoadsInstantly implements session.Instant: a Load only takes the mutex,
// which no call holds across I/O.
func (s *Store) LoadsInstantly() bool { return true }

// Save applies c to the session under key.
func (s *Store) Save(ctx context.Context, key string, c session.Change) (bool, error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	if err := c.CheckValues(); err != nil {
		return false, err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, exists := s.live(key, now)
	switch {
	case c.Mode == session.ModeCreate && exists:
		return false, session.ErrKeyExists
	case c.Mode != session.ModeCreate && !exists:
		return false, session.ErrGone
	}
	// Counters first: one that fails leaves the session as it was.
	var counters session.Data
	if len(c.Incr) > 0 {
		counters = make(session.Data, len(c.Incr))
		for k, d := range c.Incr {
			base, set := c.Set[k]
			if !set && c.Mode == session.ModeUpdate && !slices.Contains(c.Delete, k) {
				base = e.data[k]
			}
			v, err := session.AddCounter(base, d)
			if err != nil {
				err.(*session.IncrError).Key = k
				return false, err
			}
			counters[k] = v
		}
	}
	// The session as the change leaves it, in a new map: a stored map is
	// never modified, so that Load copies it outside the lock and LoadAt
	// hands it out as it is. Its size is checked before anything is
	// written.
	var next session.Data
	if c.Mode == session.ModeUpdate && len(c.Incr) == 0 && c.View != nil && sameMap(c.From, e.data) {
		// The session is still the one the caller loaded, and View is
		// what the change makes of it, handed over: no second copy.
		next = c.View
	} else {
		next = make(session.Data, len(e.data)+len(c.Set))
		if c.Mode == session.ModeUpdate {
			maps.Copy(next, e.data)
			for _, k := range c.Delete {
				delete(next, k)
			}
		}
		for k, v := range c.Set {
			next[k] = bytes.Clone(v)
		}
		maps.Copy(next, counters)
	}
	// Measured once, for the limit and for the loads that check theirs.
	size := session.Size(next)
	if c.MaxSize > 0 && size > c.MaxSize {
		return false, &session.LimitError{What: "session size", Size: size, Limit: c.MaxSize}
	}
	old, stored := s.entries[key]
	was := s.owners(old, stored)
	e.data, e.size = next, size
	if !c.ExpiresAt.IsZero() {
		e.expiresAt = c.ExpiresAt
	}
	if c.Mode == session.ModeCreate || s.ownerChanged(was, e) {
		created, err := s.since(ctx, e, c.Mode == session.ModeCreate, now)
		if err != nil {
			return false, err
		}
		e.created = created
	}
	e.modified = now
	if len(e.data) == 0 || !e.expiresAt.After(now) {
		delete(s.entries, key)
		s.reindex(key, was, entry{}, false)
		return false, nil
	}
	kept, err := s.seal(key, e)
	if err != nil {
		return false, err
	}
	s.entries[key] = kept
	s.reindex(key, was, e, true)
	return true, nil
}

// Delete removes the session under key and reports whether it was live.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	_, ok, err := s.Take(ctx, key)
	return ok, err
}

// Take removes the session under key and returns it.
func (s *Store) Take(ctx context.Context, key string) (session.Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key, time.Now())
	if ok {
		s.noteTaken(ctx, e)
	}
	if old, stored := s.entries[key]; stored {
		delete(s.entries, key)
		s.reindex(key, s.owners(old, true), entry{}, false)
	}
	if !ok {
		return session.Record{}, false, nil
	}
	// Loads may still hold the stored map (LoadAt hands it out, Load
	// copies it outside the lock): the taker gets its own copy to modify.
	data := e.data
	if s.sealer == nil {
		data = clone(data)
	}
	return session.Record{Data: data, ExpiresAt: e.expiresAt}, true, nil
}

// Purge removes the sessions that have expired at now and reports how many
// it removed.
func (s *Store) Purge(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, e := range s.entries {
		if !e.expiresAt.After(now) {
			delete(s.entries, k)
			s.reindex(k, s.owners(e, true), entry{}, false)
			n++
		}
	}
	return n
}

// Live reports how many sessions are stored and not expired at now.
func (s *Store) Live(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.entries {
		if e.expiresAt.After(now) {
			n++
		}
	}
	return n
}

// live returns the entry under key if it has not expired at now, opened
// (seal.go): an entry this view cannot open is not live. The caller holds
// s.mu.
func (s *Store) live(key string, now time.Time) (entry, bool) {
	e, ok := s.entries[key]
	if !ok || !e.expiresAt.After(now) {
		return entry{}, false
	}
	return s.open(key, e)
}

// sameMap reports whether a and b are one map (not two equal ones), and
// not empty. A stored map is never written into, so a caller's From that
// is the stored map says the session has not changed since its load.
func sameMap(a, b session.Data) bool {
	return len(a) > 0 && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// clone copies d in two allocations: the map, and one array that holds
// every value.
func clone(d session.Data) session.Data {
	n := 0
	for _, v := range d {
		n += len(v)
	}
	buf := make([]byte, 0, n)
	out := make(session.Data, len(d))
	for k, v := range d {
		start := len(buf)
		buf = append(buf, v...)
		out[k] = buf[start:len(buf):len(buf)]
	}
	return out
}
