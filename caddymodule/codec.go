package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/django"
)

// CodecStoreModule is a store module that builds its session store from the
// handler's codec and options itself: cached_db, which encodes for its
// database with the codec and for its cache with the cache's own.
type CodecStoreModule interface {
	CodecStore(o StoreOptions) (session.Store, error)
}

// StoreOptions is what the handler gives a CodecStoreModule.
type StoreOptions struct {
	BlobOptions
	// Codec encodes for the layouts that take the handler's codec.
	Codec session.Codec
	// OnBadValue is told of every stored value the codec rejected.
	OnBadValue func(error)
}

// provisionStore loads the store module and puts the handler's codec where
// the store keeps one encoded value per session.
func (h *Handler) provisionStore(ctx caddy.Context, age time.Duration, secret string, fallbacks []string) (session.Store, error) {
	switch h.Codec {
	case "", "json", "django":
	default:
		return nil, fmt.Errorf("codec: must be json or django, got %q", h.Codec)
	}
	if h.StoreRaw == nil {
		h.StoreRaw = json.RawMessage(`{"backend":"file"}`)
	}
	if h.Codec == "django" {
		// The file store keeps Django's file layout under codec django;
		// it decides at its own provision, so tell it before.
		raw, err := withLayout(h.StoreRaw, "file", "django")
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		h.StoreRaw = raw
	}
	mod, err := ctx.LoadModule(h, "StoreRaw")
	if err != nil {
		return nil, fmt.Errorf("store: loading module: %w", err)
	}

	opts := StoreOptions{
		BlobOptions: BlobOptions{CookieName: h.cookieName(), Age: age, Logger: h.logger},
		OnBadValue: func(err error) {
			// Django logs this as django.security.SuspiciousSession; the
			// error names the reason, never the key or the value.
			if ce := h.logger.Named("security").Check(zap.WarnLevel, "session data corrupted: stored value rejected, treated as no session"); ce != nil {
				ce.Write(zap.Error(err))
			}
		},
	}
	ss, isStore := mod.(session.Store)
	native := !isStore || h.Codec == "django" // the module's Django layout
	if h.Codec == "json" || (h.Codec == "" && isStore) {
		opts.Codec = session.JSONCodec{}
	} else {
		if opts.Codec, err = h.djangoCodec(secret, fallbacks); err != nil {
			return nil, err
		}
	}

	if p, ok := mod.(PurgingStoreModule); ok {
		h.purge = p.PurgeExpired
	}
	switch m := mod.(type) {
	case CodecStoreModule:
		if native {
			return m.CodecStore(opts)
		}
	case BlobStoreModule:
		if native {
			backend, err := m.BlobBackend(opts.BlobOptions)
			if err != nil {
				return nil, fmt.Errorf("store: %w", err)
			}
			codec := m.FixedCodec()
			if codec == nil {
				codec = opts.Codec
			}
			bs := &blob.Store{Backend: backend, Codec: codec, Age: age, OnBadValue: opts.OnBadValue}
			if p, ok := backend.(codecPurger); ok {
				// Dating a session needs the codec (Django's file engine
				// reads _session_expiry), so the handler runs this purge.
				h.purge = func(now time.Time) (int, error) { return p.Purge(now, bs.Expired) }
				h.stopPurge = runPurger(h.logger, h.purge)
			}
			return bs, nil
		}
	}
	if !isStore {
		return nil, fmt.Errorf("store: module %T is not a session store", mod)
	}
	if h.Codec == "django" {
		return nil, errors.New("codec django: this store keeps no Django layout; use db, cache, cached_db, file or redis")
	}
	return ss, nil
}

// PurgingStoreModule is a store module that removes expired sessions on
// demand (Django's clear_expired), for `caddy sessions clear-expired`.
// Stores whose backend expires sessions itself (Redis) have nothing to do.
type PurgingStoreModule interface {
	PurgeExpired(now time.Time) (int, error)
}

// codecPurger is a blob backend whose purge needs the codec to date a
// value.
type codecPurger interface {
	Purge(now time.Time, expired func(blob.Value, time.Time) bool) (int, error)
}

// Cleanup stops the handler's own purge, if it runs one, and takes its
// store out of /sessions/health.
func (h *Handler) Cleanup() error {
	if h.health != nil {
		unregisterHealth(h.health)
	}
	h.cleanupUsers()
	if h.stopPurge != nil {
		return h.stopPurge()
	}
	return nil
}

// djangoCodec is Django's signed session format with the Django key.
func (h *Handler) djangoCodec(secret string, secretFallbacks []string) (session.Codec, error) {
	key, fallbacks := secret, secretFallbacks
	if h.DjangoSecretKey != "" {
		var err error
		if key, err = expand("django_secret_key", h.DjangoSecretKey, true); err != nil {
			return nil, err
		}
		fallbacks = nil
	}
	if len(h.DjangoSecretKeyFallbacks) > 0 {
		fallbacks = nil
		for i, fb := range h.DjangoSecretKeyFallbacks {
			fb, err := expand(fmt.Sprintf("django_secret_key_fallbacks[%d]", i), fb, true)
			if err != nil {
				return nil, err
			}
			fallbacks = append(fallbacks, fb)
		}
	}
	c := &django.Codec{Key: []byte(key), Salt: django.SessionSalt}
	for _, fb := range fallbacks {
		c.Fallbacks = append(c.Fallbacks, []byte(fb))
	}
	return c, nil
}

// withLayout sets "layout" in a store's JSON when its backend is name.
func withLayout(raw json.RawMessage, name, layout string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var backend string
	if err := json.Unmarshal(m["backend"], &backend); err != nil || backend != name {
		return raw, nil
	}
	m["layout"], _ = json.Marshal(layout)
	return json.Marshal(m)
}

func (h *Handler) cookieName() string {
	if h.CookieName == "" {
		return defaultCookieName
	}
	return h.CookieName
}

// djangoKeyIsSecret reports whether the Django codec signs stored values
// with `secret`, so that secret_fallbacks verify them: codec django, given
// or the default of the stores that exist only in Django's layouts (db,
// cached_db), without a django_secret_key of its own.
func (h *Handler) djangoKeyIsSecret() bool {
	if h.DjangoSecretKey != "" {
		return false
	}
	switch h.Codec {
	case "django":
		return true
	case "":
		backend := storeName(h.StoreRaw)
		return backend == "db" || backend == "cached_db"
	}
	return false
}
