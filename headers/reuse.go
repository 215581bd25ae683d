package headers

import (
	"bytes"
	"crypto/subtle"
	"hash/maphash"
	"sync/atomic"
	"time"
	"unsafe"
)

// Token reuse: a request whose claims are byte for byte those of a token
// this Signer issued a moment ago gets that token again, instead of a new
// HMAC (or Ed25519 signature) and base64 over the same bytes. Comparing
// the claims costs a memcmp, much less than signing them.
//
// The rules, which TestTokenReuse* check:
//   - Only the times differ between the two: every other claim (data, new,
//     sid, expires_at, browser_close, the timeouts' deadlines, aud,
//     store_error) is compared byte for byte, so any change to the session
//     or its expiry gives a new token.
//   - A token is reused only while it is younger than a tenth of the ttl
//     (reuseFraction): it keeps its own iat and exp, so its life is never
//     extended and it always has at least 90% of the ttl left.
//   - A session's token is found by its key, compared in constant time,
//     and replaced by the session's next token: a token never survives a
//     change, a cycle_key (another key) or a logout (no session).
//   - The table is per Signer (one per handler): handlers with another
//     secret, algorithm or audience never share a token.
//   - A token is reused without checking that the session's values are
//     JSON (Claims.Checked false: Redis, files, SQL) only when each value
//     is byte for byte a value of that token's, which were checked when it
//     was signed: the payloads are equal and each value ends at the same
//     offset. Equal payloads alone are not enough: the values 1,"x":2 of
//     {"a":…} make the same bytes as the valid {"a":1,"x":2}. With the
//     ends equal, the keys between them (JSON strings, which end at their
//     first unescaped quote) are equal too, so both sessions have the same
//     keys and values.
//   - Memory is bounded: reuseSlots entries, each holding a payload of at
//     most maxReusedPayload bytes, its token and its values' ends.
const (
	// reuseSlots is the number of entries a Signer keeps: one per slot,
	// the slot chosen by a seeded hash of the session key (or, with no
	// session, of the claims). A new entry replaces the slot's.
	reuseSlots = 1024
	// maxReusedPayload is the largest payload (the token's JSON claims
	// without iat and exp) whose token is kept for reuse. With
	// reuseSlots, it bounds the table: each entry holds the payload, its
	// token (4/3 of the payload plus a few hundred bytes), the key, the
	// sid and, for unchecked values, their ends (2 bytes a value, and a
	// value takes at least 4 bytes of the payload: at most 4 KiB), under
	// 24 KiB, so a Signer keeps at most about 24 MiB.
	maxReusedPayload = 8 << 10
	// reuseFraction: a token is reused while it is younger than
	// ttl/reuseFraction.
	reuseFraction = 10
)

// reused is one issued token, immutable once published.
type reused struct {
	key string // the session key; "" for no stored session
	sid string // the sid of key
	q   []byte // the payload without its times
	// ends is where each value of data ends in q (signScratch.ends), when
	// the values were checked at signing; empty when the claims were
	// Checked, so that an unchecked session with data never matches.
	ends []byte
	iat  int64 // unix seconds
	tok  string
}

// reuseTable is a Signer's issued tokens.
type reuseTable struct {
	seed  maphash.Seed
	slots [reuseSlots]atomic.Pointer[reused]
}

func newReuseTable() *reuseTable { return &reuseTable{seed: maphash.MakeSeed()} }

// Token is Sign for the session stored under key ("" when the request has
// no stored session), reusing the token it issued for the same claims less
// than ttl/reuseFraction ago. With c.HasSession and no c.SID, it fills in
// the sid of key (from the table when it holds key). It returns the token
// and the sid it signed. Like Sign, it refuses claims that are not Checked
// and hold a value that is not JSON in UTF-8, but checks them only when it
// signs: a token it reuses holds the same values, checked when it was
// signed.
func (s *Signer) Token(key string, c Claims, now time.Time) (tok, sid string, err error) {
	t := s.reuse
	var slot *atomic.Pointer[reused]
	var e *reused
	if key != "" {
		slot = &t.slots[maphash.String(t.seed, key)%reuseSlots]
		if e = slot.Load(); e != nil && !sameKey(e.key, key) {
			e = nil
		}
		if c.HasSession && c.SID == "" {
			if e != nil {
				c.SID = e.sid
			} else {
				c.SID = s.SID(key)
			}
		}
	}
	sc := s.scratch.Get().(*signScratch)
	defer s.scratch.Put(sc)
	m, err := s.claims(sc, &c, false)
	if err != nil {
		return "", "", err
	}
	q := sc.q
	if key == "" {
		slot = &t.slots[maphash.Bytes(t.seed, q)%reuseSlots]
		if e = slot.Load(); e != nil && e.key != "" {
			e = nil
		}
	}
	if e != nil && s.fresh(e.iat, now) && bytes.Equal(e.q, q) && (c.Checked || bytes.Equal(e.ends, sc.ends)) {
		return e.tok, c.SID, nil
	}
	// ends: where q's values end, when they were not checked
	var ends []byte
	if !c.Checked {
		if err := checkValues(c.Data); err != nil {
			return "", "", err
		}
		ends = sc.ends
	}
	iat := now.Unix()
	n := s.tokenLen(len(q), iat)
	if len(q) > maxReusedPayload {
		b := s.sign(make([]byte, 0, n), sc, m, iat)
		return unsafe.String(unsafe.SliceData(b), len(b)), c.SID, nil
	}
	// One allocation for what the entry keeps: its key, sid, payload,
	// values' ends and token (which the request gets too), so that the
	// entry refers to no request's memory, such as the Cookie header the
	// key came from.
	b := make([]byte, 0, len(key)+len(c.SID)+len(q)+len(ends)+n)
	b = append(append(append(append(b, key...), c.SID...), q...), ends...)
	b = s.sign(b, sc, m, iat)
	i, j := len(key), len(key)+len(c.SID)
	k := j + len(q)
	l := k + len(ends)
	ne := &reused{
		key:  unsafe.String(unsafe.SliceData(b), i),
		sid:  unsafe.String(unsafe.SliceData(b[i:]), j-i),
		q:    b[j:k:k],
		ends: b[k:l:l],
		iat:  iat,
		tok:  unsafe.String(unsafe.SliceData(b[l:]), len(b)-l),
	}
	slot.Store(ne)
	return ne.tok, ne.sid, nil
}

// fresh reports whether a token issued at iat (unix seconds) is younger
// than ttl/reuseFraction at now. A token from the future (the clock went
// back) is not.
func (s *Signer) fresh(iat int64, now time.Time) bool {
	age := now.Sub(time.Unix(iat, 0))
	return age >= 0 && age < time.Duration(s.ttl)*time.Second/reuseFraction
}

// sameKey compares session keys in constant time: the table's key is
// another client's secret, which a request's cookie must not probe.
func sameKey(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	return subtle.ConstantTimeCompare(unsafe.Slice(unsafe.StringData(a), len(a)), unsafe.Slice(unsafe.StringData(b), len(b))) == 1
}

// reusedEntries is how many entries the table holds (for tests).
func (s *Signer) reusedEntries() (n int) {
	for i := range s.reuse.slots {
		if s.reuse.slots[i].Load() != nil {
			n++
		}
	}
	return n
}
