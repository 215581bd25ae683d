package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"hash"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Keys makes and recognises the session keys of a Manager, in place of
// NewKey and ValidKey: Config.Keys.
type Keys interface {
	// New returns a fresh key, in the form ValidKey accepts.
	New() string
	// Valid reports whether a cookie value is a key of these sessions;
	// anything else loads as no session, without a store lookup.
	Valid(key string) bool
}

// realmTagLen is how many of a realm key's 32 characters tag it: 8
// characters of [a-z0-9], 41 bits, leaving 24 random ones (124 bits, more
// than a UUID's 122).
const realmTagLen = 8

// Realm is the keys of one realm: the handlers that share sessions because
// they share a secret. A key is 24 random characters followed by a tag, an
// HMAC-SHA256 of them under the realm's secret, so that a handler with
// another secret recognises none of its keys, even on the same store, and
// loads nothing for them. Django's own keys carry no tag: a store that
// Django writes to keeps Django's keys (the Django codec's signature
// separates sites there).
type Realm struct {
	keys [][]byte // tag keys: the first tags new keys, every one verifies
	// macs holds, per tag key, HMAC-SHA256s keyed with it, reset after
	// each use: a request's Valid reuses one instead of keying a new one.
	macs []sync.Pool
	// seen remembers keys that verified, so that the next request with
	// one skips the tag's HMAC: one key per slot, the slot chosen by a
	// seeded hash of the key. A key's tag is valid for as long as the
	// realm (its secrets) lives, so an entry never goes stale; only an
	// exact match of a key that verified counts.
	seed maphash.Seed
	seen *[seenSlots]atomic.Pointer[[KeyLength]byte]
}

// seenSlots bounds Realm.seen: 4096 keys of 32 bytes, 128 KiB.
const seenSlots = 4096

// NewRealm returns the realm of secret; keys tagged under a fallback
// (a secret being rotated out) are recognised too, and no new key gets
// their tag.
func NewRealm(secret []byte, fallbacks ...[]byte) *Realm {
	r := &Realm{seed: maphash.MakeSeed(), seen: new([seenSlots]atomic.Pointer[[KeyLength]byte])}
	for _, s := range append([][]byte{secret}, fallbacks...) {
		// A key of its own, so that a tag reveals nothing the token
		// signature (also keyed by the secret) could be attacked with.
		mac := hmac.New(sha256.New, s)
		mac.Write([]byte("caddy-session realm key tag"))
		r.keys = append(r.keys, mac.Sum(nil))
	}
	r.macs = make([]sync.Pool, len(r.keys))
	for i, k := range r.keys {
		r.macs[i].New = func() any { return &tagMAC{mac: hmac.New(sha256.New, k)} }
	}
	return r
}

// New returns a fresh key of the realm.
func (r *Realm) New() string {
	k := NewKey()
	var t [realmTagLen]byte
	r.tag(0, k[:KeyLength-realmTagLen], &t)
	return k[:KeyLength-realmTagLen] + string(t[:])
}

// Valid reports whether key has the form of a session key and a tag of
// this realm.
func (r *Realm) Valid(key string) bool {
	if !ValidKey(key) {
		return false
	}
	slot := &r.seen[maphash.String(r.seed, key)%seenSlots]
	kb := unsafe.Slice(unsafe.StringData(key), len(key))
	// In constant time: the slot holds another client's key, which a
	// request's cookie must not probe.
	if k := slot.Load(); k != nil && subtle.ConstantTimeCompare(k[:], kb) == 1 {
		return true
	}
	body, got := key[:KeyLength-realmTagLen], key[KeyLength-realmTagLen:]
	var want, have [realmTagLen]byte
	copy(have[:], got)
	ok := 0
	for i := range r.keys {
		r.tag(i, body, &want)
		ok |= subtle.ConstantTimeCompare(want[:], have[:])
	}
	if ok != 1 {
		return false
	}
	k := new([KeyLength]byte)
	copy(k[:], key)
	slot.Store(k)
	return true
}

// tag writes the realm tag of body under the i-th tag key to out, in key
// characters.
func (r *Realm) tag(i int, body string, out *[realmTagLen]byte) {
	m := r.macs[i].Get().(*tagMAC)
	m.buf = append(m.buf[:0], body...)
	m.mac.Write(m.buf)
	m.buf = m.mac.Sum(m.buf[:0])
	m.mac.Reset()
	for j := range out {
		out[j] = keyChars[m.buf[j]%36]
	}
	r.macs[i].Put(m)
}

// tagMAC is a keyed HMAC and the scratch bytes it reads and writes.
type tagMAC struct {
	mac hash.Hash
	buf []byte
}

// newKey is a fresh key: the realm's when Config.Keys is set.
func (m *Manager) newKey() string {
	if m.Config.Keys != nil {
		return m.Config.Keys.New()
	}
	return NewKey()
}

// ValidKey reports whether cookie can name one of m's sessions: the form
// of a key, and the realm's tag when Config.Keys is set.
func (m *Manager) ValidKey(cookie string) bool {
	if m.Config.Keys != nil {
		return m.Config.Keys.Valid(cookie)
	}
	return ValidKey(cookie)
}
