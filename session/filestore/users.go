package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
)

// The user index lives in the store's directory, under .users/: one
// directory per user, named by a hash of the user, holding one small file
// per session of the user, named by the session key and holding
// {"created","modified","expires"} in unix ms. Entries change under the
// session's lock stripe, with the session: a new entry is written before
// the session, an old one removed after it, so that a crash can leave an
// entry too many (a listing or a purge drops it, under the same lock) but
// never miss a session.
const usersDir = ".users"

type userIndex struct{ root string }

type indexEntry struct {
	Created  int64 `json:"created"`
	Modified int64 `json:"modified"`
	Expires  int64 `json:"expires"`
}

func userIndexIn(dir string) userIndex { return userIndex{root: filepath.Join(dir, usersDir)} }

func (s *Store) users() userIndex { return userIndexIn(s.dir) }

// userHash names a user's directory: fixed length whatever the user.
func userHash(user string) string {
	sum := sha256.Sum256([]byte(user))
	return hex.EncodeToString(sum[:16])
}

func (ix userIndex) userDir(user string) string { return filepath.Join(ix.root, userHash(user)) }

func (ix userIndex) read(dir, key string) (indexEntry, bool) {
	b, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		return indexEntry{}, false
	}
	var e indexEntry
	if json.Unmarshal(b, &e) != nil {
		return indexEntry{}, false
	}
	return e, true
}

// put writes the entry of key under user, created at created; keepCreated
// keeps the creation time of an entry already there (the same user's
// session, saved again). The caller holds the key's lock stripe.
func (ix userIndex) put(user, key string, keepCreated bool, created, now, expiresAt time.Time) error {
	dir := ix.userDir(user)
	e := indexEntry{Created: created.UnixMilli(), Modified: now.UnixMilli(), Expires: expiresAt.UnixMilli()}
	if keepCreated {
		if old, ok := ix.read(dir, key); ok {
			e.Created = old.Created
		}
	}
	b, _ := json.Marshal(e)
	for attempt := 0; ; attempt++ {
		err := os.MkdirAll(dir, 0o700)
		if err == nil {
			err = writeAtomic(dir, tmpPrefix+"*", filepath.Join(dir, key), append(b, '\n'), time.Time{})
		}
		// A purge may remove the user's empty directory between the two:
		// make it again, once.
		if err == nil || attempt > 0 || !errors.Is(err, fs.ErrNotExist) {
			if err != nil {
				return fmt.Errorf("writing the user index: %w", hidePath(err))
			}
			return nil
		}
	}
}

// remove drops the entry of key under user. The caller holds the key's
// lock stripe.
func (ix userIndex) remove(user, key string) error {
	if err := removeIfExists(filepath.Join(ix.userDir(user), key)); err != nil {
		return fmt.Errorf("removing from the user index: %w", hidePath(err))
	}
	return nil
}

// entries lists the keys and entries in one user's directory.
func (ix userIndex) entries(dir string) (map[string]indexEntry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the user index: %w", hidePath(err))
	}
	out := make(map[string]indexEntry, len(des))
	for _, de := range des {
		key := de.Name()
		if !session.ValidKey(key) {
			continue
		}
		e, _ := ix.read(dir, key) // unreadable: a zero entry, checked by the caller
		out[key] = e
	}
	return out, nil
}

// list returns the user's sessions that check confirms (reading without a
// lock); the others are confirmed again under the key's lock and dropped.
func (ix userIndex) list(lockDirPath string, st *stripes, user string, check func(key string, e indexEntry) (time.Time, bool)) ([]session.UserSession, error) {
	dir := ix.userDir(user)
	es, err := ix.entries(dir)
	if err != nil {
		return nil, err
	}
	var out []session.UserSession
	for key, e := range es {
		if exp, ok := check(key, e); ok {
			out = append(out, session.UserSession{Key: key, Created: time.UnixMilli(e.Created), Modified: time.UnixMilli(e.Modified), ExpiresAt: exp})
			continue
		}
		if err := ix.prune(lockDirPath, st, dir, key, check); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b session.UserSession) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

// prune removes the entry of key in dir unless check confirms it under the
// key's lock: a writer that has just written the entry, and is writing the
// session, holds the lock.
func (ix userIndex) prune(lockDirPath string, st *stripes, dir, key string, check func(string, indexEntry) (time.Time, bool)) error {
	unlock, err := lockStripe(lockDirPath, st, key)
	if err != nil {
		return err
	}
	defer unlock()
	e, ok := ix.read(dir, key)
	if !ok {
		if _, err := os.Stat(filepath.Join(dir, key)); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if _, live := check(key, e); live {
		return nil
	}
	if err := removeIfExists(filepath.Join(dir, key)); err != nil {
		return fmt.Errorf("removing from the user index: %w", hidePath(err))
	}
	return nil
}

// purge drops every entry check does not confirm, stale temporary files,
// and the directories of users left without entries.
func (ix userIndex) purge(lockDirPath string, st *stripes, now time.Time, check func(userDir, key string, e indexEntry) (time.Time, bool)) error {
	users, err := os.ReadDir(ix.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the user index: %w", hidePath(err))
	}
	var errs []error
	for _, u := range users {
		if !u.IsDir() {
			continue
		}
		dir := filepath.Join(ix.root, u.Name())
		_, err := sweep(dir, now, func(key string) (bool, error) {
			if !session.ValidKey(key) {
				return false, nil
			}
			e, _ := ix.read(dir, key)
			if _, ok := check(u.Name(), key, e); ok {
				return false, nil
			}
			return false, ix.prune(lockDirPath, st, dir, key, func(k string, e indexEntry) (time.Time, bool) { return check(u.Name(), k, e) })
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = os.Remove(dir) // only if empty; a writer makes it again
	}
	return errors.Join(errs...)
}

// liveUser reports whether the session under key is live at now and
// belongs to the user whose directory is userDir, by the indexed field.
func (s *Store) liveUser(field, userDir, key string, now time.Time) (time.Time, bool) {
	exp, data, ok, err := s.readFile(key, now)
	if err != nil || !ok {
		return time.Time{}, false
	}
	if session.IsSealed(data) && s.sealer == nil {
		// A sealed session whose user the purge cannot read: its entry
		// stays until the session expires; a listing checks it.
		return exp, true
	}
	rec := session.Record{ExpiresAt: exp}
	if rec.Data, ok = s.open(key, data); !ok {
		return time.Time{}, false
	}
	user, ok := session.UserOf(rec.Data, field)
	if !ok || userHash(user) != userDir {
		return time.Time{}, false
	}
	return rec.ExpiresAt, true
}

// indexFields holds the field each directory's index is kept by, for the
// purge: the latest WithUserIndex's (a reload may change it; entries of
// the former field then fail their check and are dropped).
var indexFields sync.Map // dir -> field

// WithUserIndex implements session.UserIndexable. Every writer of the
// directory must index by the same field.
func (s *Store) WithUserIndex(field string) (session.UserIndexer, error) {
	if field == "" {
		return nil, session.ErrNoUserIndex
	}
	indexFields.Store(s.dir, field)
	return &Indexed{Store: s, field: field}, nil
}

// Indexed is the store with the index of its sessions by a user field.
type Indexed struct {
	*Store
	field string
}

// Save implements session.Store, keeping the index.
func (x *Indexed) Save(ctx context.Context, key string, c session.Change) (bool, error) {
	return x.save(ctx, key, c, x.field)
}

// Take implements session.Store, keeping the index.
func (x *Indexed) Take(ctx context.Context, key string) (session.Record, bool, error) {
	return x.take(ctx, key, x.field)
}

// Delete implements session.Store as Take.
func (x *Indexed) Delete(ctx context.Context, key string) (bool, error) {
	_, ok, err := x.Take(ctx, key)
	return ok, err
}

// UserSessions implements session.UserIndexer.
func (x *Indexed) UserSessions(_ context.Context, user string) ([]session.UserSession, error) {
	now := time.Now()
	hash := userHash(user)
	return x.users().list(x.dir, x.stripes, user, func(key string, _ indexEntry) (time.Time, bool) {
		return x.liveUser(x.field, hash, key, now)
	})
}

// purgeIndex is Purge's part for the index.
func (s *Store) purgeIndex(now time.Time) error {
	f, ok := indexFields.Load(s.dir)
	if !ok {
		return nil
	}
	field := f.(string)
	// Without the sealer: a sealed session's entry stays until the session
	// expires, whichever key sealed it (liveUser).
	keyless := *s
	keyless.sealer = nil
	return s.users().purge(s.dir, s.stripes, now, func(userDir, key string, _ indexEntry) (time.Time, bool) {
		return keyless.liveUser(field, userDir, key, now)
	})
}

// CanIndexUsers implements blob.UserIndexBackend.
func (b *DjangoBackend) CanIndexUsers() error { return nil }

// applyIndex changes the index as op says, around the write of the
// session file (before: true, before it). The caller holds the key's lock.
// A new entry is created at the taken session's time (ix.Taken) or now,
// but not before the user's revocation mark; the create of a taken
// session reads the mark again once the file is written and undoes both
// when the mark is past the session (revoke.go: either that read sees a
// revocation's mark, or the revocation's listing, after its mark, sees
// the session).
func (b *DjangoBackend) applyIndex(key string, op blob.Op, before bool) error {
	ix, users := op.Index, userIndexIn(b.dir)
	if ix == nil {
		return nil
	}
	if before {
		if op.Kind == blob.Put && ix.User != "" {
			created := ix.Now
			if !ix.Taken.IsZero() {
				created = ix.Taken
			} else if ix.Prev != ix.User {
				if mark, err := readMark(b.dir, ix.User); err == nil && created.Before(mark) {
					created = mark
				}
			}
			return users.put(ix.User, key, ix.Prev == ix.User, created, ix.Now, op.Value.ExpiresAt)
		}
		return nil
	}
	if op.Kind == blob.Put && ix.User != "" && !ix.Taken.IsZero() {
		mark, err := readMark(b.dir, ix.User)
		if err != nil || ix.Taken.Before(mark) {
			if rerr := removeIfExists(b.path(key)); rerr != nil {
				err = errors.Join(err, fmt.Errorf("removing session file: %w", hidePath(rerr)))
			}
			if rerr := users.remove(ix.User, key); rerr != nil {
				err = errors.Join(err, rerr)
			}
			if err == nil {
				err = session.ErrRevoked
			}
			return err
		}
	}
	if ix.Prev != "" && (op.Kind == blob.Remove || ix.Prev != ix.User) {
		if op.Kind == blob.Remove && ix.WantCreated {
			if e, ok := users.read(users.userDir(ix.Prev), key); ok {
				ix.Created = time.UnixMilli(e.Created)
			}
		}
		return users.remove(ix.Prev, key)
	}
	return nil
}

// djangoLive confirms an entry of Django's layout: the session file is
// there and the entry, written with it, is unexpired. (A value's user needs
// the codec, which the store above holds.)
func (b *DjangoBackend) djangoLive(key string, e indexEntry, now time.Time) (time.Time, bool) {
	exp := time.UnixMilli(e.Expires)
	if !exp.After(now) {
		return time.Time{}, false
	}
	if _, err := os.Stat(b.path(key)); err != nil {
		return time.Time{}, false
	}
	return exp, true
}

// UserSessions implements blob.UserIndexBackend.
func (b *DjangoBackend) UserSessions(_ context.Context, user string, now time.Time) ([]session.UserSession, error) {
	return userIndexIn(b.dir).list(b.dir, b.stripes, user, func(key string, e indexEntry) (time.Time, bool) {
		return b.djangoLive(key, e, now)
	})
}

// purgeIndex is Purge's part for the index.
func (b *DjangoBackend) purgeIndex(now time.Time) error {
	return userIndexIn(b.dir).purge(b.dir, b.stripes, now, func(_, key string, e indexEntry) (time.Time, bool) {
		return b.djangoLive(key, e, now)
	})
}

var (
	_ session.UserIndexable = (*Store)(nil)
	_ session.UserIndexer   = (*Indexed)(nil)
	_ blob.UserIndexBackend = (*DjangoBackend)(nil)
)
