package session

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Revocation ("log out everywhere", and the evictions of
// MaxSessionsPerUser) must not lose to a session in flight: cycle_key and
// flush take the old key and store the data under a new one, two steps
// apart, and a revocation that lists the user's sessions between them sees
// neither key. So a Revoker keeps, per user, a mark: sessions that became
// the user's before it are revoked. A revocation sets the mark before it
// lists; the create that follows a take carries the time the taken session
// became its user's and is refused, in the store's atomic step, when that
// time is before the mark; and it keeps that time, so that a session moved
// by cycle_key stays as old as its login.

// Revoker is a UserIndexer that can revoke a user's sessions for good.
type Revoker interface {
	UserIndexer
	// RevokeBefore raises user's mark to before (it never lowers it); the
	// zero time means now, in the store's own clock, so that every session
	// already the user's is before it. From then on the store refuses with
	// ErrRevoked a ModeCreate of the user's session in a context where
	// Take or Delete noted (NoteTaken) that session as the user's since a
	// time before the mark, and stamps every session that becomes the
	// user's otherwise no earlier than the mark. It does not delete
	// anything: the caller deletes what it lists afterwards.
	RevokeBefore(ctx context.Context, user string, before time.Time) error
}

// ErrRevoked is returned by a Revoker's Save when the session it would
// store belongs to a user whose sessions were revoked while the request
// ran: it is ErrInterrupted (the response is 400, nothing is stored).
var ErrRevoked = fmt.Errorf("%w: the user's sessions were revoked", ErrInterrupted)

// takenKey is the context key of a commit's taken session.
type takenKey struct{}

// taken is what the Take or Delete of a commit found: the user of the
// session it ended, and since when the session was theirs.
type taken struct {
	mu    sync.Mutex
	user  string
	since time.Time
	ok    bool
}

// TrackTakes returns a context in which a Revoker's Take and Delete note
// the session they end (NoteTaken), for the ModeCreate that follows in the
// same context to check and keep (TakenSince). Manager.Commit runs in one.
func TrackTakes(ctx context.Context) context.Context {
	if _, ok := ctx.Value(takenKey{}).(*taken); ok {
		return ctx
	}
	return context.WithValue(ctx, takenKey{}, &taken{})
}

// TracksTakes reports whether ctx is one from TrackTakes: a store that
// must read something extra to note a take (NoteTaken) reads it only then.
func TracksTakes(ctx context.Context) bool {
	_, ok := ctx.Value(takenKey{}).(*taken)
	return ok
}

// NoteTaken records, in a context from TrackTakes, that the session a
// Take or Delete just ended was user's since since. Elsewhere it does
// nothing.
func NoteTaken(ctx context.Context, user string, since time.Time) {
	t, ok := ctx.Value(takenKey{}).(*taken)
	if !ok {
		return
	}
	t.mu.Lock()
	t.user, t.since, t.ok = user, since, true
	t.mu.Unlock()
}

// TakenSince reports since when the session taken in ctx was user's, when
// a Take or Delete in ctx ended a session of user.
func TakenSince(ctx context.Context, user string) (time.Time, bool) {
	t, ok := ctx.Value(takenKey{}).(*taken)
	if !ok {
		return time.Time{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ok || t.user != user {
		return time.Time{}, false
	}
	return t.since, true
}
