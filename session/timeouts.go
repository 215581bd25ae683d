package session

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"
)

// The fields in which the server-side timeouts keep their times, in unix
// seconds, beside Django's own _session_expiry. They exist only while
// idle_timeout or absolute_timeout is configured, and only the Manager
// writes them (reserved.go): no update of an upstream changes them, on
// any handler, so an app cannot extend a session past its limits.
const (
	// CreatedKey holds when the session was created (absolute timeout). A
	// cycle_key keeps it; a flush starts a new session and a new time.
	CreatedKey = "_session_created"
	// AccessedKey holds when a request last used the session (idle
	// timeout).
	AccessedKey = "_session_accessed"
)

// Ended says why a session the cookie named was not loaded although it was
// stored: "" (it was, or there was none), "idle" or "absolute".
func (s *Session) Ended() string { return s.ended }

// IdleExpiresAt is when the session ends unless used again; zero without
// an idle timeout.
func (s *Session) IdleExpiresAt() time.Time { return s.idleAt }

// AbsoluteExpiresAt is when the session ends whatever happens; zero
// without an absolute timeout.
func (s *Session) AbsoluteExpiresAt() time.Time { return s.absoluteAt }

func (m *Manager) timeouts() bool {
	return m.Config.IdleTimeout > 0 || m.Config.AbsoluteTimeout > 0
}

// unixField reads a unix-seconds field of d.
func unixField(d Data, k string) (time.Time, bool) {
	v, ok := d[k]
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// limits returns the idle and absolute deadlines of data d as stored; a
// session stored before a timeout was configured counts from now.
func (m *Manager) limits(d Data, now time.Time) (idleAt, absoluteAt time.Time) {
	if t := m.Config.IdleTimeout; t > 0 {
		accessed, ok := unixField(d, AccessedKey)
		if !ok {
			accessed = now
		}
		idleAt = accessed.Add(t)
	}
	if t := m.Config.AbsoluteTimeout; t > 0 {
		created, ok := unixField(d, CreatedKey)
		if !ok {
			created = now
		}
		absoluteAt = created.Add(t)
	}
	return idleAt, absoluteAt
}

// checkTimeouts is Load's part: it reports why a stored session has timed
// out at now, and whether it should be touched (its access time is older
// than a tenth of the idle timeout, or a field is missing).
func (m *Manager) checkTimeouts(s *Session, d Data, now time.Time) (ended string) {
	idleAt, absoluteAt := m.limits(d, now)
	switch {
	case !absoluteAt.IsZero() && !absoluteAt.After(now):
		return "absolute"
	case !idleAt.IsZero() && !idleAt.After(now):
		return "idle"
	}
	s.idleAt, s.absoluteAt = idleAt, absoluteAt
	if t := m.Config.IdleTimeout; t > 0 {
		accessed, ok := unixField(d, AccessedKey)
		s.touch = !ok || now.Sub(accessed) >= t/10
	}
	if m.Config.AbsoluteTimeout > 0 {
		if _, ok := unixField(d, CreatedKey); !ok {
			s.touch = true
		}
	}
	return ""
}

// stamp returns u with the timeout fields written by the Manager (the
// upstream's own writes to them are gone already: reserve): the access
// time set to now, the creation time kept (or now, for a new session or
// after a flush).
func (m *Manager) stamp(s *Session, u *Update, now time.Time) *Update {
	if !m.timeouts() {
		return u
	}
	out := *u
	out.Set = maps.Clone(u.Set)
	if out.Set == nil {
		out.Set = Data{}
	}
	nowJSON := json.RawMessage(strconv.FormatInt(now.Unix(), 10))
	if m.Config.IdleTimeout > 0 {
		out.Set[AccessedKey] = nowJSON
	}
	if m.Config.AbsoluteTimeout > 0 {
		created, ok := s.data[CreatedKey]
		if !ok || u.Flush || s.key == "" {
			created = nowJSON
		}
		out.Set[CreatedKey] = created
	}
	return &out
}

// clampExpiry bounds a store expiry and a cookie age computed for data d at
// now by the timeouts: the store forgets the session when it times out, and
// the cookie ends no later than the absolute timeout (not the idle one: the
// cookie is not resent on every request).
func (m *Manager) clampExpiry(d Data, now time.Time, age time.Duration) (time.Time, time.Duration) {
	expiresAt := now.Add(age)
	if !m.timeouts() {
		return expiresAt, age
	}
	idleAt, absoluteAt := m.limits(d, now)
	if !idleAt.IsZero() && idleAt.Before(expiresAt) {
		expiresAt = idleAt
	}
	if !absoluteAt.IsZero() && absoluteAt.Before(expiresAt) {
		expiresAt = absoluteAt
		age = absoluteAt.Sub(now)
	}
	return expiresAt, age
}

// userEmpty reports whether d holds nothing but the timeout fields.
func userEmpty(d Data) bool {
	for k := range d {
		if k != CreatedKey && k != AccessedKey {
			return false
		}
	}
	return true
}

// withStampDeletes returns u deleting the timeout fields as well.
func withStampDeletes(u *Update) *Update {
	out := *u
	out.Delete = append(slices.Clone(u.Delete), CreatedKey, AccessedKey)
	return &out
}
