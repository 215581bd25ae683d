// Package session is the session model: Django's contrib.sessions semantics
// (lazy creation, modified-only saves, flush, cycle_key, set_expiry) over a
// pluggable Store. It knows nothing of HTTP or Caddy.
package session

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Data is a session's contents. Each value is the JSON text of one value,
// kept verbatim so that numbers keep their exact digits and text its bytes.
type Data map[string]json.RawMessage

// ExpiryKey is the field in which a custom expiry lives, as in Django.
const ExpiryKey = "_session_expiry"

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
	Flush    bool
	Clear    bool
	Delete   []string
	Set      Data
	CycleKey bool
	Expiry   *Expiry
}

// Empty reports whether u asks for no change at all.
func (u *Update) Empty() bool {
	return u == nil || (!u.Flush && !u.Clear && len(u.Delete) == 0 && len(u.Set) == 0 && !u.CycleKey && u.Expiry == nil)
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
}

// Manager loads and commits sessions against one store.
type Manager struct {
	Store  Store
	Config Config
	// Now is the clock; tests replace it to exercise expiry without sleeping.
	Now func() time.Time
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
}

// Key is the stored session's key, or "" when none was found.
func (s *Session) Key() string { return s.key }

// Data is the session's contents; never nil. Callers must not modify it.
func (s *Session) Data() Data { return s.data }

// IsNew reports whether no stored session was found for this request.
func (s *Session) IsNew() bool { return s.key == "" }

// ExpiresAt is when the stored session expires unless modified.
func (s *Session) ExpiresAt() time.Time { return s.expiresAt }

// Load returns the session a request's cookie names. cookie is the cookie
// value, "" when absent. A malformed value, an unknown key and an expired
// session all give a new, empty session; only a store failure is an error.
func (m *Manager) Load(ctx context.Context, cookie string) (*Session, error) {
	s := &Session{CookieKey: cookie, data: Data{}}
	if !ValidKey(cookie) {
		return s, nil
	}
	rec, ok, err := m.Store.Load(ctx, cookie)
	if err != nil {
		return nil, fmt.Errorf("loading session: %w", err)
	}
	if !ok || len(rec.Data) == 0 || !rec.ExpiresAt.After(m.now()) {
		return s, nil
	}
	s.key, s.data, s.expiresAt = cookie, rec.Data, rec.ExpiresAt
	if s.data == nil {
		s.data = Data{}
	}
	return s, nil
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
		if secs, err := n.Int64(); err == nil {
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

// Commit applies u to s and persists the result, following Django's
// SessionMiddleware: nothing is stored until the session holds data, a
// session is saved only when modified (or on every request with
// SaveEveryRequest), and an emptied session is deleted along with its
// cookie. On error nothing of u has been persisted, except that a failure
// after cycling the key may leave the old key alive.
func (m *Manager) Commit(ctx context.Context, s *Session, u *Update) (Result, error) {
	if u == nil {
		u = &Update{}
	}
	now := m.now()
	view := maps.Clone(s.data)
	if view == nil {
		view = Data{}
	}
	oldKey := s.key
	key := s.key
	modified := !u.Empty()
	replace := false
	deleteOld := false

	if u.Flush {
		clear(view)
		deleteOld = oldKey != ""
		key = ""
	}
	if u.Clear {
		clear(view)
		replace = true
	}
	for _, k := range u.Delete {
		delete(view, k)
	}
	maps.Copy(view, u.Set)
	if u.CycleKey && key != "" {
		deleteOld = true
		key = ""
	}
	delta := Change{Mode: ModeUpdate, Set: maps.Clone(u.Set), Delete: slices.Clone(u.Delete)}
	if e := u.Expiry; e != nil {
		if e.Default {
			delete(view, ExpiryKey)
			delete(delta.Set, ExpiryKey)
			delta.Delete = append(delta.Delete, ExpiryKey)
		} else {
			v := expiryValue(e)
			view[ExpiryKey] = v
			if delta.Set == nil {
				delta.Set = Data{}
			}
			delta.Set[ExpiryKey] = v
		}
	}

	// What the response gets when the session ends up empty.
	emptied := Result{}
	if s.CookieKey != "" {
		emptied.Cookie = CookieDelete
	}
	if len(view) == 0 {
		// An emptied session is deleted; with only deletes applied, another
		// request may have added fields meanwhile, so let the store decide.
		if modified && oldKey != "" {
			if deleteOld || replace {
				if err := m.Store.Delete(ctx, oldKey); err != nil {
					return Result{}, fmt.Errorf("deleting session: %w", err)
				}
			} else {
				left, err := m.save(ctx, oldKey, delta)
				if err != nil {
					return Result{}, err
				}
				if left {
					// Fields written concurrently survive: keep the cookie.
					return Result{}, nil
				}
			}
		}
		return emptied, nil
	}
	if !modified && !m.Config.SaveEveryRequest {
		return Result{}, nil
	}

	age, browserClose := m.expiry(view, now)
	expiresAt := now.Add(age)
	switch {
	case key == "":
		newKey, err := m.create(ctx, view, expiresAt)
		if err != nil {
			return Result{}, err
		}
		if deleteOld {
			if err := m.Store.Delete(ctx, oldKey); err != nil {
				return Result{}, fmt.Errorf("deleting old session key: %w", err)
			}
		}
		key = newKey
	case replace:
		if _, err := m.save(ctx, key, Change{Mode: ModeReplace, Set: view, ExpiresAt: expiresAt}); err != nil {
			return Result{}, err
		}
	default:
		delta.ExpiresAt = expiresAt
		left, err := m.save(ctx, key, delta)
		if err != nil {
			return Result{}, err
		}
		if !left {
			return emptied, nil
		}
	}
	return Result{Cookie: CookieSet, Key: key, Age: age, BrowserClose: browserClose}, nil
}

func (m *Manager) save(ctx context.Context, key string, c Change) (bool, error) {
	left, err := m.Store.Save(ctx, key, c)
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
		key := NewKey()
		_, err := m.Store.Save(ctx, key, Change{Mode: ModeCreate, Set: data, ExpiresAt: expiresAt})
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
