package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
)

// DjangoBackend keeps sessions as Django's file engine does, so that a
// Django process with the same SESSION_FILE_PATH shares them: one file
// "<cookie name><session key>" per session, holding the encoded session
// (the codec is applied above, by blob.Store), dated by its modification
// time. Writes replace the file atomically (temporary file, fsync, rename),
// as Django does; unlike Django, writers also take the key's lock stripe
// (under .locks/, as the JSON file store does), so concurrent requests of
// any Caddy process apply their deltas one after the other. Django's own
// writes do not lock; they replace the whole file, as Django always does.
type DjangoBackend struct {
	dir     string
	prefix  string
	stripes *stripes
}

var _ blob.Backend = (*DjangoBackend)(nil)

// NewDjango returns the backend for Django's file engine in dir with the
// file prefix (Django's SESSION_COOKIE_NAME). A missing dir is created
// 0700 by the first write, as New's; an existing dir that others (not its group: Django and Caddy may
// share a group) can access is refused, since the file names are keys.
func NewDjango(dir, prefix string) (*DjangoBackend, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving session directory: %w", err)
	}
	if prefix == "" || strings.ContainsAny(prefix, `/\`) || strings.HasPrefix(prefix, ".") {
		return nil, fmt.Errorf("session file prefix %q: must be a plain name (the cookie name)", prefix)
	}
	if runtime.GOOS != "windows" {
		if info, err := os.Stat(dir); err == nil && info.IsDir() && info.Mode().Perm()&0o007 != 0 {
			return nil, fmt.Errorf("session directory %s is open to other users (mode %04o), who could list the session keys; run: chmod o-rwx %s", dir, info.Mode().Perm(), dir)
		}
	}
	return &DjangoBackend{dir: dir, prefix: prefix, stripes: stripesFor(dir)}, nil
}

func (b *DjangoBackend) path(key string) string { return filepath.Join(b.dir, b.prefix+key) }

// Read returns the file's content and modification time. An empty file is
// Django's placeholder during a create: not a session yet.
func (b *DjangoBackend) Read(_ context.Context, key string) (blob.Value, bool, error) {
	if !session.ValidKey(key) {
		return blob.Value{}, false, nil
	}
	return b.read(key)
}

func (b *DjangoBackend) read(key string) (blob.Value, bool, error) {
	f, err := os.Open(b.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return blob.Value{}, false, nil
	}
	if err != nil {
		return blob.Value{}, false, fmt.Errorf("reading session file: %w", hidePath(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return blob.Value{}, false, fmt.Errorf("reading session file: %w", hidePath(err))
	}
	const maxFile = 1 << 20 // far above any session this module writes
	if info.Size() == 0 || info.Size() > maxFile {
		return blob.Value{}, false, nil
	}
	data := make([]byte, info.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return blob.Value{}, false, fmt.Errorf("reading session file: %w", hidePath(err))
	}
	return blob.Value{Data: data, ModTime: info.ModTime()}, true, nil
}

// Modify runs fn under the key's lock stripe and writes its result.
// Waiting for the lock ends with ctx.
func (b *DjangoBackend) Modify(ctx context.Context, key string, fn blob.ModifyFunc) error {
	if !session.ValidKey(key) {
		return errInvalidKey
	}
	unlock, err := lockStripeContext(ctx, b.dir, b.stripes, key)
	if err != nil {
		return err
	}
	defer unlock()
	cur, exists, err := b.read(key)
	if err != nil {
		return err
	}
	op, err := fn(cur, exists)
	if err != nil {
		return err
	}
	if err := b.applyIndex(key, op, true); err != nil {
		return err
	}
	switch op.Kind {
	case blob.Put:
		// The expiry lives in the modification time and in the
		// session's own _session_expiry, as Django reads them.
		if err := b.write(key, op.Value.Data, op.Value.ModTime); err != nil {
			return fmt.Errorf("writing session file: %w", hidePath(err))
		}
	case blob.Remove:
		if err := removeIfExists(b.path(key)); err != nil {
			return fmt.Errorf("removing session file: %w", hidePath(err))
		}
	default:
		return nil
	}
	return b.applyIndex(key, op, false)
}

func (b *DjangoBackend) write(key string, data []byte, mod time.Time) error {
	// The temporary name does not start with the prefix, so Django's
	// clear_expired never takes it for a session.
	return writeAtomic(b.dir, tmpPrefix+"django-*", b.path(key), data, mod)
}

// Purge removes the session files whose value expired reports as expired at
// now (Django's clear_expired), and temporary files older than a minute.
// It reports how many session files it removed.
func (b *DjangoBackend) Purge(now time.Time, expired func(blob.Value, time.Time) bool) (int, error) {
	n, err := b.purge(now, expired)
	return n, errors.Join(err, b.purgeIndex(now))
}

func (b *DjangoBackend) purge(now time.Time, expired func(blob.Value, time.Time) bool) (int, error) {
	return sweep(b.dir, now, func(name string) (bool, error) {
		key, ok := strings.CutPrefix(name, b.prefix)
		if !ok || !session.ValidKey(key) {
			return false, nil
		}
		removed := false
		err := b.Modify(context.Background(), key, func(cur blob.Value, exists bool) (blob.Op, error) {
			removed = false
			if exists && expired(cur, now) {
				removed = true
				return blob.Op{Kind: blob.Remove}, nil
			}
			return blob.Op{Kind: blob.Keep}, nil
		})
		return removed, err
	})
}
