package session

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// A Sealer encrypts the values a store keeps (encryption at rest): each
// value is sealed with XChaCha20-Poly1305 under the current key, and the
// associated data binds it to the session key it is stored under and to
// its field (or to the whole session), so a value copied into another
// session or field does not open. Previous keys open what they sealed;
// every write seals with the current key.
//
// A sealed value is a JSON string, so that it fits wherever a store keeps
// JSON:
//
//	"cse1.<key id>.<base64url(nonce || ciphertext || tag)>"
//
// The prefix is the format's version; the key id (6 characters) names the
// key without revealing it. A value without the prefix is plaintext: with
// AcceptPlaintext (the migration setting), it is read as it is; without,
// it is refused like a tampered value.
//
// A nil *Sealer seals nothing: Seal and Open return their input. Stores
// call it unconditionally.
type Sealer struct {
	keys []sealKey // keys[0] seals; all open
	// acceptPlaintext reads values stored before encryption was on.
	acceptPlaintext bool
	// OnBadValue, when set, is told of every value Open refuses: a
	// security event. The error holds neither the key nor the value.
	OnBadValue func(error)
}

type sealKey struct {
	id   string
	aead cipher.AEAD
}

// SealKeySize is the size of an encryption key: 32 bytes, given as 64 hex
// digits (openssl rand -hex 32) or in base64 (openssl rand -base64 32).
const SealKeySize = chacha20poly1305.KeySize

// SealPrefix starts every sealed value, after its opening quote.
const SealPrefix = "cse1."

const (
	keyIDLen = 6 // base64url of 4 bytes
	// SealedFixedLen is a sealed value's length beside the base64 of
	// nonce, ciphertext and tag: the quotes, the prefix, the key id and
	// its dot.
	SealedFixedLen = 2 + len(SealPrefix) + keyIDLen + 1
	// SealedBinaryLen is what the AEAD adds to the plaintext: nonce and
	// tag.
	SealedBinaryLen = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
)

const (
	sealPrefix = SealPrefix
	sealFixed  = SealedFixedLen
	sealBinary = SealedBinaryLen
)

// ErrSealed wraps every error of Sealer.Open: the stored value is not one
// this sealer opens (tampered, truncated, moved to another session or
// field, sealed under a key no longer configured, or plaintext without
// AcceptPlaintext). It also wraps ErrBadValue, so that a store treats it as
// no session and reports it as a security event.
var ErrSealed = fmt.Errorf("%w: sealed value does not open", ErrBadValue)

// ParseSealKey reads a 32-byte key written as 64 hex digits or as base64
// (standard or URL alphabet, padded or not). Surrounding white space (the
// newline of a key file) is ignored. The error never holds the key.
func ParseSealKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*SealKeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == SealKeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes as 64 hex digits or in base64 (openssl rand -base64 32), got %d characters", SealKeySize, len(s))
}

// NewSealer returns a Sealer that seals with current and opens with it
// and with previous; acceptPlaintext reads values stored unsealed.
func NewSealer(current []byte, previous [][]byte, acceptPlaintext bool) (*Sealer, error) {
	s := &Sealer{acceptPlaintext: acceptPlaintext}
	seen := map[string]bool{}
	for i, k := range append([][]byte{current}, previous...) {
		aead, err := chacha20poly1305.NewX(k)
		if err != nil {
			return nil, fmt.Errorf("key %d: want %d bytes, got %d", i, SealKeySize, len(k))
		}
		id := KeyID(k)
		if seen[id] {
			continue // a previous key equal to the current one
		}
		seen[id] = true
		s.keys = append(s.keys, sealKey{id: id, aead: aead})
	}
	return s, nil
}

// KeyID names a key in the values it seals: the first 4 bytes of an HMAC
// of a fixed label under the key, in base64url.
func KeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("caddy-session encrypt key id"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:4])
}

// CurrentKeyID is the id of the key Seal uses, "" for a nil Sealer.
func (s *Sealer) CurrentKeyID() string {
	if s == nil {
		return ""
	}
	return s.keys[0].id
}

// AcceptsPlaintext reports whether Open reads unsealed values.
func (s *Sealer) AcceptsPlaintext() bool { return s == nil || s.acceptPlaintext }

// WholeSession is the field name a store that seals a session as one value
// (memory, file, db) passes to Seal and Open. No session field, which
// comes from JSON text, can have this name: it is not valid UTF-8.
const WholeSession = "\xff"

// ad is the associated data of the value of field in the session key.
func ad(key, field string) []byte {
	b := make([]byte, 0, len(sealPrefix)+len(key)+len(field)+1)
	b = append(b, sealPrefix...)
	b = append(b, key...)
	b = append(b, 0)
	return append(b, field...)
}

// Seal returns plain (a JSON value) sealed under the current key for the
// session key and field (WholeSession for a whole session).
func (s *Sealer) Seal(key, field string, plain []byte) []byte {
	if s == nil {
		return plain
	}
	k := s.keys[0]
	n := sealBinary + len(plain)
	out := make([]byte, sealFixed+base64.RawURLEncoding.EncodedLen(n))
	out[0] = '"'
	i := 1 + copy(out[1:], sealPrefix)
	i += copy(out[i:], k.id)
	out[i] = '.'
	i++
	bin := make([]byte, chacha20poly1305.NonceSizeX, n)
	if _, err := rand.Read(bin); err != nil {
		panic(err) // crypto/rand does not fail
	}
	bin = k.aead.Seal(bin, bin, plain, ad(key, field))
	base64.RawURLEncoding.Encode(out[i:], bin)
	out[len(out)-1] = '"'
	return out
}

// IsSealed reports whether stored has the form of a sealed value.
func IsSealed(stored []byte) bool {
	return len(stored) > 1+len(sealPrefix) && stored[0] == '"' && string(stored[1:1+len(sealPrefix)]) == sealPrefix
}

// Open returns the plaintext of stored, the value of field in the session
// key. current is false when stored was not sealed with the current key
// (a previous key, or plaintext): a rewrite would change it. An error
// wraps ErrSealed and holds neither the key nor the value.
func (s *Sealer) Open(key, field string, stored []byte) (plain []byte, current bool, err error) {
	plain, current, err = s.open(key, field, stored)
	if err != nil && s != nil && s.OnBadValue != nil {
		s.OnBadValue(err)
	}
	return plain, current, err
}

func (s *Sealer) open(key, field string, stored []byte) (plain []byte, current bool, err error) {
	if s == nil {
		if IsSealed(stored) {
			return nil, false, fmt.Errorf("%w: encryption is off and the value is sealed", ErrSealed)
		}
		return stored, true, nil
	}
	if !IsSealed(stored) {
		if s.acceptPlaintext {
			return stored, false, nil
		}
		return nil, false, fmt.Errorf("%w: the value is not encrypted and plaintext is not accepted", ErrSealed)
	}
	body := stored[1+len(sealPrefix):]
	if len(body) < keyIDLen+2 || body[keyIDLen] != '.' || body[len(body)-1] != '"' {
		return nil, false, fmt.Errorf("%w: malformed", ErrSealed)
	}
	id := string(body[:keyIDLen])
	enc := body[keyIDLen+1 : len(body)-1]
	for i, k := range s.keys {
		if k.id != id {
			continue
		}
		bin := make([]byte, base64.RawURLEncoding.DecodedLen(len(enc)))
		n, err := base64.RawURLEncoding.Decode(bin, enc)
		if err != nil || n < sealBinary {
			return nil, false, fmt.Errorf("%w: malformed", ErrSealed)
		}
		bin = bin[:n]
		nonce, ct := bin[:chacha20poly1305.NonceSizeX], bin[chacha20poly1305.NonceSizeX:]
		plain, err := k.aead.Open(ct[:0], nonce, ct, ad(key, field))
		if err != nil {
			return nil, false, fmt.Errorf("%w: authentication failed (tampered, truncated, or moved from another session or field)", ErrSealed)
		}
		return plain, i == 0, nil
	}
	return nil, false, fmt.Errorf("%w: sealed with a key that is not configured (key id %s)", ErrSealed, id)
}

// SealedLen is the length of the sealed form of a plaintext of n bytes.
func SealedLen(n int) int { return sealFixed + base64.RawURLEncoding.EncodedLen(sealBinary+n) }

// PlainLen is the length of the plaintext of a sealed value of n bytes:
// the inverse of SealedLen. Stores that check a size where they cannot
// open values (Redis' scripts) compute the same.
func PlainLen(n int) int { return (n-sealFixed)*3/4 - sealBinary }

// SealData seals d as one value: the stored form of a session that a store
// keeps whole (memory, file, db).
func (s *Sealer) SealData(key string, d Data) ([]byte, error) {
	b, err := MarshalData(d)
	if err != nil {
		return nil, err
	}
	return s.Seal(key, WholeSession, b), nil
}

// OpenData is SealData's inverse. A plaintext JSON object is read as it is
// when the sealer accepts plaintext.
func (s *Sealer) OpenData(key string, stored []byte) (d Data, current bool, err error) {
	plain, current, err := s.Open(key, WholeSession, bytes.TrimSpace(stored))
	if err != nil {
		return nil, false, err
	}
	d, err = UnmarshalData(plain)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	return d, current, nil
}

// Rekeyer is a store that can seal every stored session again under its
// sealer's current key (`caddy sessions rekey`), online: each session is
// rewritten in the store's atomic step (a lock, or a compare-and-set that
// is retried), so a concurrent write is neither lost nor undone. It is
// resumable by running it again: a session already under the current key
// is only read.
type Rekeyer interface {
	Rekey(ctx context.Context) (RekeyReport, error)
}

// RekeyReport is what a Rekey did.
type RekeyReport struct {
	// Sessions is how many live sessions it read.
	Sessions int
	// Changed is how many it sealed again (a previous key, or plaintext
	// under accept_plaintext).
	Changed int
	// Refused is how many no key opens; they are left as they are, and
	// read as no session.
	Refused int
}
