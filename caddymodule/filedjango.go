package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/filestore"
)

// pooledBackend shares one blob backend across reloads, like pooled, with
// its purge (nil when the backend expires sessions itself).
type pooledBackend struct {
	backend blob.Backend
	purge   purgeFunc
	stop    func() error
}

func (p pooledBackend) Destruct() error {
	if p.stop != nil {
		return p.stop()
	}
	return nil
}

// openDjango opens Django's file engine layout in the store's directory,
// its files named after the handler's cookie name (Django's
// SESSION_COOKIE_NAME). Handlers sharing the directory and the cookie name
// share the backend and its background purge, which dates a session with
// the codec (Django's file engine reads _session_expiry) of the first.
func (f *FileStore) openDjango(o StoreOptions) (session.Store, error) {
	if o.Codec == "json" {
		return nil, errors.New("store file: layout django needs codec django")
	}
	codec, err := o.Encoding(true)
	if err != nil {
		return nil, err
	}
	key := "file-django:" + f.dir + "\x00" + o.CookieName
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		b, err := filestore.NewDjango(f.dir, o.CookieName)
		if err != nil {
			return nil, err
		}
		dating := o.blobStore(b, codec)
		purge := func(_ context.Context, now time.Time) (int, error) { return b.Purge(now, dating.Expired) }
		return pooledBackend{backend: b, purge: purge, stop: runPurger(o.logger(), func(now time.Time) (int, error) {
			return purge(context.Background(), now)
		})}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	f.djangoKey = key
	p := val.(pooledBackend)
	return purgingBlob{Store: o.blobStore(p.backend, codec), purge: p.purge}, nil
}

// Cleanup releases what the store holds in the pool.
func (f *FileStore) Cleanup() error {
	if f.djangoKey != "" {
		if _, err := pool.Delete(f.djangoKey); err != nil {
			return err
		}
	}
	if f.poolKey != "" {
		return f.pooledStore.Cleanup()
	}
	return nil
}
