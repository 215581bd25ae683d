// Package filestore is the embedded session store: one JSON file per
// session in a directory, named by the session key and holding
// {"expires_at": <unix ms>, "data": {...}}, with every value kept as the
// exact JSON text it was given. Files are replaced atomically (temporary
// file, fsync, rename), so readers take no lock and never see half a write.
// Writers read, modify and write a session while holding its lock stripe:
// an in-process mutex plus flock(2) on one of 256 lock files under .locks/,
// chosen by hashing the key. That serialises every writer of a session, in
// this process or in another Caddy process sharing the directory, so each
// Save applies its delta to the latest fields and concurrent requests that
// change different fields of one session all survive.
package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// tmpPrefix starts the name of every temporary file. A session key never
// starts with a dot, so temporary files cannot be mistaken for sessions.
const tmpPrefix = ".tmp-"

// staleAfter is the age after which Purge removes a temporary file: a
// writer holds one only for the duration of a single Save.
const staleAfter = time.Minute

// errInvalidKey is returned by Save for a key that session.NewKey cannot
// have produced; such a key never becomes a file name.
var errInvalidKey = errors.New("invalid session key")

// Store keeps sessions as files in one directory.
type Store struct {
	dir     string
	stripes *stripes
	// sealer, when set, seals each session's data as one value
	// (WithSealer).
	sealer *session.Sealer
}

// WithSealer returns a view of the store that keeps the sessions it writes
// sealed by sealer (encryption at rest): the file's "data" is then one
// sealed JSON string instead of an object, bound to the session key; the
// expiry stays in the clear, so that the purge needs no key. A session it
// cannot open (another key, tampered, plaintext it does not accept) is no
// session, reported through the sealer.
func (s *Store) WithSealer(sealer *session.Sealer) *Store {
	c := *s
	c.sealer = sealer
	return &c
}

var _ session.Store = (*Store)(nil)

// New returns a store keeping its sessions in dir. A missing dir is
// created (mode 0700) by the first write, not here, so that opening a store
// to check a config (caddy validate) leaves the disk alone. Several Store
// values, in one process or several, may share a directory.
//
// A directory that already exists must be private to its owner: its file
// names are session keys, so anyone who can list it can take over every
// session in it. New refuses one with any group or other permission bit
// rather than changing the operator's permissions behind their back.
func New(dir string) (*Store, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving session directory: %w", err)
	}
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	return &Store{dir: dir, stripes: stripesFor(dir)}, nil
}

// checkPrivate refuses an existing dir that group or others may read,
// write or search. A missing one is fine: the first write creates it 0700. Windows has
// ACLs, not mode bits, so the check does not apply there.
func checkPrivate(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking session directory: %w", err)
	}
	if perm := info.Mode().Perm(); info.IsDir() && perm&0o077 != 0 {
		return fmt.Errorf("session directory %s is open to other users (mode %04o), who could list the session keys; run: chmod 700 %s", dir, perm, dir)
	}
	return nil
}

// Load reads the session under key without locking: files are only ever
// replaced whole. A missing, corrupt or expired file is not found.
func (s *Store) Load(_ context.Context, key string) (session.Record, bool, error) {
	if !session.ValidKey(key) {
		return session.Record{}, false, nil
	}
	return s.read(key, time.Now())
}

// Save applies c to the session under key while holding its lock stripe.
func (s *Store) Save(ctx context.Context, key string, c session.Change) (bool, error) {
	return s.save(ctx, key, c, "")
}

// save is Save, keeping the user index by field when not "" (users.go).
// Waiting for the lock ends with ctx.
func (s *Store) save(ctx context.Context, key string, c session.Change, field string) (bool, error) {
	if !session.ValidKey(key) {
		return false, errInvalidKey
	}
	if err := c.Validate(); err != nil {
		return false, err
	}
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return false, err
	}
	defer unlock()

	now := time.Now()
	rec, exists, err := s.read(key, now)
	if err != nil {
		return false, err
	}
	var prev, user string
	if field != "" {
		prev, _ = session.UserOf(rec.Data, field) // before Apply: rec.Data is modified in place
	}
	data, expiresAt, keep, err := c.Apply(rec, exists, now) // rec is freshly decoded: ours to modify
	if err != nil {
		return false, err
	}
	// A store never keeps an empty or expired session.
	if !keep {
		if err := removeIfExists(s.path(key)); err != nil {
			return false, fmt.Errorf("removing session file: %w", hidePath(err))
		}
		if prev != "" {
			return false, s.users().remove(prev, key)
		}
		return false, nil
	}
	if field != "" {
		user, _ = session.UserOf(data, field)
	}
	b, err := s.encode(key, expiresAt, data)
	if err != nil {
		return false, fmt.Errorf("encoding session: %w", err)
	}
	// The new entry before the session and the old one after it: a crash
	// between leaves an entry too many, which a listing drops, never a
	// session the index misses.
	var since time.Time
	taken := false
	if user != "" {
		since, taken = now, false
		if prev != user {
			since, taken = s.since(ctx, user, c.Mode, now) // revoke.go
		}
		if err := s.users().put(user, key, prev == user, since, now, expiresAt); err != nil {
			return false, err
		}
	}
	if err := s.write(key, b); err != nil {
		return false, fmt.Errorf("writing session file: %w", hidePath(err))
	}
	if taken {
		if err := s.undoRevoked(user, key, since); err != nil {
			return false, err
		}
	}
	if prev != "" && prev != user {
		return true, s.users().remove(prev, key)
	}
	return true, nil
}

// Delete removes the session under key and reports whether it was live.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	_, ok, err := s.Take(ctx, key)
	return ok, err
}

// Take removes the session under key and returns it. It holds the lock
// stripe, so that a Save already under way cannot bring the session back
// afterwards and of two Takes only one finds it.
func (s *Store) Take(ctx context.Context, key string) (session.Record, bool, error) {
	return s.take(ctx, key, "")
}

// take is Take, keeping the user index by field when not "".
func (s *Store) take(ctx context.Context, key, field string) (session.Record, bool, error) {
	if !session.ValidKey(key) {
		return session.Record{}, false, nil // never stored
	}
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return session.Record{}, false, err
	}
	defer unlock()
	rec, ok, err := s.read(key, time.Now())
	if err != nil {
		return session.Record{}, false, err
	}
	if err := removeIfExists(s.path(key)); err != nil {
		return session.Record{}, false, fmt.Errorf("removing session file: %w", hidePath(err))
	}
	if user, indexed := session.UserOf(rec.Data, field); indexed {
		if e, ok := s.users().read(s.users().userDir(user), key); ok {
			session.NoteTaken(ctx, user, time.UnixMilli(e.Created))
		}
		if err := s.users().remove(user, key); err != nil {
			return session.Record{}, false, err
		}
	}
	return rec, ok, nil
}

// Purge removes the session files that are expired at now or corrupt, and
// temporary files older than a minute left by interrupted writers. It
// reports how many session files it removed. It goes on after an error and
// returns them all.
func (s *Store) Purge(now time.Time) (int, error) {
	n, err := sweep(s.dir, now, func(name string) (bool, error) {
		if !session.ValidKey(name) {
			return false, nil
		}
		return s.purge(name, now)
	})
	return n, errors.Join(err, s.purgeIndex(now))
}

// sweep lists dir, removes the temporary files older than staleAfter, and
// hands every other name to purge, which reports whether it removed a
// session. It counts those, goes on after an error and returns them all.
func sweep(dir string, now time.Time, purge func(name string) (bool, error)) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // nothing written yet
	}
	if err != nil {
		return 0, fmt.Errorf("listing session directory: %w", err)
	}
	var errs []error
	n := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			info, err := e.Info()
			if err == nil && now.Sub(info.ModTime()) > staleAfter {
				err = removeIfExists(filepath.Join(dir, name))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing temporary file: %w", err))
			}
			continue
		}
		removed, err := purge(name)
		if err != nil {
			errs = append(errs, err)
		}
		if removed {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// purge removes the session under key if it is expired at now or corrupt.
// The unlocked first look keeps Purge from taking locks for live sessions;
// the second, under the lock, keeps it from removing a session that a
// concurrent Save has just renewed.
func (s *Store) purge(key string, now time.Time) (bool, error) {
	if live, err := s.unexpired(key, now); live || err != nil {
		return false, err
	}
	unlock, err := s.lock(context.Background(), key)
	if err != nil {
		return false, err
	}
	defer unlock()
	if live, err := s.unexpired(key, now); live || err != nil {
		return false, err
	}
	err = os.Remove(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("removing session file: %w", hidePath(err))
	}
	return true, nil
}

// path is the file of a session; key has been checked with ValidKey.
func (s *Store) path(key string) string { return filepath.Join(s.dir, key) }

// read returns the session under key if its file exists, decodes and has
// not expired at now. Only a failure to read an existing file is an error.
func (s *Store) read(key string, now time.Time) (session.Record, bool, error) {
	exp, data, ok, err := s.readFile(key, now)
	if !ok || err != nil {
		return session.Record{}, false, err
	}
	d, ok := s.open(key, data)
	if !ok {
		return session.Record{}, false, nil
	}
	return session.Record{Data: d, ExpiresAt: exp}, true, nil
}

// readFile returns the expiry and the stored data (a JSON object, or a
// sealed string) of key's file if it exists, is a session file and has
// not expired at now. Only a failure to read an existing file is an error.
func (s *Store) readFile(key string, now time.Time) (expiresAt time.Time, data []byte, ok bool, err error) {
	b, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil, false, nil
	}
	if err != nil {
		return time.Time{}, nil, false, fmt.Errorf("reading session file: %w", hidePath(err))
	}
	exp, data, ok := decodeFile(b)
	if !ok || !exp.After(now) {
		return time.Time{}, nil, false, nil
	}
	return exp, data, true, nil
}

// unexpired reports whether key's file is a session file, sealed or not,
// that has not expired at now: what the purge keeps, whatever its key.
func (s *Store) unexpired(key string, now time.Time) (bool, error) {
	_, _, ok, err := s.readFile(key, now)
	return ok, err
}

// open returns the session in data: a JSON object, or a value sealed by
// this view's sealer.
func (s *Store) open(key string, data []byte) (session.Data, bool) {
	if s.sealer == nil && !session.IsSealed(data) {
		d, err := session.UnmarshalData(data)
		return d, err == nil && len(d) > 0
	}
	d, _, err := s.sealer.OpenData(key, data)
	return d, err == nil && len(d) > 0
}

// write replaces the file of key with b atomically. The file is synced
// before the rename, so after a crash the session is either its previous
// or its new version, never a partial one. The directory is not synced: at
// worst a crash undoes the last write of a session.
func (s *Store) write(key string, b []byte) error {
	return writeAtomic(s.dir, tmpPrefix+key+"-*", s.path(key), b, time.Time{})
}

// writeAtomic replaces path with b through a temporary file in dir (named
// by pattern) that is synced, given the modification time mod unless zero,
// and renamed over path.
func writeAtomic(dir, pattern, path string, b []byte, mod time.Time) (err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !mod.IsZero() {
		err = os.Chtimes(f.Name(), mod, mod)
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// fileRecord is the decoded form of a session file.
type fileRecord struct {
	ExpiresAt *int64          `json:"expires_at"`
	Data      json.RawMessage `json:"data"`
}

// encode is the file of the session key holding data until expiresAt,
// its data sealed when the view has a sealer.
func (s *Store) encode(key string, expiresAt time.Time, data session.Data) ([]byte, error) {
	if s.sealer == nil {
		return encode(expiresAt, data)
	}
	sealed, err := s.sealer.SealData(key, data)
	if err != nil {
		return nil, err
	}
	return encodeRaw(expiresAt, sealed), nil
}

// encode writes the file format by hand rather than with json.Marshal,
// which would compact the values and escape HTML characters in them:
// values are stored exactly as given.
func encode(expiresAt time.Time, data session.Data) ([]byte, error) {
	obj, err := session.MarshalData(data)
	if err != nil {
		return nil, err
	}
	return encodeRaw(expiresAt, obj), nil
}

// encodeRaw is the file holding obj, the data's stored form.
func encodeRaw(expiresAt time.Time, obj []byte) []byte {
	b := make([]byte, 0, len(obj)+40)
	b = append(b, `{"expires_at":`...)
	b = strconv.AppendInt(b, expiresAt.UnixMilli(), 10)
	b = append(b, `,"data":`...)
	b = append(b, obj...)
	return append(b, "}\n"...)
}

// decodeFile reads a session file's expiry and its data's stored form: a
// JSON object with a field at least, or a sealed value. ok is false for
// anything else.
func decodeFile(b []byte) (expiresAt time.Time, data []byte, ok bool) {
	var f fileRecord
	if err := json.Unmarshal(b, &f); err != nil || f.ExpiresAt == nil {
		return time.Time{}, nil, false
	}
	if !session.IsSealed(f.Data) {
		if d, err := session.UnmarshalData(f.Data); err != nil || len(d) == 0 {
			return time.Time{}, nil, false
		}
	}
	return time.UnixMilli(*f.ExpiresAt), f.Data, true
}

// decode reads an unsealed session file; ok is false for anything that is
// not one, including a session without data.
func decode(b []byte) (rec session.Record, ok bool) {
	exp, data, ok := decodeFile(b)
	if !ok {
		return session.Record{}, false
	}
	d, err := session.UnmarshalData(data)
	if err != nil || len(d) == 0 {
		return session.Record{}, false
	}
	return session.Record{Data: d, ExpiresAt: exp}, true
}

// hidePath removes file names from err: they hold the session key, a
// bearer credential that must never reach a log. The error's type and
// chain stay intact for errors.Is and errors.As.
func hidePath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: "<session file>", Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &os.LinkError{Op: le.Op, Old: "<temporary file>", New: "<session file>", Err: le.Err}
	}
	return err
}
