package headers

import (
	"crypto/ed25519"
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
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

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
	// Checked says that every value of Data is known to be valid JSON in
	// UTF-8, because the store checked it when it was written
	// (session.CheckedStore): Sign does not check it again. Without it,
	// Sign refuses a value that is not, so that nothing a store holds can
	// add claims to the token.
	Checked bool
}

// Signer makes the request header's token: a compact JWT, HS256 keyed
// with the secret or, with SignerOptions.SigningKey, EdDSA (Ed25519). It is
// safe for concurrent use.
type Signer struct {
	key  []byte
	ttl  int64
	head []byte // base64url JOSE header and '.'
	// scratch holds *signScratch: HMAC-SHA256s keyed with the secret (the
	// token's, and the sid's) and the buffers of one signature, reset and
	// reused across requests instead of made for each.
	scratch sync.Pool
	// ed signs instead of mac when set (EdDSA).
	ed ed25519.PrivateKey
	// aud is the `,"aud":"..."` member, or empty.
	aud  []byte
	jwks []byte
	// reuse holds the tokens Token issued recently (reuse.go).
	reuse *reuseTable
}

// SignerOptions are a Signer's optional settings.
type SignerOptions struct {
	// SigningKey makes the tokens EdDSA, signed with this Ed25519 key, their
	// header's kid its public key's RFC 7638 thumbprint. The secret still
	// keys the sid, so that the sid never reveals the cookie.
	SigningKey ed25519.PrivateKey
	// PreviousKeys are former signing keys' public halves, published in the
	// JWKS beside the current one so that tokens they signed still verify
	// during a rotation. They sign nothing. EdDSA only.
	PreviousKeys []ed25519.PublicKey
	// Audience, when set, is the token's aud claim.
	Audience string
}

// NewSigner returns an HS256 Signer for secret (at least MinSecretLen
// bytes) whose tokens live ttl, a whole number of seconds of at least one.
func NewSigner(secret []byte, ttl time.Duration) (*Signer, error) {
	return NewSignerWith(secret, ttl, SignerOptions{})
}

// NewSignerWith is NewSigner with options: EdDSA and the aud claim.
func NewSignerWith(secret []byte, ttl time.Duration, o SignerOptions) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("secret: must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	if ttl < time.Second || ttl%time.Second != 0 {
		return nil, fmt.Errorf("token ttl: must be a whole number of seconds, at least 1s, got %s", ttl)
	}
	if o.SigningKey == nil && len(o.PreviousKeys) > 0 {
		return nil, errors.New("previous keys: only with an EdDSA signing key")
	}
	if o.SigningKey != nil && len(o.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("signing key: an Ed25519 private key is %d bytes, got %d", ed25519.PrivateKeySize, len(o.SigningKey))
	}
	for _, p := range o.PreviousKeys {
		if len(p) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("previous keys: an Ed25519 public key is %d bytes, got %d", ed25519.PublicKeySize, len(p))
		}
	}
	key := slices.Clone(secret)
	var h []byte
	var err error
	if o.SigningKey == nil {
		h, err = json.Marshal(jwt.New(jwt.SigningMethodHS256).Header)
	} else {
		pub := o.SigningKey.Public().(ed25519.PublicKey)
		h, err = json.Marshal(map[string]string{"alg": AlgEdDSA, "kid": Thumbprint(pub), "typ": "JWT"})
	}
	if err != nil {
		return nil, err
	}
	head := base64.RawURLEncoding.AppendEncode(nil, h)
	s := &Signer{
		key:   key,
		ttl:   int64(ttl / time.Second),
		head:  append(head, '.'),
		reuse: newReuseTable(),
	}
	s.scratch.New = func() any {
		return &signScratch{mac: hmac.New(sha256.New, key), sid: hmac.New(sha256.New, key)}
	}
	if o.SigningKey != nil {
		s.ed = slices.Clone(o.SigningKey)
		s.jwks = JWKS(append([]ed25519.PublicKey{s.ed.Public().(ed25519.PublicKey)}, o.PreviousKeys...)...)
	}
	if o.Audience != "" {
		s.aud = appendString([]byte(`,"aud":`), o.Audience)
	}
	return s, nil
}

// Alg is the tokens' algorithm: AlgHS256 or AlgEdDSA.
func (s *Signer) Alg() string {
	if s.ed != nil {
		return AlgEdDSA
	}
	return AlgHS256
}

// KeyID is the current signing key's kid (its RFC 7638 thumbprint), or ""
// with HS256.
func (s *Signer) KeyID() string {
	if s.ed == nil {
		return ""
	}
	return Thumbprint(s.ed.Public().(ed25519.PublicKey))
}

// JWKS is the JSON Web Key Set apps verify EdDSA tokens with: the current
// public key, then the previous ones. Nil with HS256, which has nothing
// public.
func (s *Signer) JWKS() []byte { return s.jwks }

// SID is the opaque id of the session stored under key: base64url, without
// padding, of the first 16 bytes of HMAC-SHA256(secret, sidContext+key). It
// is stable for a key and reveals nothing of it.
func (s *Signer) SID(key string) string {
	sc := s.scratch.Get().(*signScratch)
	defer s.scratch.Put(sc)
	sc.p = append(append(sc.p[:0], sidContext...), key...)
	sc.sid.Write(sc.p)
	sc.sum = sc.sid.Sum(sc.sum[:0])
	sc.sid.Reset()
	return base64.RawURLEncoding.EncodeToString(sc.sum[:16])
}

// signScratch is what one signature or sid needs besides its result.
type signScratch struct {
	mac, sid hash.Hash // HMAC-SHA256 keyed with the secret, reset after use
	// q is the payload without its times, p the whole payload.
	q, p, sum []byte
	// ends is where each value of data ends in q, in q's order, written
	// by claims for claims that are not Checked and that it did not check
	// (Token's): 2 bytes each, little-endian, the offset modulo 65536
	// (exact for the payloads Token keeps, which are far shorter). Token
	// compares it with its entry's (reuse.go). Left as it was for Checked
	// claims.
	ends []byte
	keys []string
}

// Sign returns the token for c issued at now: claims data, iat, exp (iat
// plus the ttl), new, aud when the Signer has an audience, and with
// HasSession sid, expires_at (unix seconds) and browser_close. Session
// values are embedded verbatim, so numbers keep their digits; a value that
// is not valid JSON in UTF-8 is an error. Sign signs every time; Token
// reuses a recent token of the same claims.
func (s *Signer) Sign(c Claims, now time.Time) (string, error) {
	sc := s.scratch.Get().(*signScratch)
	defer s.scratch.Put(sc)
	m, err := s.claims(sc, &c, !c.Checked)
	if err != nil {
		return "", err
	}
	iat := now.Unix()
	tok := s.sign(make([]byte, 0, s.tokenLen(len(sc.q), iat)), sc, m, iat)
	return unsafe.String(unsafe.SliceData(tok), len(tok)), nil
}

// errNotJSON is the error of a session value that is not valid JSON.
var errNotJSON = errors.New("session token: a session value is not valid JSON")

// validValue reports whether a session value is valid JSON in UTF-8, the
// check that keeps a stored value from adding claims of its own. A
// variable so that tests can count its calls.
var validValue = session.ValidValue

// checkValues is validValue over every value of d.
func checkValues(d session.Data) error {
	for _, v := range d {
		if !validValue(v) {
			return errNotJSON
		}
	}
	return nil
}

// claims writes c's payload but for its times to sc.q and returns where
// the times go: the payload is sc.q[:m], then `,"iat":…,"exp":…`, then
// sc.q[m:]. With check, it refuses a value that is not valid JSON in
// UTF-8. Without check, when c is not Checked, it records in sc.ends where
// each value ends, for the caller to check the values or to show they are
// those of a token whose values were (Token).
func (s *Signer) claims(sc *signScratch, c *Claims, check bool) (int, error) {
	if c.HasSession && (c.SID == "" || c.ExpiresAt.IsZero()) {
		return 0, errors.New("session token: a session needs a SID and an ExpiresAt")
	}
	sc.keys = slices.AppendSeq(sc.keys[:0], maps.Keys(c.Data))
	slices.Sort(sc.keys)
	defer clear(sc.keys) // keep no session's keys alive in the pool
	p := append(sc.q[:0], `{"data":{`...)
	if !c.Checked {
		sc.ends = sc.ends[:0]
	}
	for i, k := range sc.keys {
		v := c.Data[k]
		if i > 0 {
			p = append(p, ',')
		}
		p = appendString(p, k)
		p = append(p, ':')
		p = append(p, v...)
		if !c.Checked {
			if !check {
				sc.ends = append(sc.ends, byte(len(p)), byte(len(p)>>8))
			} else if !validValue(v) {
				sc.q = p
				return 0, errNotJSON
			}
		}
	}
	p = append(p, '}')
	m := len(p)
	p = append(p, `,"new":`...)
	p = strconv.AppendBool(p, c.New)
	p = append(p, s.aud...)
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
	sc.q = p
	return m, nil
}

// times appends the iat and exp claims of a token issued at iat.
func (s *Signer) times(b []byte, iat int64) []byte {
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `,"exp":`...)
	return strconv.AppendInt(b, iat+s.ttl, 10)
}

// tokenLen is the length of the token of an n-byte payload (without its
// times) issued at iat.
func (s *Signer) tokenLen(n int, iat int64) int {
	var t [64]byte
	enc := base64.RawURLEncoding
	sigLen := sha256.Size
	if s.ed != nil {
		sigLen = ed25519.SignatureSize
	}
	return len(s.head) + enc.EncodedLen(n+len(s.times(t[:0], iat))) + 1 + enc.EncodedLen(sigLen)
}

// sign appends to dst the token of the payload in sc.q, its times put at
// m, issued at iat. dst's capacity should hold tokenLen more bytes.
func (s *Signer) sign(dst []byte, sc *signScratch, m int, iat int64) []byte {
	p := append(sc.p[:0], sc.q[:m]...)
	p = s.times(p, iat)
	p = append(p, sc.q[m:]...)
	sc.p = p
	enc := base64.RawURLEncoding
	start := len(dst)
	tok := append(dst, s.head...)
	tok = enc.AppendEncode(tok, p)
	if s.ed != nil {
		sig := ed25519.Sign(s.ed, tok[start:])
		tok = append(tok, '.')
		return enc.AppendEncode(tok, sig)
	}
	sc.mac.Write(tok[start:])
	sc.sum = sc.mac.Sum(sc.sum[:0])
	sc.mac.Reset()
	tok = append(tok, '.')
	return enc.AppendEncode(tok, sc.sum)
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
