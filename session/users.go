package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// UserIndexable is a Store that can keep an index from each user to that
// user's sessions, so that they can be listed, counted and ended ("log out
// everywhere"). The user of a session is the value of one field of its data
// (Django's _auth_user_id); a session without it is anonymous and not
// indexed.
type UserIndexable interface {
	Store
	// WithUserIndex returns a view of the store that keeps the index by
	// field on every write: the index changes in the same atomic step as
	// the session (a script, a transaction, a lock), so that it never lists
	// a session that is gone or misses one that is stored. Every writer of
	// the store must use the view with the same field; sessions written
	// otherwise are not indexed. It is an error when the store cannot keep
	// an index in its configuration (e.g. a Redis Cluster).
	WithUserIndex(field string) (UserIndexer, error)
}

// UserIndexer is a Store that keeps an index from users to their sessions.
// Delete and Take remove a session from the index with the session;
// expired sessions are never listed, and a store drops their entries when
// it meets them (on a listing, or a purge).
type UserIndexer interface {
	Store
	// UserSessions lists the live sessions of user, oldest first.
	UserSessions(ctx context.Context, user string) ([]UserSession, error)
}

// UserSession is one session in a user's index. Key is the session key, a
// bearer credential: it never leaves the server (the admin API shows the
// session's sid instead).
type UserSession struct {
	Key string
	// Created is when the session was stored under this key as the user's,
	// or when it became the user's (a login that kept the key).
	Created time.Time
	// Modified is the last save of the session.
	Modified time.Time
	// ExpiresAt is when the session expires unless modified again.
	ExpiresAt time.Time
}

// MaxUserLength bounds the user value an index keeps, in bytes.
const MaxUserLength = 255

// UserOf returns the user a session belongs to: the value of field in d
// when it is a JSON string (its text) or a JSON number (its digits as
// written), non-empty and at most MaxUserLength bytes of valid UTF-8.
// Anything else (no field, null, a boolean, an object) is no user.
func UserOf(d Data, field string) (string, bool) {
	raw, ok := d[field]
	if !ok || field == "" {
		return "", false
	}
	return UserValue(raw)
}

// UserValue is UserOf for one JSON value.
func UserValue(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	var user string
	switch c := raw[0]; {
	case c == '"':
		if json.Unmarshal(raw, &user) != nil {
			return "", false
		}
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		user = string(raw)
	default:
		return "", false
	}
	if user == "" || len(user) > MaxUserLength || !utf8.ValidString(user) {
		return "", false
	}
	return user, true
}

// ErrNoUserIndex is returned by WithUserIndex when a store cannot index.
var ErrNoUserIndex = errors.New("this store cannot keep an index of users' sessions")

// EvictOldest ends the oldest sessions of user beyond the newest max, never
// the session under keep (the one just logged in), and returns the keys of
// those it ended. Sessions that end meanwhile are not among them. With a
// Revoker, a session beyond the newest max that a concurrent cycle_key or
// flush moves to a new key meanwhile ends too: it cannot be stored again
// under its new key, or is ended there (and counted).
func EvictOldest(ctx context.Context, ix UserIndexer, user, keep string, max int) ([]string, error) {
	if max <= 0 {
		return nil, nil
	}
	list, err := ix.UserSessions(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("listing the user's sessions: %w", err)
	}
	rv, revoker := ix.(Revoker)
	if len(list) < max || (len(list) == max && !revoker) {
		return nil, nil
	}
	// Newest first; the kept session counts among the newest whatever its
	// stamp says (clocks of several Caddy instances differ).
	slices.SortStableFunc(list, func(a, b UserSession) int {
		switch {
		case a.Key == keep:
			return -1
		case b.Key == keep:
			return 1
		}
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return b.Modified.Compare(a.Modified)
	})
	var mark time.Time
	if revoker {
		// Sessions older than every kept one are beyond the limit, also
		// those a cycle_key has taken and not stored yet (no listing shows
		// them): mark them revoked before ending those listed.
		mark = list[0].Created
		for _, s := range list[1:max] {
			if s.Created.Before(mark) {
				mark = s.Created
			}
		}
		if err := rv.RevokeBefore(ctx, user, mark); err != nil {
			return nil, fmt.Errorf("marking the user's sessions over the limit: %w", err)
		}
	}
	var ended []string
	for _, s := range list[max:] {
		ok, err := ix.Delete(ctx, s.Key)
		if err != nil {
			return ended, fmt.Errorf("ending a session over the limit: %w", err)
		}
		if ok {
			ended = append(ended, s.Key)
		}
	}
	if !revoker {
		return ended, nil
	}
	// A session moved to a new key between the listing and the mark keeps
	// its age there: end it now.
	again, err := ix.UserSessions(ctx, user)
	if err != nil {
		return ended, fmt.Errorf("listing the user's sessions: %w", err)
	}
	for _, s := range again {
		if s.Key == keep || !s.Created.Before(mark) {
			continue
		}
		ok, err := ix.Delete(ctx, s.Key)
		if err != nil {
			return ended, fmt.Errorf("ending a session over the limit: %w", err)
		}
		if ok {
			ended = append(ended, s.Key)
		}
	}
	return ended, nil
}

// RevokeUser ends every session of user and reports how many it ended.
func RevokeUser(ctx context.Context, ix UserIndexer, user string) (int, error) {
	ended, err := EndUserSessions(ctx, ix, user)
	return len(ended), err
}

// EndUserSessions ends every session of user ("log out everywhere") and
// returns the keys it ended. With a Revoker, once it returns without error
// none of the user's sessions is live and none that a request in flight
// took (cycle_key, flush) can be stored again: the user's mark is set
// before the listing. A login that completes afterwards is a new session.
// Without one, a session moved to a new key while it runs may survive.
func EndUserSessions(ctx context.Context, ix UserIndexer, user string) ([]string, error) {
	if rv, ok := ix.(Revoker); ok {
		if err := rv.RevokeBefore(ctx, user, time.Time{}); err != nil {
			return nil, fmt.Errorf("marking the user's sessions revoked: %w", err)
		}
	}
	list, err := ix.UserSessions(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("listing the user's sessions: %w", err)
	}
	var ended []string
	for _, s := range list {
		ok, err := ix.Delete(ctx, s.Key)
		if err != nil {
			return ended, fmt.Errorf("ending a session: %w", err)
		}
		if ok {
			ended = append(ended, s.Key)
		}
	}
	return ended, nil
}

// evict applies MaxSessionsPerUser after a commit that stored a session
// under key: when the session has become a user's (it was anonymous, or
// another user's), that user's oldest sessions beyond the limit end.
func (m *Manager) evict(ctx context.Context, s *Session, u *Update, key string) {
	ix, ok := m.Store.(UserIndexer)
	if !ok {
		return
	}
	view, err := u.apply(s.data)
	if err != nil {
		return // the commit applied it: cannot happen
	}
	user, ok := UserOf(view, m.Config.UserKey)
	if !ok {
		return
	}
	if before, _ := UserOf(s.data, m.Config.UserKey); before == user {
		// The same user's session, saved again or under a new key
		// (cycle_key, flush): not a login. Under a Revoker it keeps its
		// age, so the next login's eviction sees it where it was.
		return
	}
	ended, err := EvictOldest(ctx, ix, user, key, m.Config.MaxSessionsPerUser)
	if m.OnEvict != nil && (len(ended) > 0 || err != nil) {
		m.OnEvict(ended, err)
	}
}
