package django

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var (
	testKey = []byte("django-insecure-test-key-0123456789-abcdefghijklmnop")
	oldKey  = []byte("the-previous-secret-key-0123456789-abcdefghijklmnop")
	testNow = time.Unix(1767225600, 0) // 2026-01-01
)

func TestBase62(t *testing.T) {
	for _, tc := range []struct {
		n int64
		s string
	}{
		{0, "0"}, {61, "z"}, {62, "10"}, {-1, "-1"}, {1767225600, "1vb66i"},
		{math.MaxInt64, "AzL8n0Y58m7"}, {-math.MaxInt64, "-AzL8n0Y58m7"},
	} {
		if got := string(appendBase62(nil, tc.n)); got != tc.s {
			t.Errorf("appendBase62(%d) = %q, want %q", tc.n, got, tc.s)
		}
		if got, ok := parseBase62(tc.s); !ok || got != tc.n {
			t.Errorf("parseBase62(%q) = %d, %v, want %d", tc.s, got, ok, tc.n)
		}
	}
	for _, s := range []string{"", "-", "AzL8n0Y58m8", "zzzzzzzzzzzz", "1.5", "1 ", "+1", "-"} {
		if n, ok := parseBase62(s); ok {
			t.Errorf("parseBase62(%q) = %d, want refused", s, n)
		}
	}
}

func TestDumpsLoads(t *testing.T) {
	for _, tc := range []struct {
		name     string
		obj      string
		compress bool
		dot      bool
	}{
		{"plain", `{"a":1}`, false, false},
		{"compress but no gain", `{"a":1}`, true, false},
		{"compressed", `{"a":"` + strings.Repeat("xy", 200) + `"}`, true, true},
		{"long uncompressed", `{"a":"` + strings.Repeat("xy", 200) + `"}`, false, false},
		{"empty object", `{}`, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Dumps([]byte(tc.obj), testKey, SessionSalt, tc.compress, testNow)
			if strings.HasPrefix(s, ".") != tc.dot {
				t.Errorf("Dumps = %q: compressed %v, want %v", s, !tc.dot, tc.dot)
			}
			if strings.Count(s, ":") != 2 || strings.ContainsAny(s, "=+/") {
				t.Errorf("Dumps = %q: not payload:timestamp:signature in URL-safe base64", s)
			}
			got, err := LoadsAt(s, [][]byte{testKey}, SessionSalt, 0, testNow)
			if err != nil || string(got) != tc.obj {
				t.Fatalf("LoadsAt(Dumps) = %q, %v; want %q", got, err, tc.obj)
			}
			if _, err := LoadsAt(s, [][]byte{testKey}, SignedCookiesSalt, 0, testNow); !errors.Is(err, ErrBadSignature) {
				t.Errorf("LoadsAt under another salt: %v, want %v", err, ErrBadSignature)
			}
		})
	}
}

func TestLoadsKeys(t *testing.T) {
	s := Dumps([]byte(`{"a":1}`), oldKey, SessionSalt, true, testNow)
	for _, tc := range []struct {
		name string
		keys [][]byte
		ok   bool
	}{
		{"current key", [][]byte{oldKey}, true},
		{"fallback", [][]byte{testKey, oldKey}, true},
		{"fallback after an empty one", [][]byte{testKey, nil, oldKey}, true},
		{"unknown key", [][]byte{testKey}, false},
		{"no keys", nil, false},
		{"empty key", [][]byte{{}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadsAt(s, tc.keys, SessionSalt, 0, testNow)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadSignature)) {
				t.Errorf("LoadsAt = %v, want ok %v", err, tc.ok)
			}
		})
	}
	// An empty key signs nothing that verifies.
	s = Dumps([]byte(`{"a":1}`), nil, SessionSalt, false, testNow)
	if _, err := LoadsAt(s, [][]byte{nil}, SessionSalt, 0, testNow); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a value signed with an empty key verifies: %v", err)
	}
}

func TestLoadsMaxAge(t *testing.T) {
	s := Dumps([]byte(`{"a":1}`), testKey, SignedCookiesSalt, true, testNow)
	age := 14 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"fresh", testNow, nil},
		{"at the limit", testNow.Add(age), nil},
		{"a second over", testNow.Add(age + time.Second), ErrExpired},
		{"signed in the future", testNow.Add(-time.Hour), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadsAt(s, [][]byte{testKey}, SignedCookiesSalt, age, tc.now); !errors.Is(err, tc.want) {
				t.Errorf("LoadsAt = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := LoadsAt(s, [][]byte{testKey}, SignedCookiesSalt, 0, testNow.Add(100*age)); err != nil {
		t.Errorf("no max age: %v", err)
	}
}

// sign assembles a signed value around any payload and timestamp text, as
// a holder of the key could.
func sign(payload, ts string, key []byte) string {
	v := payload + ":" + ts
	return v + ":" + base64.RawURLEncoding.EncodeToString(signature(sha256.New, key, SessionSalt, []byte(v)))
}

func zlibOf(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestLoadsMalformed(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	bomb := zlibOf(make([]byte, MaxPayload+1))
	for _, tc := range []struct {
		name string
		s    string
		want error
	}{
		{"no separator", "eyJhIjoxfQ", ErrMalformed},
		{"no timestamp", func() string {
			v := b64([]byte(`{}`))
			return v + ":" + b64(signature(sha256.New, testKey, SessionSalt, []byte(v)))
		}(), ErrMalformed},
		{"bad timestamp", sign(b64([]byte(`{}`)), "1v!", testKey), ErrMalformed},
		{"empty timestamp", sign(b64([]byte(`{}`)), "", testKey), ErrMalformed},
		{"overflowing timestamp", sign(b64([]byte(`{}`)), "zzzzzzzzzzzz", testKey), ErrMalformed},
		{"bad base64", sign("e!", "1", testKey), ErrMalformed},
		{"not zlib", sign("."+b64([]byte(`{}`)), "1", testKey), ErrMalformed},
		{"truncated zlib", sign("."+b64(zlibOf([]byte(`{"a":1}`))[:8]), "1", testKey), ErrMalformed},
		{"bad zlib checksum", func() string {
			z := zlibOf([]byte(`{"a":1}`))
			z[len(z)-1] ^= 1
			return sign("."+b64(z), "1", testKey)
		}(), ErrMalformed},
		{"zip bomb", sign("."+b64(bomb), "1", testKey), ErrTooLarge},
		{"too large uncompressed", sign(b64(make([]byte, MaxPayload+1)), "1", testKey), ErrTooLarge},
		{"signature too short", func() string { s := sign(b64([]byte(`{}`)), "1", testKey); return s[:len(s)-1] }(), ErrBadSignature},
		{"empty", "", ErrMalformed},
		{"separators only", "::", ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadsAt(tc.s, [][]byte{testKey}, SessionSalt, 0, testNow); !errors.Is(err, tc.want) {
				t.Errorf("LoadsAt = %v, want %v", err, tc.want)
			}
		})
	}
	// The limit itself is fine.
	s := sign("."+b64(zlibOf(make([]byte, MaxPayload))), "1", testKey)
	if b, err := LoadsAt(s, [][]byte{testKey}, SessionSalt, 0, testNow); err != nil || len(b) != MaxPayload {
		t.Errorf("LoadsAt of exactly MaxPayload: %d bytes, %v", len(b), err)
	}
}

// TestLoadsSHA1 checks that an HMAC-SHA1 signature verifies, as in Django
// 3.1 and 3.2 (the oracle test checks one Django wrote).
func TestLoadsSHA1(t *testing.T) {
	v := base64.RawURLEncoding.EncodeToString([]byte(`{"a":1}`)) + ":1"
	s := v + ":" + base64.RawURLEncoding.EncodeToString(signature(sha1.New, testKey, SessionSalt, []byte(v)))
	if got, err := LoadsAt(s, [][]byte{testKey}, SessionSalt, 0, testNow); err != nil || string(got) != `{"a":1}` {
		t.Errorf("LoadsAt = %q, %v", got, err)
	}
}
