package caddymodule

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/redisblob"
)

func init() {
	caddy.RegisterModule(CachedDBStore{})
}

// cachedDBPrefix is Django's cached_db engine's cache key prefix.
const cachedDBPrefix = "django.contrib.sessions.cached_db"

// CachedDBStore is Django's cached_db engine: the django_session table
// (`db`) holds every session and takes every write, under its row lock;
// Django's cache on Redis (`cache`, keys
// "<key_prefix>:<version>:django.contrib.sessions.cached_db<key>", plain
// JSON through django-redis's JSON serializer) serves reads. A write
// removes the cached copy after the database commits, a read fills it again
// (for at most 5 minutes), and a logout leaves a null marker for a minute,
// which Django reads as a missing cache entry (and so finds no row); see
// blob.Cached for why this, rather than Django's write-through, keeps
// concurrent writers and logouts right.
type CachedDBStore struct {
	// The cache: every option of `store cache`.
	Cache CacheStore `json:"cache"`
	// The database: every option of `store db`.
	DB DBStore `json:"db"`
}

// CaddyModule returns the Caddy module information.
func (CachedDBStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".cached_db", New: func() caddy.Module { return new(CachedDBStore) }}
}

// Provision sets up the cache and the database.
func (c *CachedDBStore) Provision(ctx caddy.Context) error {
	if err := c.Cache.Provision(ctx); err != nil {
		return fmt.Errorf("store cached_db: cache: %w", err)
	}
	if err := c.DB.Provision(ctx); err != nil {
		_ = c.Cache.Cleanup()
		return fmt.Errorf("store cached_db: db: %w", err)
	}
	return nil
}

// Validate checks both halves.
func (c *CachedDBStore) Validate() error {
	if err := c.Cache.Validate(); err != nil {
		return fmt.Errorf("store cached_db: cache: %w", err)
	}
	if err := c.DB.Validate(); err != nil {
		return fmt.Errorf("store cached_db: db: %w", err)
	}
	return nil
}

// Cleanup releases both halves.
func (c *CachedDBStore) Cleanup() error {
	return errors.Join(c.Cache.Cleanup(), c.DB.Cleanup())
}

// OpenStore implements StoreModule: the cached database store, the
// handler's codec for the table (Django's signed format unless `codec
// json`), django-redis's JSON for the cache. It purges through the table;
// the cache expires its own.
func (c *CachedDBStore) OpenStore(o StoreOptions) (session.Store, error) {
	if c.DB.backend == nil {
		return nil, errors.New("store cached_db: db: not provisioned")
	}
	codec, err := o.Encoding(true)
	if err != nil {
		return nil, err
	}
	cache, err := c.Cache.Backend(cachedDBPrefix)
	if err != nil {
		return nil, fmt.Errorf("store cached_db: cache: %w", err)
	}
	return purgingCached{
		Cached: &blob.Cached{
			DB:         o.blobStore(c.DB.backend, codec),
			Cache:      cache,
			CacheCodec: redisblob.CacheJSONCodec{},
		},
		purge: c.DB.PurgeExpired,
	}, nil
}

// UnmarshalCaddyfile sets up the store from Caddyfile tokens. Syntax:
//
//	store cached_db {
//		cache { <every subdirective of store cache> }
//		db    { <every subdirective of store db> }
//	}
func (c *CachedDBStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.Err("store cached_db: takes a block (cache { ... } and db { ... }), not arguments")
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		sub := d.Val()
		if err := once(d, seen, sub); err != nil {
			return fmt.Errorf("store cached_db: %w", err)
		}
		var err error
		switch sub {
		case "cache":
			err = c.Cache.UnmarshalCaddyfile(d.NewFromNextSegment())
		case "db":
			err = c.DB.UnmarshalCaddyfile(d.NewFromNextSegment())
		default:
			return unknownSubdirective(d, "store cached_db", sub, storeSubdirectives["cached_db"])
		}
		if err != nil {
			return fmt.Errorf("store cached_db: %w", err)
		}
	}
	if !seen["cache"] || !seen["db"] {
		return d.Err("store cached_db: needs both cache { ... } and db { ... }")
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*CachedDBStore)(nil)
	_ caddy.Validator       = (*CachedDBStore)(nil)
	_ caddy.CleanerUpper    = (*CachedDBStore)(nil)
	_ caddyfile.Unmarshaler = (*CachedDBStore)(nil)
)

// CanEncrypt implements EncryptingStore: never, Django's cached_db engine
// reads this layout.
func (c *CachedDBStore) CanEncrypt(StoreOptions) error {
	return errDjangoReads("store cached_db (Django's cached_db engine)")
}

var _ EncryptingStore = (*CachedDBStore)(nil)
