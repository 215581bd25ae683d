package django

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// CookieStore is Django's signed_cookies engine: the session is the cookie
// value, signing.dumps(session, compress=True, salt=SignedCookiesSalt) with
// Django's key, and its signature is refused once older than the session
// age (Codec.MaxAge), as Django refuses it. Nothing is kept on the server:
// the session is not encrypted (anyone holding the cookie reads it) and
// cannot be revoked before it expires; a logout only asks the browser to
// drop the cookie.
type CookieStore struct {
	// Codec signs and verifies; its Salt should be SignedCookiesSalt and
	// its MaxAge the session age.
	Codec Codec
}

var _ session.Minter = (*CookieStore)(nil)

// errStateless answers the Store methods a Minter never gets called with.
var errStateless = errors.New("signed cookies keep no session on the server")

// Load decodes the cookie value. A value that does not verify (tampered,
// signed with another key, or older than the age) is no session, as in
// Django; that is the browser's cookie, not stored data, so it is not
// reported as a security event.
func (c *CookieStore) Load(_ context.Context, cookie string) (session.Record, bool, error) {
	data, err := c.Codec.Decode([]byte(cookie))
	if err != nil || len(data) == 0 {
		return session.Record{}, false, nil
	}
	signed, ok := signedAt(cookie)
	if !ok {
		return session.Record{}, false, nil
	}
	age := c.Codec.MaxAge
	if age <= 0 {
		age = 14 * 24 * time.Hour
	}
	return session.Record{Data: data, ExpiresAt: signed.Add(age)}, true, nil
}

// Mint signs data into a cookie value.
func (c *CookieStore) Mint(_ context.Context, data session.Data, _ time.Time) (string, error) {
	b, err := c.Codec.Encode(data)
	return string(b), err
}

// Save is never called for a Minter.
func (c *CookieStore) Save(context.Context, string, session.Change) (bool, error) {
	return false, errStateless
}

// Take is never called for a Minter.
func (c *CookieStore) Take(context.Context, string) (session.Record, bool, error) {
	return session.Record{}, false, errStateless
}

// Delete is never called for a Minter.
func (c *CookieStore) Delete(context.Context, string) (bool, error) {
	return false, errStateless
}

// signedAt reads the timestamp of a signed value "payload:ts:sig".
func signedAt(s string) (time.Time, bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return time.Time{}, false
	}
	value := s[:i]
	j := strings.LastIndexByte(value, ':')
	if j < 0 {
		return time.Time{}, false
	}
	ts, ok := parseBase62(value[j+1:])
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(ts, 0), true
}
