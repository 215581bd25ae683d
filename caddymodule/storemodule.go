package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
)

// StoreModule is what a module in the `http.session.stores` namespace
// implements, this project's stores and a third party's alike: after its
// own Provision, the handler asks it once for the session store it will
// use, with the handler's options. The module decides its layout from
// them (`store file` and `store redis` keep Django's under `codec
// django`), and may share what it opens across handlers and config
// reloads (see the package-level pool).
//
// The returned store may implement the optional interfaces of package
// session (UserIndexable for user_key, Minter for a session kept in the
// cookie) and Purger.
type StoreModule interface {
	OpenStore(o StoreOptions) (session.Store, error)
}

// StoreOptions is what the handler tells its store.
type StoreOptions struct {
	// Codec is the handler's `codec`: "" (not set), "json" or "django".
	// Encoding turns it into the codec of a layout that keeps each
	// session as one value.
	Codec string
	// CookieName is the session cookie's name: Django's file engine names
	// each file "<cookie name><session key>".
	CookieName string
	// Age is the handler's cookie_age (Django's SESSION_COOKIE_AGE).
	Age time.Duration
	// Logger is the handler's logger.
	Logger *zap.Logger
	// OnBadValue is told of every stored value the codec rejected
	// (tampered, signed with another key, pickled); the error names the
	// reason, never the key or the value.
	OnBadValue func(error)
	// Django returns the handler's Django codec: Django's signed format
	// keyed with django_secret_key and its fallbacks.
	Django func() (session.Codec, error)
	// Sealer, when set (the handler's `encrypt`), is what the store seals
	// its values with; only a module that implements EncryptingStore is
	// given one.
	Sealer *session.Sealer
}

// Encoding is the codec of a layout that keeps each session as one value:
// Django's signed format under `codec django`, or with no `codec` when
// the layout exists only in Django's engines (djangoDefault); this
// project's JSON otherwise.
func (o StoreOptions) Encoding(djangoDefault bool) (session.Codec, error) {
	if o.Codec == "json" || (o.Codec == "" && !djangoDefault) {
		return session.JSONCodec{}, nil
	}
	if o.Django == nil {
		return nil, errors.New("codec django: no Django key given")
	}
	return o.Django()
}

// logger is Logger, or one that drops everything when it is not set.
func (o StoreOptions) logger() *zap.Logger {
	if o.Logger == nil {
		return zap.NewNop()
	}
	return o.Logger
}

// blobStore is a blob.Store over backend with the options' age and bad
// value policy.
func (o StoreOptions) blobStore(backend blob.Backend, codec session.Codec) *blob.Store {
	return &blob.Store{Backend: backend, Codec: codec, Age: o.Age, OnBadValue: o.OnBadValue, Sealer: o.Sealer}
}

// Purger is a store that removes its expired sessions on demand, as
// Django's clear_expired, for `caddy sessions clear-expired` and the
// admin API's purge: the memory, file and db stores, whose shared entry
// also runs it every minute. A store whose backend expires sessions itself
// (Redis, Django's cache) is not one.
type Purger interface {
	PurgeExpired(ctx context.Context, now time.Time) (int, error)
}

// purgeFunc is one shared store's purge.
type purgeFunc func(ctx context.Context, now time.Time) (int, error)

// purgingBlob is a handler's blob store on a shared backend that purges.
type purgingBlob struct {
	*blob.Store
	purge purgeFunc
}

// PurgeExpired implements Purger.
func (p purgingBlob) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	return p.purge(ctx, now)
}

// purgingCached is cached_db's store, purged through its table.
type purgingCached struct {
	*blob.Cached
	purge purgeFunc
}

// PurgeExpired implements Purger.
func (p purgingCached) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	return p.purge(ctx, now)
}

// errNoDjangoLayout refuses `codec django` on a store that has no layout
// of Django's.
var errNoDjangoLayout = errors.New("codec django: this store keeps no Django layout; use db, cache, cached_db, file or redis")

// provisionStore loads the store module and opens the handler's store
// through it.
func (h *Handler) provisionStore(ctx caddy.Context, age time.Duration, secret string, fallbacks []string) (session.Store, error) {
	sealer, err := h.sealer(secret, fallbacks)
	if err != nil {
		return nil, err
	}
	switch h.Codec {
	case "", "json", "django":
	default:
		return nil, fmt.Errorf("codec: must be json or django, got %q", h.Codec)
	}
	if h.StoreRaw == nil {
		h.StoreRaw = json.RawMessage(`{"backend":"file"}`)
	}
	h.storeKey = string(h.StoreRaw) // before LoadModule drops it
	mod, err := ctx.LoadModule(h, "StoreRaw")
	if err != nil {
		return nil, fmt.Errorf("store: loading module: %w", err)
	}
	sm, ok := mod.(StoreModule)
	if !ok {
		return nil, fmt.Errorf("store: module %T is not a session store (caddymodule.StoreModule)", mod)
	}
	onBadValue := func(err error) {
		// Django logs this as django.security.SuspiciousSession; the
		// error names the reason, never the key or the value.
		if ce := h.logger.Named("security").Check(zap.WarnLevel, "session data corrupted: stored value rejected, treated as no session"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
	opts := StoreOptions{
		Codec:      h.Codec,
		CookieName: h.cookieName(),
		Age:        age,
		Logger:     h.logger,
		OnBadValue: onBadValue,
		Django:     func() (session.Codec, error) { return h.djangoCodec(secret, fallbacks) },
	}
	if sealer != nil {
		es, ok := sm.(EncryptingStore)
		if !ok {
			return nil, fmt.Errorf("encrypt: store %s cannot encrypt its values", storeName(json.RawMessage(h.storeKey)))
		}
		if err := es.CanEncrypt(opts); err != nil {
			return nil, err
		}
		sealer.OnBadValue = onBadValue
		opts.Sealer = sealer
	}
	store, err := sm.OpenStore(opts)
	if err != nil {
		return nil, err
	}
	if s, ok := sm.(sharedStore); ok {
		h.storeKey = s.sharedKey()
	}
	if p, ok := store.(Purger); ok {
		// No request bounds a purge: dbTimeout does, as for the
		// background one.
		h.purge = func(now time.Time) (int, error) {
			ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
			defer cancel()
			return p.PurgeExpired(ctx, now)
		}
	}
	return store, nil
}

// sharedStore is a store module whose store is one entry of the pool:
// its key names that entry, so that every handler on the store shares one
// health however its config is written (a placeholder, a relative path),
// and handlers on different stores never share one. A store without it
// (signed cookies, a third party's) has a health per configuration.
type sharedStore interface{ sharedKey() string }

func (p *pooledStore) sharedKey() string { return p.poolKey }

// sharedKey is the Django layout's backend when the handler opened it.
func (f *FileStore) sharedKey() string { return cmp.Or(f.djangoKey, f.poolKey) }

func (s *DBStore) sharedKey() string { return s.poolKey }

// Interface guards
var (
	_ StoreModule   = (*MemoryStore)(nil)
	_ StoreModule   = (*FileStore)(nil)
	_ StoreModule   = (*RedisStore)(nil)
	_ StoreModule   = (*CacheStore)(nil)
	_ StoreModule   = (*DBStore)(nil)
	_ StoreModule   = (*CachedDBStore)(nil)
	_ StoreModule   = (*SignedCookiesStore)(nil)
	_ Purger        = (*MemoryStore)(nil)
	_ Purger        = (*FileStore)(nil)
	_ Purger        = purgingBlob{}
	_ Purger        = purgingCached{}
	_ session.Store = purgingBlob{}
	_ session.Store = purgingCached{}
)
