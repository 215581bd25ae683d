package caddymodule

import (
	"time"

	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
)

// BlobOptions is what a store in one of Django's layouts may need from the
// handler that uses it.
type BlobOptions struct {
	// CookieName is the session cookie's name: Django's file engine names
	// each file "<cookie name><session key>".
	CookieName string
	// Age is Django's SESSION_COOKIE_AGE, the handler's cookie_age.
	Age time.Duration
	// Logger is the handler's logger.
	Logger *zap.Logger
}

// BlobStoreModule is a store module that keeps each session as one encoded
// value in one of Django's layouts (the django_session table, Django's
// cache engine, django-redis-sessions, Django's file engine). The handler
// wraps its backend in a blob.Store with the handler's codec (`codec
// django` by default for stores that exist only in Django's layout), or
// with the codec the layout requires.
//
// A module may be both a session.Store (its own layout) and a
// BlobStoreModule (Django's): `store redis` and `store file` are hashes and
// JSON files with the default codec, and Django's layouts with `codec
// django`.
type BlobStoreModule interface {
	// BlobBackend returns the backend. It is called once per handler
	// provision, after the module's own Provision.
	BlobBackend(o BlobOptions) (blob.Backend, error)
	// FixedCodec is the codec the layout requires whatever the handler's
	// `codec` says (Django's cache engine keeps plain JSON through
	// django-redis's serializer), or nil.
	FixedCodec() session.Codec
}
