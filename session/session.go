// Package session is the session model: Django's contrib.sessions semantics
// (lazy creation, modified-only saves, flush, cycle_key, set_expiry) over a
// pluggable Store. It knows nothing of HTTP or Caddy.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Data is a session's contents. Each value is the JSON text of one value,
// kept verbatim so that numbers keep their exact digits and text its bytes.
type Data map[string]json.RawMessage

// Config is the policy of a Manager.
type Config struct {
	// Age is Django's SESSION_COOKIE_AGE: how long a session lives after
	// its last modification.
	Age time.Duration
	// ExpireAtBrowserClose is SESSION_EXPIRE_AT_BROWSER_CLOSE.
	ExpireAtBrowserClose bool
	// SaveEveryRequest is SESSION_SAVE_EVERY_REQUEST.
	SaveEveryRequest bool
	// MaxSize bounds a session's Size. An update that would exceed it is
	// refused, and a stored session over it is loaded as no session, so
	// that it never locks its user out. 0 means no limit.
	MaxSize int
	// MaxUpdateKeys bounds how many fields one update may set or delete.
	// 0 means no limit.
	MaxUpdateKeys int
	// Policy scopes the upstream: keys it does not see, keys it may not
	// write, whether it may flush, clear or cycle the key.
	Policy Policy
	// IdleTimeout ends a session that no request used for this long,
	// whatever its age (0: off). Django has none.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after it was created,
	// however active (0: off). Django has none.
	AbsoluteTimeout time.Duration
	// UserKey is the field naming a session's user (Django's
	// _auth_user_id), for MaxSessionsPerUser. The store keeps the index.
	UserKey string
	// MaxSessionsPerUser, with a Store that is a UserIndexer, ends the
	// oldest sessions of a user beyond this many whenever a session
	// becomes the user's (a login). 0 means no limit.
	MaxSessionsPerUser int
	// Keys makes and recognises the keys of this manager's sessions (a
	// Realm, so that handlers with different secrets never load each
	// other's sessions on one store). nil: NewKey and ValidKey.
	Keys Keys
}

// Manager loads and commits sessions against one store.
type Manager struct {
	Store  Store
	Config Config
	// Now is the clock; tests replace it to exercise expiry without sleeping.
	Now func() time.Time
	// OnEvict, when set, is told of the sessions (their keys)
	// MaxSessionsPerUser ended after a login, and of a failure to end them
	// (the login stands).
	OnEvict func(ended []string, err error)
	// OnLogout, when set, is told of the sessions (their keys) an
	// update's LogoutOthers or LogoutAll ended.
	OnLogout func(ended []string)
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Session is the state of one request's session.
type Session struct {
	// CookieKey is the key the request's cookie named, valid or not; ""
	// when the request carried no cookie.
	CookieKey string
	key       string
	data      Data
	expiresAt time.Time
	version   []byte // the loaded Record's Version
	// oversize is the size of a stored session that was over MaxSize
	// and so not loaded; 0 otherwise.
	oversize int
	// ended, touch, idleAt and absoluteAt belong to the timeouts.
	ended              string
	touch              bool
	idleAt, absoluteAt time.Time
	// size is Size(data) once known (Load's MaxSize check, or Size).
	size int
}

// Size is Size(s.Data()), computed once.
func (s *Session) Size() int {
	if s.size == 0 {
		s.size = Size(s.data)
	}
	return s.size
}

// Key is the stored session's key, or "" when none was found.
func (s *Session) Key() string { return s.key }

// Data is the session's contents; never nil. Callers must not modify it.
func (s *Session) Data() Data { return s.data }

// Visible is what of s the upstream may see under the Manager's Policy.
// Callers must not modify it.
func (m *Manager) Visible(s *Session) Data { return m.Config.Policy.Visible(s.data) }

// IsNew reports whether no stored session was found for this request.
func (s *Session) IsNew() bool { return s.key == "" }

// ExpiresAt is when the stored session expires unless modified.
func (s *Session) ExpiresAt() time.Time { return s.expiresAt }

// Oversize is the size of the stored session the cookie named when it was
// over Config.MaxSize and so loaded as no session; 0 otherwise. The stored
// session is left as it is: raising the limit brings it back.
func (s *Session) Oversize() int { return s.oversize }

// Load returns the session a request's cookie names. cookie is the cookie
// value, "" when absent. A malformed value, an unknown key and an expired
// session all give a new, empty session; only a store failure is an error.
func (m *Manager) Load(ctx context.Context, cookie string) (*Session, error) {
	return m.load(ctx, cookie, time.Time{})
}

// LoadAt is Load with the clock read by the caller: now decides whether
// the session has expired or timed out, and a LoaderAt store checks its
// expiry at now too, so that a request that reads the clock for its
// own purposes (a load timer, its token) need not have it read again.
// Manager.Now is not consulted.
func (m *Manager) LoadAt(ctx context.Context, cookie string, now time.Time) (*Session, error) {
	return m.load(ctx, cookie, now)
}

// load is Load at now; a zero now is read from the clock when needed
// (only when the store is asked).
func (m *Manager) load(ctx context.Context, cookie string, now time.Time) (*Session, error) {
	s := &Session{CookieKey: cookie}
	if _, minted := m.Store.(Minter); minted {
		if cookie == "" {
			return s.empty(), nil
		}
	} else if !m.ValidKey(cookie) {
		return s.empty(), nil
	}
	if now.IsZero() {
		now = m.now()
	}
	var (
		rec Record
		ok  bool
		err error
	)
	if cl, clocked := m.Store.(LoaderAt); clocked {
		rec, ok, err = cl.LoadAt(ctx, cookie, now)
	} else {
		rec, ok, err = m.Store.Load(ctx, cookie)
	}
	if err != nil {
		return nil, fmt.Errorf("loading session: %w", err)
	}
	if !ok || len(rec.Data) == 0 || !rec.ExpiresAt.After(now) {
		return s.empty(), nil
	}
	if m.timeouts() {
		if s.ended = m.checkTimeouts(s, rec.Data, now); s.ended != "" {
			return s.empty(), nil
		}
	}
	if m.Config.MaxSize > 0 {
		n := rec.Size
		if n == 0 {
			n = Size(rec.Data)
		}
		if n > m.Config.MaxSize {
			s.oversize = n
			return s.empty(), nil
		}
		s.size = n
	}
	s.key, s.data, s.expiresAt, s.version = cookie, rec.Data, rec.ExpiresAt, rec.Version
	return s, nil
}

// empty gives s no data: what Load returns when the cookie names no live
// session.
func (s *Session) empty() *Session {
	s.data = noData
	return s
}

// noData is every new session's data, shared: nothing writes into a
// session's data (Data says so; an update applies to a copy), so the
// requests without a session need not each make an empty map.
var noData = Data{}

// CookieAction says what the response must do with the session cookie.
type CookieAction uint8

const (
	// CookieKeep leaves the cookie alone.
	CookieKeep CookieAction = iota
	// CookieSet sends the cookie with Result's key and age.
	CookieSet
	// CookieDelete expires the cookie.
	CookieDelete
)

// Result is the outcome of Commit.
type Result struct {
	Cookie CookieAction
	// Key is the session key to send (CookieSet).
	Key string
	// Age is the cookie's Max-Age (CookieSet, unless BrowserClose).
	Age time.Duration
	// BrowserClose means the cookie carries no Max-Age or Expires.
	BrowserClose bool
}

// ErrInterrupted is returned by Commit when the session was ended by a
// concurrent request (logout in another tab) before this one saved it:
// Django's SessionInterrupted. Saving would bring the session back.
var ErrInterrupted = errors.New("session was ended by a concurrent request")

// maxCreateAttempts bounds retries on a key collision, which with 165 bits
// of randomness means a broken random source, not bad luck.
const maxCreateAttempts = 5

// IsRead reports whether committing u (nil: no update) to s is a plain
// read: nothing to store and no cookie to change, so Commit returns at
// once without reaching the store.
func (m *Manager) IsRead(s *Session, u *Update) bool {
	if u != nil && !u.Empty() {
		return false
	}
	if s.key == "" && s.CookieKey == "" && len(s.data) == 0 {
		return true // no session, no cookie, no change: nothing to do
	}
	touch := s.touch && s.key != ""
	return !touch && !m.Config.SaveEveryRequest && len(s.data) > 0
}

// Commit applies u to s and persists the result, following Django's
// SessionMiddleware: nothing is stored until the session holds data, a
// session is saved only when modified (or on every request with
// SaveEveryRequest), and an emptied session is deleted along with its
// cookie. An update over a limit is a *LimitError and persists nothing.
//
// Flush and cycle_key end the stored session atomically (Delete and Take):
// when another request ended it first (a logout in another tab, a parallel
// cycle_key), Commit returns ErrInterrupted instead of keeping a live copy
// of the ended session under a new key. Otherwise, on error nothing of u
// has been persisted, except that a store failure between taking the old
// key and storing the new one loses the session (the error says so; the
// old key is restored when the store still answers).
func (m *Manager) Commit(ctx context.Context, s *Session, u *Update) (Result, error) {
	return m.CommitAt(ctx, s, u, time.Time{})
}

// CommitAt is Commit with the clock read by the caller: now dates the
// session's expiry and its timeouts (Manager.Now is not consulted). A zero
// now reads the clock. Logouts and the stores' own stamps read the clock
// afresh: their order against revocation marks needs it.
func (m *Manager) CommitAt(ctx context.Context, s *Session, u *Update, now time.Time) (Result, error) {
	if u == nil {
		u = &Update{}
	}
	if u.LogoutOthers || u.LogoutAll {
		return m.commitLogout(ctx, s, u) // logout.go
	}
	if _, ok := m.Store.(Revoker); ok {
		ctx = TrackTakes(ctx) // revoke.go: a create after a take is checked
	}
	res, err := m.commitAt(ctx, s, u, now)
	if err == nil && m.Config.MaxSessionsPerUser > 0 && res.Cookie == CookieSet {
		m.evict(ctx, s, u, res.Key)
	}
	return res, err
}

func (m *Manager) commit(ctx context.Context, s *Session, u *Update) (Result, error) {
	return m.commitAt(ctx, s, u, time.Time{})
}

func (m *Manager) commitAt(ctx context.Context, s *Session, u *Update, now time.Time) (Result, error) {
	if now.IsZero() {
		now = m.now()
	}
	mt, minted := m.Store.(Minter)
	p, err := m.plan(s, u, now, minted)
	if err != nil {
		return Result{}, err
	}
	return m.execute(ctx, p, mt)
}

// execute carries out p (plan.go): one store operation, or two for a flush
// that starts a new session, and the Result they lead to.
func (m *Manager) execute(ctx context.Context, p plan, mt Minter) (Result, error) {
	switch p.step {
	case stepMint:
		value, err := mt.Mint(ctx, p.view, p.expiresAt)
		if err != nil {
			return Result{}, fmt.Errorf("encoding session cookie: %w", err)
		}
		res := p.done
		res.Key = value
		return res, nil
	case stepFlush:
		existed, err := m.Store.Delete(ctx, p.key)
		if err != nil {
			return Result{}, fmt.Errorf("deleting session: %w", err)
		}
		if !existed {
			return Result{}, ErrInterrupted
		}
		if len(p.view) == 0 {
			return p.emptied, nil
		}
		return m.createResult(ctx, p.view, p.now, p.update.Checked)
	case stepCreate:
		return m.createResult(ctx, p.view, p.now, p.update.Checked)
	case stepCycle:
		return m.cycle(ctx, p.key, p.update, p.now, p.emptied)
	case stepDelete:
		if _, err := m.Store.Delete(ctx, p.key); err != nil {
			return Result{}, fmt.Errorf("deleting session: %w", err)
		}
	case stepSave:
		left, err := m.save(ctx, p.key, p.change)
		if err != nil {
			return Result{}, err
		}
		if !left {
			return p.emptied, nil
		}
	}
	return p.done, nil
}

// cycle is cycle_key: the old key is taken (read and removed in one step),
// so that of a cycle and a logout, or of two cycles, exactly one finds the
// session; the loser is interrupted. The data taken, which includes what
// concurrent requests wrote after this one loaded the session, gets u and
// is stored under a fresh key.
func (m *Manager) cycle(ctx context.Context, oldKey string, u *Update, now time.Time, emptied Result) (Result, error) {
	rec, ok, err := m.Store.Take(ctx, oldKey)
	if err != nil {
		return Result{}, fmt.Errorf("taking session for a new key: %w", err)
	}
	if !ok {
		return Result{}, ErrInterrupted
	}
	data, err := u.apply(rec.Data)
	if err != nil {
		// A counter others changed since this request loaded the session
		// no longer takes the increment: put the session back as it was.
		if _, rerr := m.Store.Save(ctx, oldKey, Change{Mode: ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt}); rerr != nil {
			return Result{}, fmt.Errorf("%w (restoring the old key failed too, the session is lost: %v)", err, rerr)
		}
		return Result{}, err
	}
	if userEmpty(data) {
		return emptied, nil
	}
	res, err := m.createResult(ctx, data, now, u.Checked)
	if err != nil && len(rec.Data) > 0 {
		// Put the old session back, so that a store hiccup does not log
		// the user out; if even that fails, the session is lost.
		if _, rerr := m.Store.Save(ctx, oldKey, Change{Mode: ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt}); rerr != nil {
			return Result{}, fmt.Errorf("%w (restoring the old key failed too, the session is lost: %v)", err, rerr)
		}
	}
	return res, err
}

// createResult stores data under a fresh key and says to send its cookie.
// checked: every value of data is known to be JSON in UTF-8 (Change.Checked).
func (m *Manager) createResult(ctx context.Context, data Data, now time.Time, checked bool) (Result, error) {
	age, browserClose := m.expiry(data, now)
	expiresAt, age := m.clampExpiry(data, now, age)
	key, err := m.create(ctx, data, expiresAt, checked)
	if err != nil {
		return Result{}, err
	}
	return Result{Cookie: CookieSet, Key: key, Age: age, BrowserClose: browserClose}, nil
}

func (m *Manager) save(ctx context.Context, key string, c Change) (bool, error) {
	left, err := m.Store.Save(ctx, key, c)
	if le, ok := errors.AsType[*LimitError](err); ok {
		return false, le // concurrent writes left no room: refused, as over the limit
	}
	if errors.Is(err, ErrGone) {
		return false, ErrInterrupted
	}
	if err != nil {
		return false, fmt.Errorf("saving session: %w", err)
	}
	return left, nil
}

func (m *Manager) create(ctx context.Context, data Data, expiresAt time.Time, checked bool) (string, error) {
	for range maxCreateAttempts {
		key := m.newKey()
		_, err := m.Store.Save(ctx, key, Change{Mode: ModeCreate, Set: data, ExpiresAt: expiresAt, MaxSize: m.Config.MaxSize, Checked: checked})
		if errors.Is(err, ErrKeyExists) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("creating session: %w", err)
		}
		return key, nil
	}
	return "", errors.New("creating session: no unused key found")
}
