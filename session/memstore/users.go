package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// WithUserIndex implements session.UserIndexable. The index is built from
// the sessions already stored, and from then on every write keeps it, under
// the store's mutex, whichever view made it.
func (s *Store) WithUserIndex(field string) (session.UserIndexer, error) {
	if field == "" {
		return nil, session.ErrNoUserIndex
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.indexes[field]; !ok {
		if s.indexes == nil {
			s.indexes = make(map[string]map[string]map[string]struct{})
		}
		ix := make(map[string]map[string]struct{})
		s.indexes[field] = ix
		for key, e := range s.entries {
			if e.sealed != nil {
				if e, ok = s.open(key, e); !ok {
					continue
				}
			}
			if user, ok := session.UserOf(e.data, field); ok {
				add(ix, user, key)
			}
		}
	}
	return &Indexed{Store: s, field: field}, nil
}

// Indexed is the store with its index by one field.
type Indexed struct {
	*Store
	field string
}

// UserSessions implements session.UserIndexer.
func (x *Indexed) UserSessions(_ context.Context, user string) ([]session.UserSession, error) {
	now := time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []session.UserSession
	for key := range x.indexes[x.field][user] {
		e, ok := x.live(key, now)
		if !ok {
			continue // expired: Purge drops it
		}
		out = append(out, session.UserSession{Key: key, Created: e.created, Modified: e.modified, ExpiresAt: e.expiresAt})
	}
	slices.SortFunc(out, func(a, b session.UserSession) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// owners is the user of e under each indexed field. The caller holds mu.
func (s *Store) owners(e entry, stored bool) map[string]string {
	if !stored || len(s.indexes) == 0 {
		return nil
	}
	if e.sealed != nil {
		return e.users
	}
	out := make(map[string]string, len(s.indexes))
	for field := range s.indexes {
		if user, ok := session.UserOf(e.data, field); ok {
			out[field] = user
		}
	}
	return out
}

// ownerChanged reports whether e belongs to another user than was under
// some indexed field: the session is new to that user. The caller holds mu.
func (s *Store) ownerChanged(was map[string]string, e entry) bool {
	for field := range s.indexes {
		user, ok := session.UserOf(e.data, field)
		if old, had := was[field]; ok && (!had || old != user) {
			return true
		}
	}
	return false
}

// reindex moves key from the users it had (was) to those of e, or out of
// every index when e is not kept. The caller holds mu.
func (s *Store) reindex(key string, was map[string]string, e entry, keep bool) {
	for field, ix := range s.indexes {
		user, ok := "", false
		if keep {
			user, ok = session.UserOf(e.data, field)
		}
		if old, had := was[field]; had && (!ok || old != user) {
			if set := ix[old]; set != nil {
				delete(set, key)
				if len(set) == 0 {
					delete(ix, old)
				}
			}
		}
		if ok {
			add(ix, user, key)
		}
	}
}

func add(ix map[string]map[string]struct{}, user, key string) {
	set := ix[user]
	if set == nil {
		set = make(map[string]struct{})
		ix[user] = set
	}
	set[key] = struct{}{}
}

var (
	_ session.UserIndexable = (*Store)(nil)
	_ session.UserIndexer   = (*Indexed)(nil)
)
