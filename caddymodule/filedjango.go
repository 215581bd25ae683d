package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/filestore"
)

// pooledBackend shares one blob backend across reloads, like pooled.
type pooledBackend struct {
	backend blob.Backend
	stop    func() error
}

func (p pooledBackend) Destruct() error {
	if p.stop != nil {
		return p.stop()
	}
	return nil
}

// BlobBackend returns Django's file engine layout in the store's directory,
// its files named after the handler's cookie name (Django's
// SESSION_COOKIE_NAME).
func (f *FileStore) BlobBackend(o BlobOptions) (blob.Backend, error) {
	if f.Layout != "django" {
		return nil, fmt.Errorf("store file: the Django layout needs codec django")
	}
	key := "file-django:" + f.dir + "\x00" + o.CookieName
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		b, err := filestore.NewDjango(f.dir, o.CookieName)
		if err != nil {
			return nil, err
		}
		return pooledBackend{backend: b}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	f.djangoKey = key
	return val.(pooledBackend).backend, nil
}

// FixedCodec: the handler's codec applies.
func (*FileStore) FixedCodec() session.Codec { return nil }

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

// Interface guard
var _ BlobStoreModule = (*FileStore)(nil)
