// Package session is the session model: Django's contrib.sessions semantics
// (lazy creation, modified-only saves, flush, cycle_key, set_expiry) over a
// pluggable Store. It knows nothing of HTTP or Caddy.
package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

// Data is a session's contents. Each value is the JSON text of one value,
// kept verbatim so that numbers keep their exact digits and text its bytes.
type Data map[string]json.RawMessage

// ExpiryKey is the field in which a custom expiry lives, as in Django.
const ExpiryKey = "_session_expiry"

// MaxExpirySeconds is the largest expiry in seconds, the most a
// time.Duration holds (about 292 years). A larger value is refused in an
// update and ignored in a stored session, never wrapped around.
const MaxExpirySeconds = math.MaxInt64 / int64(time.Second)

// ValidExpiryValue reports whether v is a value Django's set_expiry could
// have stored under ExpiryKey: integer seconds from 0 (browser close) to
// MaxExpirySeconds, or a time as a string. It gives the reason otherwise.
func ValidExpiryValue(v json.RawMessage) (string, bool) {
	const want = "must be integer seconds from 0 or a time string"
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return want, false
	}
	switch {
	case v[0] == '"':
		var str string
		if json.Unmarshal(v, &str) != nil {
			return want, false
		}
		if t, err := ParseTime(str); err != nil || t.IsZero() {
			return "not a valid time", false
		}
		return "", true
	case v[0] == '-':
		return "must not be negative", false
	case v[0] >= '0' && v[0] <= '9':
		for _, c := range v {
			if c < '0' || c > '9' {
				return want, false
			}
		}
		secs, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || secs > MaxExpirySeconds {
			return "seconds out of range", false
		}
		return "", true
	}
	return want, false
}

// KeyLength is the length of a session key.
const KeyLength = 32

const keyChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewKey returns a fresh session key: 32 characters from [a-z0-9], drawn
// from crypto/rand without modulo bias.
func NewKey() string {
	var out [KeyLength]byte
	var buf [64]byte
	n := 0
	for n < KeyLength {
		_, _ = rand.Read(buf[:]) // never fails (Go 1.24+)
		for _, b := range buf {
			if b >= 252 { // 252 = 7*36: reject to stay uniform
				continue
			}
			out[n] = keyChars[b%36]
			n++
			if n == KeyLength {
				break
			}
		}
	}
	return string(out[:])
}

// ValidKey reports whether s has the form of a session key. Anything else
// from a cookie is treated as no session at all.
func ValidKey(s string) bool {
	if len(s) != KeyLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Expiry is the argument of Django's set_expiry.
type Expiry struct {
	// Default removes a custom expiry (set_expiry(None)).
	Default bool
	// At, when not zero, makes the session expire at that time.
	At time.Time
	// Seconds is the inactivity age; 0 means "at browser close".
	Seconds int64
}

// Update is the set of changes an upstream asked for in one response,
// applied in Django's order: flush, clear, delete, set, cycle key, expiry.
type Update struct {
	Flush  bool
	Clear  bool
	Delete []string
	Set    Data
	// Incr adds an integer to each field, after Set: atomically in the
	// store, against the value stored when the write happens, so that
	// concurrent increments all count. A field that is not stored counts
	// as 0.
	Incr     map[string]int64
	CycleKey bool
	Expiry   *Expiry
	// LogoutOthers and LogoutAll end the user's other sessions, or all of
	// them, after the rest (logout.go).
	LogoutOthers, LogoutAll bool
}

// Empty reports whether u asks for no change at all.
func (u *Update) Empty() bool {
	return u == nil || (!u.Flush && !u.Clear && len(u.Delete) == 0 && len(u.Set) == 0 && len(u.Incr) == 0 && !u.CycleKey && u.Expiry == nil && !u.LogoutOthers && !u.LogoutAll)
}

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
	s := &Session{CookieKey: cookie, data: Data{}}
	if _, minted := m.Store.(Minter); minted {
		if cookie == "" {
			return s, nil
		}
	} else if !m.ValidKey(cookie) {
		return s, nil
	}
	rec, ok, err := m.Store.Load(ctx, cookie)
	if err != nil {
		return nil, fmt.Errorf("loading session: %w", err)
	}
	now := m.now()
	if !ok || len(rec.Data) == 0 || !rec.ExpiresAt.After(now) {
		return s, nil
	}
	if m.timeouts() {
		if s.ended = m.checkTimeouts(s, rec.Data, now); s.ended != "" {
			return s, nil
		}
	}
	if m.Config.MaxSize > 0 {
		if n := Size(rec.Data); n > m.Config.MaxSize {
			s.oversize = n
			return s, nil
		}
	}
	s.key, s.data, s.expiresAt, s.version = cookie, rec.Data, rec.ExpiresAt, rec.Version
	if s.data == nil {
		s.data = Data{}
	}
	return s, nil
}

// ExpiryAge is Django's get_expiry_age for data d modified now: the custom
// expiry in d when it holds a valid one, otherwise the configured age.
func (m *Manager) ExpiryAge(d Data) time.Duration {
	age, _ := m.expiry(d, m.now())
	return age
}

// BrowserClose reports whether the session's cookie should expire when the
// browser closes (Django's get_expire_at_browser_close).
func (m *Manager) BrowserClose(d Data) bool {
	_, browserClose := m.expiry(d, m.now())
	return browserClose
}

// expiry is Django's get_expiry_age and get_expire_at_browser_close for
// data d, modified at now.
func (m *Manager) expiry(d Data, now time.Time) (age time.Duration, browserClose bool) {
	raw, ok := d[ExpiryKey]
	if !ok {
		return m.Config.Age, m.Config.ExpireAtBrowserClose
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if secs, err := n.Int64(); err == nil && secs >= 0 && secs <= MaxExpirySeconds {
			if secs == 0 {
				return m.Config.Age, true
			}
			return time.Duration(secs) * time.Second, false
		}
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if t, err := ParseTime(str); err == nil {
			return t.Sub(now), false
		}
	}
	// Not a value Django would write: fall back to the configured policy.
	return m.Config.Age, m.Config.ExpireAtBrowserClose
}

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
	if u == nil {
		u = &Update{}
	}
	if u.LogoutOthers || u.LogoutAll {
		return m.commitLogout(ctx, s, u) // logout.go
	}
	if _, ok := m.Store.(Revoker); ok {
		ctx = TrackTakes(ctx) // revoke.go: a create after a take is checked
	}
	res, err := m.commit(ctx, s, u)
	if err == nil && m.Config.MaxSessionsPerUser > 0 && res.Cookie == CookieSet {
		m.evict(ctx, s, u, res.Key)
	}
	return res, err
}

func (m *Manager) commit(ctx context.Context, s *Session, u *Update) (Result, error) {
	mt, minted := m.Store.(Minter)
	p, err := m.plan(s, u, m.now(), minted)
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
		return m.createResult(ctx, p.view, p.now)
	case stepCreate:
		return m.createResult(ctx, p.view, p.now)
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
	res, err := m.createResult(ctx, data, now)
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
func (m *Manager) createResult(ctx context.Context, data Data, now time.Time) (Result, error) {
	age, browserClose := m.expiry(data, now)
	expiresAt, age := m.clampExpiry(data, now, age)
	key, err := m.create(ctx, data, expiresAt)
	if err != nil {
		return Result{}, err
	}
	return Result{Cookie: CookieSet, Key: key, Age: age, BrowserClose: browserClose}, nil
}

// apply returns d with u applied in Django's order (flush, clear, delete,
// set, then increments, then expiry); d itself is not modified. An
// increment that cannot apply is an *IncrError.
func (u *Update) apply(d Data) (Data, error) {
	view := Data{}
	if !u.Flush && !u.Clear {
		view = maps.Clone(d)
		if view == nil {
			view = Data{}
		}
	}
	for _, k := range u.Delete {
		delete(view, k)
	}
	maps.Copy(view, u.Set)
	if err := addCounters(view, u.Incr); err != nil {
		return nil, err
	}
	if e := u.Expiry; e != nil {
		if e.Default {
			delete(view, ExpiryKey)
		} else {
			view[ExpiryKey] = expiryValue(e)
		}
	}
	return view, nil
}

// deltaFrom is delta for the session s was loaded as: its Base is the
// loaded record's Version.
func (u *Update) deltaFrom(s *Session) Change {
	c := u.delta()
	c.Base = s.version
	return c
}

// delta is u as a ModeUpdate change: its deletes, then its sets, then its
// increments, with the expiry as a set or delete of ExpiryKey. An
// increment of a field this update sets or deletes is folded into the set
// (the value it sets, or 0, plus the delta), so that the store increments
// only fields the update leaves as they are stored; apply has checked that
// such a sum is a counter.
func (u *Update) delta() Change {
	c := Change{Mode: ModeUpdate, Set: maps.Clone(u.Set), Delete: slices.Clone(u.Delete)}
	for k, d := range u.Incr {
		base, set := u.Set[k]
		if !set && !slices.Contains(u.Delete, k) {
			if c.Incr == nil {
				c.Incr = make(map[string]int64, len(u.Incr))
			}
			c.Incr[k] = d
			continue
		}
		v, err := AddCounter(base, d)
		if err != nil {
			continue // apply refused the update already
		}
		if c.Set == nil {
			c.Set = Data{}
		}
		c.Set[k] = v
		c.Delete = slices.DeleteFunc(c.Delete, func(x string) bool { return x == k })
	}
	if e := u.Expiry; e != nil {
		if e.Default {
			delete(c.Set, ExpiryKey)
			c.Delete = append(c.Delete, ExpiryKey)
		} else {
			if c.Set == nil {
				c.Set = Data{}
			}
			c.Set[ExpiryKey] = expiryValue(e)
		}
	}
	return c
}

// LimitError is an update refused because the session or the update would
// exceed a configured limit. It carries sizes, never data.
type LimitError struct {
	What  string // "session size" or "keys in one update"
	Size  int
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s %d is over the limit of %d", e.What, e.Size, e.Limit)
}

func (m *Manager) checkUpdate(u *Update) error {
	if max := m.Config.MaxUpdateKeys; max > 0 {
		if n := len(u.Set) + len(u.Delete) + len(u.Incr); n > max {
			return &LimitError{What: "keys in one update", Size: n, Limit: max}
		}
	}
	return nil
}

func (m *Manager) checkSize(d Data) error {
	if max := m.Config.MaxSize; max > 0 {
		if n := Size(d); n > max {
			return &LimitError{What: "session size", Size: n, Limit: max}
		}
	}
	return nil
}

// Size is the length in bytes of d as one JSON object, with every value
// verbatim: what the session adds to the token before base64.
func Size(d Data) int {
	n := 2 // {}
	for k, v := range d {
		n += quotedLen(k) + 1 + len(v) + 1 // "k":v,
	}
	if len(d) > 0 {
		n-- // no comma after the last
	}
	return n
}

// quotedLen is the length of s as a JSON string, escapes included.
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
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

func (m *Manager) create(ctx context.Context, data Data, expiresAt time.Time) (string, error) {
	for range maxCreateAttempts {
		key := m.newKey()
		_, err := m.Store.Save(ctx, key, Change{Mode: ModeCreate, Set: data, ExpiresAt: expiresAt, MaxSize: m.Config.MaxSize})
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

// expiryValue is the JSON Django's set_expiry stores for e.
func expiryValue(e *Expiry) json.RawMessage {
	if !e.At.IsZero() {
		b, _ := json.Marshal(FormatTime(e.At))
		return b
	}
	return json.RawMessage(fmt.Sprint(e.Seconds))
}

// FormatTime formats t as Python's datetime.isoformat() does, which is how
// Django stores a custom expiry time.
func FormatTime(t time.Time) string {
	if t.Nanosecond()/1000 != 0 {
		return t.Format("2006-01-02T15:04:05.000000-07:00")
	}
	return t.Format("2006-01-02T15:04:05-07:00")
}

// ParseTime reads a time written by FormatTime, by Python's isoformat, or
// as RFC 3339.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO 8601 time: %q", s)
}
