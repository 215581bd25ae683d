package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/filestore"
)

func init() {
	caddy.RegisterModule(FileStore{})
}

// FileStore keeps one file per session in a directory, replaced atomically
// on every save. Several Caddy processes may share the directory. It is the
// default store.
type FileStore struct {
	// The directory. Default: `sessions` under Caddy's data directory.
	// Placeholders such as `{env.X}` are expanded; an unknown or empty
	// one is an error. The store creates a missing directory with mode
	// 0700 and refuses an existing one that group or others may read,
	// write or search: the file names are session keys.
	Dir string `json:"dir,omitempty"`

	// The layout of the files: "" for this store's own (one JSON file per
	// session, fields apart), or "django" for Django's file engine (one
	// file "<cookie name><key>" holding the encoded session), which
	// `codec django` implies; "django" needs `codec django`.
	Layout string `json:"layout,omitempty"`

	pooledStore
	dir       string // absolute, placeholders expanded
	djangoKey string // pool key of the Django layout's backend
}

// CaddyModule returns the Caddy module information.
func (FileStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".file", New: func() caddy.Module { return new(FileStore) }}
}

// Provision resolves the directory; OpenStore opens the layout the
// handler's codec asks for.
func (f *FileStore) Provision(caddy.Context) error {
	dir := filepath.Join(caddy.AppDataDir(), "sessions")
	if f.Dir != "" {
		var err error
		if dir, err = expand("dir", f.Dir, false); err != nil {
			return fmt.Errorf("store file: %w", err)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("store file: %w", err)
	}
	f.dir = dir
	switch f.Layout {
	case "", "django":
	default:
		return fmt.Errorf("store file: layout must be empty or django, got %q", f.Layout)
	}
	return nil
}

// OpenStore implements StoreModule: this store's own layout, shared by
// every handler on the directory, or Django's file engine layout under
// `codec django` (openDjango, below).
func (f *FileStore) OpenStore(o StoreOptions) (session.Store, error) {
	if o.Codec == "django" || f.Layout == "django" {
		return f.openDjango(o)
	}
	err := f.load("file:"+f.dir, func() (session.Store, func() error, error) {
		s, err := filestore.New(f.dir)
		if err != nil {
			return nil, nil, err
		}
		return s, runPurger(o.logger(), func(now time.Time) (int, error) { return s.Purge(now) }), nil
	})
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	if o.Sealer != nil {
		f.Store = f.Store.(*filestore.Store).WithSealer(o.Sealer)
	}
	return f, nil
}

// CanEncrypt implements EncryptingStore: this store's own layout seals
// each session's data in its file; Django's file engine layout cannot.
func (f *FileStore) CanEncrypt(o StoreOptions) error {
	if o.Codec == "django" || f.Layout == "django" {
		return errDjangoReads("store file with layout django (Django's file engine)")
	}
	return nil
}

// UnmarshalCaddyfile: `store file [<dir>]`.
func (f *FileStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		f.Dir = d.Val()
		if err := checkPlaceholders(d, "dir", false, f.Dir); err != nil {
			return fmt.Errorf("store file: %w", err)
		}
	}
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("store file: takes at most one argument, the directory")
	}
	return nil
}

// PurgeExpired implements Purger: the expired session files of this
// store's own layout (Django's is purged through its blob store).
func (f *FileStore) PurgeExpired(_ context.Context, now time.Time) (int, error) {
	return f.Store.(*filestore.Store).Purge(now)
}

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

// Interface guards
var (
	_ session.Store         = (*FileStore)(nil)
	_ caddy.Provisioner     = (*FileStore)(nil)
	_ caddy.CleanerUpper    = (*FileStore)(nil)
	_ caddyfile.Unmarshaler = (*FileStore)(nil)
	_ EncryptingStore       = (*FileStore)(nil)
)
