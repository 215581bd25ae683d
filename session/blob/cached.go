package blob

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// Cached is Django's cached_db engine: DB holds the truth and takes every
// write (under its own atomic read-modify-write, so concurrent deltas and a
// concurrent logout keep their guarantees); Cache, a Redis string in
// Django's cache layout holding the session as plain JSON (CacheCodec),
// serves reads.
//
// Django writes the cache through after every save. Two writers can then
// leave the older data in the cache, so here a write instead removes the
// cached copy after the database commit, and the next read fills it again
// from the database, only when no copy is there (set-if-absent), for at
// most FillTTL. An end (flush, cycle_key's take) leaves a tombstone in the
// cache for TombstoneTTL, so that a read that loaded the database before
// the end cannot fill the cache again with the ended session. The
// tombstone is JSON null, which django-redis's JSON serializer reads as
// None, what Django's cache.get returns for a missing key: Django's
// cached_db then reads the database, finds no row and forgets the key, as
// after its own logout. (An empty session, {}, would be served from the
// cache as is: Django would keep the ended key and its next save, a forced
// UPDATE of a missing row, would fail with SessionInterrupted.) Django's
// exists() still finds the key for TombstoneTTL; Django only asks it when
// it draws a new key. The remaining window is a read that loaded the
// database before a write and fills the cache after it: that copy is stale
// for at most FillTTL, and the next write removes it; no write is ever
// lost, since writes only ever read the database.
type Cached struct {
	DB         session.Store
	Cache      Backend
	CacheCodec session.Codec
	// FillTTL bounds how long a copy filled by a read lives. Default 5m.
	FillTTL time.Duration
	// TombstoneTTL is how long an ended session stays marked as ended in
	// the cache. Default 1m.
	TombstoneTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ session.Store = (*Cached)(nil)

// tombstone marks an ended session in the cache: JSON null, a miss to
// Django (see Cached).
var tombstone = []byte("null")

func (c *Cached) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Load reads the cache first, then the database, filling the cache.
func (c *Cached) Load(ctx context.Context, key string) (session.Record, bool, error) {
	now := c.now()
	if v, ok, err := c.Cache.Read(ctx, key); err == nil && ok && v.ExpiresAt.After(now) {
		if bytes.Equal(v.Data, tombstone) {
			return session.Record{}, false, nil // ended
		}
		if data, err := c.CacheCodec.Decode(v.Data); err == nil {
			if len(data) == 0 {
				return session.Record{}, false, nil // ended
			}
			return session.Record{Data: data, ExpiresAt: v.ExpiresAt}, true, nil
		}
	}
	// A cache that cannot answer, or holds something unreadable, is a miss:
	// the database is the truth.
	rec, ok, err := c.DB.Load(ctx, key)
	if err != nil || !ok {
		return rec, ok, err
	}
	fill := c.FillTTL
	if fill <= 0 {
		fill = 5 * time.Minute
	}
	until := rec.ExpiresAt
	if t := now.Add(fill); t.Before(until) {
		until = t
	}
	if b, err := c.CacheCodec.Encode(rec.Data); err == nil {
		// Best effort: a read does not fail because the cache does.
		_ = c.Cache.Modify(ctx, key, func(_ Value, exists bool) (Op, error) {
			if exists {
				return Op{Kind: Keep}, nil
			}
			return Op{Kind: Put, Value: Value{Data: b, ExpiresAt: until}}, nil
		})
	}
	return rec, true, nil
}

// Save writes the database, then removes the cached copy.
func (c *Cached) Save(ctx context.Context, key string, ch session.Change) (bool, error) {
	left, err := c.DB.Save(ctx, key, ch)
	if err != nil {
		return left, err
	}
	if err := c.Cache.Modify(ctx, key, func(Value, bool) (Op, error) { return Op{Kind: Remove}, nil }); err != nil {
		return left, fmt.Errorf("removing the cached copy after a save: %w", err)
	}
	return left, nil
}

// Take ends the session in the database and marks it ended in the cache.
func (c *Cached) Take(ctx context.Context, key string) (session.Record, bool, error) {
	rec, ok, err := c.DB.Take(ctx, key)
	if err != nil {
		return rec, ok, err
	}
	return rec, ok, c.tombstone(ctx, key)
}

// Delete ends the session in the database and marks it ended in the cache.
func (c *Cached) Delete(ctx context.Context, key string) (bool, error) {
	ok, err := c.DB.Delete(ctx, key)
	if err != nil {
		return ok, err
	}
	return ok, c.tombstone(ctx, key)
}

func (c *Cached) tombstone(ctx context.Context, key string) error {
	ttl := c.TombstoneTTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	until := c.now().Add(ttl)
	err := c.Cache.Modify(ctx, key, func(Value, bool) (Op, error) {
		return Op{Kind: Put, Value: Value{Data: tombstone, ExpiresAt: until}}, nil
	})
	if err != nil {
		return fmt.Errorf("marking the cached copy ended: %w", err)
	}
	return nil
}
