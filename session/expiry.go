package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

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

// ExpiryAge is Django's get_expiry_age for data d modified now: the custom
// expiry in d when it holds a valid one, otherwise the configured age.
func (m *Manager) ExpiryAge(d Data) time.Duration {
	age, _ := m.expiry(d, m.now())
	return age
}

// BrowserClose reports whether the session's cookie should expire when the
// browser closes (Django's get_expire_at_browser_close). It reads no
// clock: only the age of an expiry time depends on now, never whether the
// cookie ends with the browser (the token asks on every request).
func (m *Manager) BrowserClose(d Data) bool {
	_, browserClose := m.expiry(d, time.Time{})
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
