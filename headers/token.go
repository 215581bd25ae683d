package headers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-session/caddy-session/session"
)

// MinSecretLen is the shortest secret NewSigner accepts, in bytes.
const MinSecretLen = 32

// sidContext separates session ids from every other use of the secret.
const sidContext = "caddy-session sid\x00"

// Claims is what the upstream learns about the request's session.
type Claims struct {
	// Data is the session; nil is sent as {}.
	Data session.Data
	// New is true when no stored session was found for the request.
	New bool
	// HasSession adds the claims below; without it they are left out.
	HasSession bool
	// SID is the session's opaque id, from Signer.SID.
	SID string
	// ExpiresAt is when the session expires unless modified.
	ExpiresAt time.Time
	// BrowserClose is true when the cookie expires with the browser.
	BrowserClose bool
	// IdleExpiresAt and AbsoluteExpiresAt, when not zero, are the
	// server-side timeouts' deadlines (idle_expires_at, absolute_expires_at).
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	// StoreError marks a request served without its session because the
	// store could not be reached (on_store_error pass): store_error true.
	StoreError bool
}

// Signer makes the request header's token: a compact HS256 JWT. It is safe
// for concurrent use.
type Signer struct {
	key  []byte
	ttl  int64
	head []byte // base64url JOSE header and '.'
	sid  hash.Hash
	// mac is HMAC-SHA256 keyed with the secret, its key schedule done once;
	// each signature clones it. Its output is what jwt's HS256 computes.
	mac hash.Hash
}

// NewSigner returns a Signer for secret (at least MinSecretLen bytes) whose
// tokens live ttl, a whole number of seconds of at least one.
func NewSigner(secret []byte, ttl time.Duration) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("secret: must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	if ttl < time.Second || ttl%time.Second != 0 {
		return nil, fmt.Errorf("token ttl: must be a whole number of seconds, at least 1s, got %s", ttl)
	}
	key := slices.Clone(secret)
	t := jwt.New(jwt.SigningMethodHS256)
	h, err := json.Marshal(t.Header)
	if err != nil {
		return nil, err
	}
	head := base64.RawURLEncoding.AppendEncode(nil, h)
	sid := hmac.New(sha256.New, key)
	sid.Write([]byte(sidContext))
	return &Signer{
		key:  key,
		ttl:  int64(ttl / time.Second),
		head: append(head, '.'),
		sid:  sid,
		mac:  hmac.New(sha256.New, key),
	}, nil
}

// SID is the opaque id of the session stored under key: base64url, without
// padding, of the first 16 bytes of HMAC-SHA256(secret, sidContext+key). It
// is stable for a key and reveals nothing of it.
func (s *Signer) SID(key string) string {
	var h hash.Hash
	if c, ok := s.sid.(hash.Cloner); ok {
		if cl, err := c.Clone(); err == nil {
			h = cl
		}
	}
	if h == nil {
		h = hmac.New(sha256.New, s.key)
		h.Write([]byte(sidContext))
	}
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:16])
}

// Sign returns the token for c issued at now: claims data, iat, exp (iat
// plus the ttl), new, and with HasSession sid, expires_at (unix seconds)
// and browser_close. Session values are embedded verbatim, so numbers keep
// their digits; a value that is not valid JSON in UTF-8 is an error.
func (s *Signer) Sign(c Claims, now time.Time) (string, error) {
	if c.HasSession && (c.SID == "" || c.ExpiresAt.IsZero()) {
		return "", errors.New("session token: a session needs a SID and an ExpiresAt")
	}
	size := 120 + len(c.SID)
	for k, v := range c.Data {
		size += len(k) + len(v) + 8
	}
	p := make([]byte, 0, size)
	p = append(p, `{"data":{`...)
	for i, k := range slices.Sorted(maps.Keys(c.Data)) {
		v := c.Data[k]
		if !utf8.Valid(v) || !json.Valid(v) {
			return "", errors.New("session token: a session value is not valid JSON")
		}
		if i > 0 {
			p = append(p, ',')
		}
		p = appendString(p, k)
		p = append(p, ':')
		p = append(p, v...)
	}
	iat := now.Unix()
	p = append(p, `},"iat":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, iat+s.ttl, 10)
	p = append(p, `,"new":`...)
	p = strconv.AppendBool(p, c.New)
	if c.StoreError {
		p = append(p, `,"store_error":true`...)
	}
	if c.HasSession {
		p = append(p, `,"sid":`...)
		p = appendString(p, c.SID)
		p = append(p, `,"expires_at":`...)
		p = strconv.AppendInt(p, c.ExpiresAt.Unix(), 10)
		p = append(p, `,"browser_close":`...)
		p = strconv.AppendBool(p, c.BrowserClose)
		if !c.IdleExpiresAt.IsZero() {
			p = append(p, `,"idle_expires_at":`...)
			p = strconv.AppendInt(p, c.IdleExpiresAt.Unix(), 10)
		}
		if !c.AbsoluteExpiresAt.IsZero() {
			p = append(p, `,"absolute_expires_at":`...)
			p = strconv.AppendInt(p, c.AbsoluteExpiresAt.Unix(), 10)
		}
	}
	p = append(p, '}')

	enc := base64.RawURLEncoding
	n := len(s.head) + enc.EncodedLen(len(p))
	tok := make([]byte, 0, n+1+enc.EncodedLen(sha256.Size))
	tok = append(tok, s.head...)
	tok = enc.AppendEncode(tok, p)
	mac := s.keyedMAC()
	mac.Write(tok)
	var sum [sha256.Size]byte
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, mac.Sum(sum[:0]))
	return string(tok), nil
}

// keyedMAC returns a fresh HMAC-SHA256 with the secret, cloned from the one
// keyed at NewSigner (falling back to keying a new one).
func (s *Signer) keyedMAC() hash.Hash {
	if c, ok := s.mac.(hash.Cloner); ok {
		if h, err := c.Clone(); err == nil {
			return h
		}
	}
	return hmac.New(sha256.New, s.key)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
