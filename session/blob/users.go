package blob

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// IndexChange is what one write does to the user index: the session under
// the written key belonged to Prev ("" for nobody) and now belongs to User
// ("" once removed or anonymous), as of Now.
type IndexChange struct {
	Prev, User string
	Now        time.Time
	// Taken, on a Put of a new entry for User, is since when the session
	// is User's: it is the session a take in the same commit ended
	// (cycle_key, flush), and the entry keeps that creation time. The
	// backend refuses the write with session.ErrRevoked, in the same
	// atomic step, when User's revocation mark is past it. Zero for any
	// other write, whose new entry is created at Now, or at the user's
	// mark when that is later.
	Taken time.Time
	// WantCreated, on a Remove, asks the backend to report in Created the
	// creation time of the entry it removes (zero when there was none).
	WantCreated bool
	Created     time.Time
}

// UserIndexBackend is a Backend that keeps an index from users to their
// session keys, changed by Modify in the same atomic step as the value
// whenever an Op carries an IndexChange.
type UserIndexBackend interface {
	Backend
	// CanIndexUsers reports why the backend cannot keep the index in its
	// configuration, or nil.
	CanIndexUsers() error
	// UserSessions lists the user's live sessions, oldest first.
	UserSessions(ctx context.Context, user string, now time.Time) ([]session.UserSession, error)
	// RevokeBefore raises user's revocation mark to before (never
	// lowering it), beside the layout Django reads: the mark
	// session.Revoker describes, which Modify reads in the atomic step
	// of a write that creates an entry (IndexChange.Taken).
	RevokeBefore(ctx context.Context, user string, before time.Time) error
}

// userOf is the user of a stored value whatever its expiry, so that the
// index entry of an expired value is replaced too; a value the codec
// rejects has none.
func (s *Store) userOf(key string, v Value, exists bool) string {
	if !exists {
		return ""
	}
	data, err := s.open(key, v.Data)
	if err != nil {
		return ""
	}
	user, _ := session.UserOf(data, s.UserKey)
	return user
}

// WithUserIndex implements session.UserIndexable when the backend is a
// UserIndexBackend that can index in its configuration.
func (s *Store) WithUserIndex(field string) (session.UserIndexer, error) {
	ib, ok := s.Backend.(UserIndexBackend)
	if !ok || field == "" {
		return nil, session.ErrNoUserIndex
	}
	if err := ib.CanIndexUsers(); err != nil {
		return nil, err
	}
	c := *s
	c.UserKey = field
	return &indexed{Store: &c, backend: ib}, nil
}

type indexed struct {
	*Store
	backend UserIndexBackend
}

func (x *indexed) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	list, err := x.backend.UserSessions(ctx, user, x.now())
	if err != nil {
		return nil, fmt.Errorf("listing the user's sessions: %w", err)
	}
	return list, nil
}

// markMargin is how far past now a revocation of every session of a user
// sets the mark, past every stamp already written (the resolution of the
// Redis layouts' stamps is a millisecond). The index's stamps come from
// the clock of the Caddy instance that wrote them: the mark is raised
// past every session the index lists too, so that one stamped by an
// instance whose clock is ahead is still before it. (A session in flight
// that such an instance stamped less than the clocks' difference before
// the revocation is not; the instances' clocks must agree, as NTP keeps
// them.) A login after the revocation is stamped no earlier than the
// mark, so it is not revoked.
const markMargin = time.Millisecond

// RevokeBefore implements session.Revoker: the zero time is now plus
// markMargin, and past every session the index lists for the user.
func (x *indexed) RevokeBefore(ctx context.Context, user string, before time.Time) error {
	if before.IsZero() {
		before = x.now().Add(markMargin)
		list, err := x.backend.UserSessions(ctx, user, x.now())
		if err != nil {
			return fmt.Errorf("marking the user's sessions revoked: %w", err)
		}
		for _, s := range list {
			if !s.Created.Before(before) {
				before = s.Created.Add(time.Millisecond)
			}
		}
	}
	if err := x.backend.RevokeBefore(ctx, user, before); err != nil {
		return fmt.Errorf("marking the user's sessions revoked: %w", err)
	}
	return nil
}

// WithUserIndex implements session.UserIndexable: the database keeps the
// index; ending a session through the view also marks it ended in the
// cache.
func (c *Cached) WithUserIndex(field string) (session.UserIndexer, error) {
	db, ok := c.DB.(session.UserIndexable)
	if !ok {
		return nil, session.ErrNoUserIndex
	}
	ix, err := db.WithUserIndex(field)
	if err != nil {
		return nil, err
	}
	cc := *c
	cc.DB = ix
	x := &cachedIndexed{Cached: &cc, db: ix}
	if rv, ok := ix.(session.Revoker); ok {
		return &cachedRevoker{cachedIndexed: x, rv: rv}, nil
	}
	return x, nil
}

type cachedIndexed struct {
	*Cached
	db session.UserIndexer
}

func (x *cachedIndexed) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	return x.db.UserSessions(ctx, user)
}

// cachedRevoker is cachedIndexed over a database that revokes: the mark
// lives in the database, which every write goes through; a revocation
// ends the sessions through Cached.Delete, which leaves a tombstone in
// the cache, so that no cached copy outlives it.
type cachedRevoker struct {
	*cachedIndexed
	rv session.Revoker
}

func (x *cachedRevoker) RevokeBefore(ctx context.Context, user string, before time.Time) error {
	return x.rv.RevokeBefore(ctx, user, before)
}

var (
	_ session.Revoker       = (*indexed)(nil)
	_ session.Revoker       = (*cachedRevoker)(nil)
	_ session.UserIndexable = (*Store)(nil)
	_ session.UserIndexable = (*Cached)(nil)
	_ session.UserIndexer   = (*indexed)(nil)
	_ session.UserIndexer   = (*cachedIndexed)(nil)
)
