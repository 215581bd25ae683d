// Package django reads and writes sessions in Django's own formats, so a
// site can share one login between a Django app and the apps behind the
// module: Django's signing (signing.dumps and signing.loads with the
// SHA-256 TimestampSigner) and SessionBase.encode/decode over it, with the
// pre-3.1 legacy encoding read but never written. Pickled sessions are
// refused, never unpickled.
//
// The reference is Django's own code: django/core/signing.py,
// django/utils/crypto.py and django/contrib/sessions/backends/base.py and
// signed_cookies.py. The tests use a real Django as the oracle.
package django

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// Salts Django signs sessions under.
const (
	// SessionSalt is SessionBase.key_salt, "django.contrib.sessions." plus
	// the class's qualified name. The db, cache, cached_db and file
	// engines, and django-redis-sessions, all name their class
	// SessionStore, so one salt serves them all.
	SessionSalt = "django.contrib.sessions." + SessionClass
	// SignedCookiesSalt is the salt of the signed_cookies engine, whose
	// cookie value is the signed session itself.
	SignedCookiesSalt = "django.contrib.sessions.backends.signed_cookies"
	// LegacySalt is the key salt of the pre-3.1 encoding (SessionBase._hash:
	// "django.contrib.sessions" and the class name, with no dot).
	LegacySalt = "django.contrib.sessions" + SessionClass
	// SessionClass is the class name of every engine's session store.
	SessionClass = "SessionStore"
)

// Codec is Django's SessionBase.encode and decode: the session as compact
// JSON, signed with signing.dumps(salt=Salt, compress=True). It implements
// session.Codec for the stores that share Django's layouts.
type Codec struct {
	// Key is Django's SECRET_KEY: it signs every value and verifies first.
	Key []byte
	// Fallbacks are Django's SECRET_KEY_FALLBACKS: they verify, never sign.
	Fallbacks [][]byte
	// Salt namespaces the signature. Default: SessionSalt. The
	// signed_cookies engine uses SignedCookiesSalt.
	Salt string
	// MaxAge, when positive, refuses values signed longer ago (ErrExpired),
	// as the signed_cookies engine does with SESSION_COOKIE_AGE. Zero, the
	// default, is the stored engines: no age limit from the signature.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c Codec) salt() string {
	if c.Salt == "" {
		return SessionSalt
	}
	return c.Salt
}

func (c Codec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Codec) keys() [][]byte {
	return append([][]byte{c.Key}, c.Fallbacks...)
}

// Encode implements session.Codec: what Django's encode would write for the
// same dict, with the keys sorted.
func (c Codec) Encode(d session.Data) ([]byte, error) {
	if len(c.Key) == 0 {
		return nil, errors.New("encoding session: no signing key")
	}
	b, err := marshalPy(d)
	if err != nil {
		return nil, err
	}
	return []byte(Dumps(b, c.Key, c.salt(), true, c.now())), nil
}

// marshalPy writes d as Django's JSONSerializer would: one compact JSON
// object, ASCII only.
func marshalPy(d session.Data) ([]byte, error) {
	b := make([]byte, 0, session.Size(d)+16)
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(d)) {
		v := d[k]
		if !json.Valid(v) {
			return nil, errors.New("encoding session: a value is not JSON")
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPyString(b, k)
		b = append(b, ':')
		b = appendPyJSON(b, v)
	}
	return append(b, '}'), nil
}

// Decode implements session.Codec as Django's decode does: the signed
// format, and for the stored engines (Salt is SessionSalt) the legacy
// format Django 3.0 and older wrote. Each value is returned as the JSON
// text Django wrote. Every error wraps session.ErrBadValue and one of this
// package's reasons, and holds nothing of the value.
func (c Codec) Decode(b []byte) (session.Data, error) {
	// Base64 of MaxPayload bytes, and a little for the timestamp and
	// signature: anything longer is refused before any work.
	if len(b) > MaxPayload/3*4+256 {
		return nil, fmt.Errorf("%w: %w", session.ErrBadValue, ErrTooLarge)
	}
	// ':' separates the signed format's parts and is not in the legacy
	// format's alphabet, so it tells the two apart without trying both.
	if bytes.IndexByte(b, ':') >= 0 || c.salt() != SessionSalt {
		data, err := LoadsAt(string(b), c.keys(), c.salt(), c.MaxAge, c.now())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", session.ErrBadValue, err)
		}
		d, err := unmarshalPy(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", session.ErrBadValue, err)
		}
		return d, nil
	}
	d, err := c.decodeLegacy(b)
	if err != nil {
		return nil, fmt.Errorf("%w: legacy encoding: %w", session.ErrBadValue, err)
	}
	return d, nil
}

// decodeLegacy reads SessionBase._legacy_encode's format: base64 of the
// hex HMAC-SHA1 of the serialized session, ':', and the serialized session.
// It tries every key, as fallbacks would had Django kept the format.
func (c Codec) decodeLegacy(b []byte) (session.Data, error) {
	// Python's b64decode skips line breaks (Django < 1.6 wrote them).
	b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\n"), nil), []byte("\r"), nil)
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(raw, b)
	if err != nil {
		return nil, ErrMalformed
	}
	raw = raw[:n]
	i := bytes.IndexByte(raw, ':')
	if i < 0 {
		return nil, ErrMalformed
	}
	sum, serialized := raw[:i], raw[i+1:]
	var want [2 * sha1.Size]byte
	ok := false
	for _, key := range c.keys() {
		if len(key) == 0 {
			continue
		}
		hex.Encode(want[:], saltedHMAC(sha1.New, LegacySalt, key, serialized))
		if hmac.Equal(want[:], sum) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, ErrBadSignature
	}
	if len(serialized) > MaxPayload {
		return nil, ErrTooLarge
	}
	return unmarshalPy(serialized)
}

var (
	errNotJSON   = errors.New("not JSON")
	errNotObject = errors.New("not a JSON object")
)

// unmarshalPy reads a serialized session as Django's JSONSerializer does
// (bytes as Latin-1, then JSON), each value verbatim.
func unmarshalPy(b []byte) (session.Data, error) {
	if len(b) > MaxPayload {
		return nil, ErrTooLarge
	}
	// Protocol 2 and later pickles open with PROTO, 0x80: what Django's
	// PickleSerializer wrote. Older protocols are refused as not JSON.
	if len(b) > 0 && b[0] == 0x80 {
		return nil, ErrPickled
	}
	b = latin1ToUTF8(b)
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		if json.Valid(b) {
			return nil, errNotObject
		}
		return nil, errNotJSON
	}
	var d session.Data
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, errNotJSON
	}
	return d, nil
}

var _ session.Codec = Codec{}
