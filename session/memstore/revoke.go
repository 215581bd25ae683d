package memstore

import (
	"context"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// RevokeBefore implements session.Revoker.
func (x *Indexed) RevokeBefore(_ context.Context, user string, before time.Time) error {
	if before.IsZero() {
		before = time.Now().Add(time.Nanosecond) // every session already the user's
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.revoked == nil {
		x.revoked = make(map[string]map[string]time.Time)
	}
	marks := x.revoked[x.field]
	if marks == nil {
		marks = make(map[string]time.Time)
		x.revoked[x.field] = marks
	}
	if before.After(marks[user]) {
		marks[user] = before
	}
	return nil
}

// noteTaken tells a commit's context whose session e, just taken, was and
// since when. The caller holds mu.
func (s *Store) noteTaken(ctx context.Context, e entry) {
	for field := range s.indexes {
		if user, ok := session.UserOf(e.data, field); ok {
			session.NoteTaken(ctx, user, e.created)
			return
		}
	}
}

// since is the time e, about to be stored, became its user's: the taken
// session's for a create after a take of the same user (refused when that
// user was revoked since), otherwise now, but never before the user's
// revocation mark. The caller holds mu.
func (s *Store) since(ctx context.Context, e entry, create bool, now time.Time) (time.Time, error) {
	for field := range s.indexes {
		user, ok := session.UserOf(e.data, field)
		if !ok {
			continue
		}
		mark := s.revoked[field][user]
		if taken, ok := session.TakenSince(ctx, user); ok && create {
			if taken.Before(mark) {
				return time.Time{}, session.ErrRevoked
			}
			return taken, nil
		}
		if now.Before(mark) {
			return mark, nil
		}
	}
	return now, nil
}

var _ session.Revoker = (*Indexed)(nil)
