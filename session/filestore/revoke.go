package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// A user's revocation mark is the file .revoked/<hash of the user> in the
// store's directory, holding unix ms: the user's sessions that became
// theirs before it are revoked (session.Revoker). It is raised under a
// lock stripe of its own; a create of a taken session reads it after
// writing the session and its index entry, under the session's lock, and
// undoes the write when the mark is past the session's creation: either
// the revocation's listing, which follows its mark, sees the session, or
// the create sees the mark.
const marksDir = ".revoked"

// Django's layout (DjangoBackend) keeps its marks the same way, in its
// directory beside Django's files, which Django never reads.

func markPath(dir, user string) string {
	return filepath.Join(dir, marksDir, userHash(user))
}

func (s *Store) mark(user string) (time.Time, error) { return readMark(s.dir, user) }

// readMark reads user's mark in dir; none is the zero time.
func readMark(dir, user string) (time.Time, error) {
	b, err := os.ReadFile(markPath(dir, user))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the user's revocation mark: %w", hidePath(err))
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, errors.New("reading the user's revocation mark: malformed")
	}
	return time.UnixMilli(ms), nil
}

// RevokeBefore implements session.Revoker.
func (x *Indexed) RevokeBefore(_ context.Context, user string, before time.Time) error {
	if before.IsZero() {
		before = time.Now().Add(time.Millisecond) // past every stamp already written
	}
	return raiseMark(x.dir, x.stripes, user, before)
}

// raiseMark raises user's mark in dir to before, under a lock stripe of
// its own.
func raiseMark(dir string, st *stripes, user string, before time.Time) error {
	path := markPath(dir, user)
	unlock, err := lockStripe(dir, st, marksDir+"/"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := readMark(dir, user)
	if err != nil || !before.After(cur) {
		return err
	}
	mdir := filepath.Dir(path)
	if err := os.MkdirAll(mdir, 0o700); err != nil {
		return fmt.Errorf("writing the user's revocation mark: %w", hidePath(err))
	}
	if err := writeAtomic(mdir, tmpPrefix+"*", path, []byte(strconv.FormatInt(before.UnixMilli(), 10)+"\n"), time.Time{}); err != nil {
		return fmt.Errorf("writing the user's revocation mark: %w", hidePath(err))
	}
	return nil
}

// since is the creation time of the index entry of user's session about
// to be stored: for a create of the session a take in ctx ended, that
// session's (taken: undoRevoked checks it once written); otherwise now,
// but no earlier than the user's mark.
func (s *Store) since(ctx context.Context, user string, mode session.Mode, now time.Time) (time.Time, bool) {
	if mode == session.ModeCreate {
		if t, ok := session.TakenSince(ctx, user); ok {
			return t, true
		}
	}
	if mark, err := s.mark(user); err == nil && now.Before(mark) {
		return mark, false
	}
	return now, false
}

// undoRevoked removes the session just created under key, and its entry,
// when user's mark is past since. The caller holds the key's lock.
func (s *Store) undoRevoked(user, key string, since time.Time) error {
	mark, err := s.mark(user)
	if err == nil && !since.Before(mark) {
		return nil
	}
	if rerr := removeIfExists(s.path(key)); rerr != nil {
		return errors.Join(err, fmt.Errorf("removing session file: %w", hidePath(rerr)))
	}
	if rerr := s.users().remove(user, key); rerr != nil {
		return errors.Join(err, rerr)
	}
	if err != nil {
		return err
	}
	return session.ErrRevoked
}

// RevokeBefore implements blob.UserIndexBackend (the store above sets the
// zero time).
func (b *DjangoBackend) RevokeBefore(_ context.Context, user string, before time.Time) error {
	return raiseMark(b.dir, b.stripes, user, before)
}

var _ session.Revoker = (*Indexed)(nil)
