package django

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"strings"
	"sync"
	"time"
)

// MaxPayload is the largest serialized session Loads and Decode accept, in
// bytes after decompression. Django has no limit; a compressed payload of a
// few kilobytes can inflate to gigabytes, so a value over it is refused
// rather than inflated.
const MaxPayload = 1 << 20

// Reasons a signed or legacy value is refused. Codec.Decode wraps them in
// session.ErrBadValue.
var (
	// ErrBadSignature: no key signed the value (tampered, truncated, or
	// signed with a key that is neither current nor a fallback).
	ErrBadSignature = errors.New("signature mismatch")
	// ErrExpired: the signature is good but older than the maximum age.
	// Not a security event: signed_cookies sessions age out this way.
	ErrExpired = errors.New("signature expired")
	// ErrTooLarge: the serialized session exceeds MaxPayload.
	ErrTooLarge = errors.New("session too large")
	// ErrPickled: the serialized session is a pickle (Django's
	// PickleSerializer), which is never unpickled.
	ErrPickled = errors.New("pickled session refused")
	// ErrMalformed: the value is not in the signed or legacy layout, or a
	// signed part (timestamp, base64, zlib) does not parse.
	ErrMalformed = errors.New("malformed value")
)

// Dumps is Django's signing.dumps for a serialized object: obj is the JSON
// text the serializer produced, signed with TimestampSigner under salt with
// HMAC-SHA256 at time now. With compress, the payload is zlib-compressed
// when that makes it shorter, and then marked by a leading '.'.
//
// The result equals Django's byte for byte when the payload is not
// compressed. Compressed, it comes from Go's deflate, not zlib's: other
// bytes, and for small sessions a few bytes longer (Go ends the stream
// with an empty stored block), so near the threshold Django may compress
// where Dumps does not. Both sides read either.
func Dumps(obj, key []byte, salt string, compress bool, now time.Time) string {
	data, dot := obj, false
	if compress {
		// Django compresses only when that saves more than one byte: the
		// '.' marker costs one.
		if c := deflate(obj); len(c) < len(obj)-1 {
			data, dot = c, true
		}
	}
	n := base64.RawURLEncoding.EncodedLen(len(data))
	b := make([]byte, 0, n+1+12+1+base64.RawURLEncoding.EncodedLen(sha256.Size))
	if dot {
		b = append(b, '.')
	}
	b = base64.RawURLEncoding.AppendEncode(b, data)
	b = append(b, ':')
	b = appendBase62(b, now.Unix())
	mac := signature(sha256.New, key, salt, b)
	b = append(b, ':')
	b = base64.RawURLEncoding.AppendEncode(b, mac)
	return string(b)
}

// Loads is Django's signing.loads: it verifies s against keys (the current
// key first, then fallbacks, as Django 4.1+ does with SECRET_KEY_FALLBACKS)
// and returns the serialized object, decompressed. A positive maxAge
// refuses values signed longer ago than that (ErrExpired). The clock is
// time.Now; LoadsAt takes one.
func Loads(s string, keys [][]byte, salt string, maxAge time.Duration) ([]byte, error) {
	return LoadsAt(s, keys, salt, maxAge, time.Now())
}

// LoadsAt is Loads at time now.
//
// Like Django 3.1 and 3.2 (and unlike 4.0+), it also accepts an
// HMAC-SHA1 signature: what Django 3.0 and older, and 3.1/3.2 with
// DEFAULT_HASHING_ALGORITHM = 'sha1', signed. Both MACs are keyed by the
// same secret, so this widens nothing an attacker can forge.
func LoadsAt(s string, keys [][]byte, salt string, maxAge time.Duration, now time.Time) ([]byte, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return nil, ErrMalformed
	}
	value, sig := s[:i], s[i+1:]
	if !verify(value, sig, keys, salt) {
		return nil, ErrBadSignature
	}
	i = strings.LastIndexByte(value, ':')
	if i < 0 {
		return nil, ErrMalformed
	}
	payload, ts := value[:i], value[i+1:]
	signed, ok := parseBase62(ts)
	if !ok {
		return nil, ErrMalformed
	}
	if maxAge > 0 && now.Sub(time.Unix(signed, 0)) > maxAge {
		return nil, ErrExpired
	}
	compressed := strings.HasPrefix(payload, ".")
	if compressed {
		payload = payload[1:]
	}
	// Django strips the padding; tolerate a writer that kept it.
	payload = strings.TrimRight(payload, "=")
	if base64.RawURLEncoding.DecodedLen(len(payload)) > MaxPayload {
		return nil, ErrTooLarge
	}
	data, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, ErrMalformed
	}
	if compressed {
		return inflate(data)
	}
	return data, nil
}

// verify reports whether sig is the signature of value under one of keys,
// with SHA-256 or, for values older Django signed, SHA-1. Empty keys are
// skipped: Django would substitute SECRET_KEY; here nothing verifies with
// an empty secret.
func verify(value, sig string, keys [][]byte, salt string) bool {
	var want [43]byte // base64 of the longest MAC, SHA-256's
	for _, alg := range []struct {
		h    func() hash.Hash
		size int
	}{{sha256.New, sha256.Size}, {sha1.New, sha1.Size}} {
		n := base64.RawURLEncoding.EncodedLen(alg.size)
		if len(sig) != n {
			continue
		}
		for _, key := range keys {
			if len(key) == 0 {
				continue
			}
			base64.RawURLEncoding.Encode(want[:n], signature(alg.h, key, salt, []byte(value)))
			if hmac.Equal(want[:n], []byte(sig)) {
				return true
			}
		}
	}
	return false
}

// signature is Signer.signature: HMAC of value keyed by salted_hmac's
// derived key, hash(salt + "signer" + secret).
func signature(h func() hash.Hash, secret []byte, salt string, value []byte) []byte {
	return saltedHMAC(h, salt+"signer", secret, value)
}

// saltedHMAC is django.utils.crypto.salted_hmac.
func saltedHMAC(h func() hash.Hash, keySalt string, secret, value []byte) []byte {
	d := h()
	d.Write([]byte(keySalt))
	d.Write(secret)
	m := hmac.New(h, d.Sum(nil))
	m.Write(value)
	return m.Sum(nil)
}

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendBase62 is Django's base62 encoding of a timestamp.
func appendBase62(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, '0')
	}
	u := uint64(n)
	if n < 0 {
		b = append(b, '-')
		u = uint64(-n)
	}
	var buf [11]byte
	i := len(buf)
	for u > 0 {
		i--
		buf[i] = base62Digits[u%62]
		u /= 62
	}
	return append(b, buf[i:]...)
}

// parseBase62 is Django's b62_decode, refusing what would overflow int64.
func parseBase62(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base62Digits, s[i])
		if d < 0 || n > (1<<63-1-int64(d))/62 {
			return 0, false
		}
		n = n*62 + int64(d)
	}
	if neg {
		n = -n
	}
	return n, true
}

// A zlib writer holds about a megabyte of state: reuse them.
var zwriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, zlib.DefaultCompression)
	return w
}}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/2 + 16)
	w := zwriters.Get().(*zlib.Writer)
	w.Reset(&buf)
	w.Write(b) // a bytes.Buffer does not fail
	w.Close()
	zwriters.Put(w)
	return buf.Bytes()
}

var zreaders sync.Pool

// inflate decompresses a zlib stream, refusing more than MaxPayload bytes.
func inflate(b []byte) ([]byte, error) {
	br := bytes.NewReader(b)
	var r io.ReadCloser
	if p, ok := zreaders.Get().(io.ReadCloser); ok {
		if err := p.(zlib.Resetter).Reset(br, nil); err != nil {
			return nil, ErrMalformed
		}
		r = p
	} else {
		var err error
		if r, err = zlib.NewReader(br); err != nil {
			return nil, ErrMalformed
		}
	}
	defer zreaders.Put(r)
	var out bytes.Buffer
	out.Grow(min(4*len(b), MaxPayload))
	n, err := io.Copy(&out, io.LimitReader(r, MaxPayload+1))
	switch {
	case err != nil:
		return nil, ErrMalformed
	case n > MaxPayload:
		return nil, ErrTooLarge
	}
	// Django's zlib.decompress refuses a stream that ends early or carries
	// a bad checksum; io.Copy has seen io.EOF only after both checked out.
	if err := r.Close(); err != nil {
		return nil, ErrMalformed
	}
	return out.Bytes(), nil
}
