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
	return &cachedIndexed{Cached: &cc, db: ix}, nil
}

type cachedIndexed struct {
	*Cached
	db session.UserIndexer
}

func (x *cachedIndexed) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	return x.db.UserSessions(ctx, user)
}

var (
	_ session.UserIndexable = (*Store)(nil)
	_ session.UserIndexable = (*Cached)(nil)
	_ session.UserIndexer   = (*indexed)(nil)
	_ session.UserIndexer   = (*cachedIndexed)(nil)
)
