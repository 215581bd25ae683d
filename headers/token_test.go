package headers

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-session/caddy-session/session"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
)

func mustSigner(t testing.TB, secret []byte, ttl time.Duration) *Signer {
	t.Helper()
	s, err := NewSigner(secret, ttl)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

// verify checks tok as an upstream would and returns its claims.
func verify(t *testing.T, tok string, secret []byte, now time.Time) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuedAt(), jwt.WithJSONNumber())
	if err != nil {
		t.Fatalf("verifying %s: %v", tok, err)
	}
	return claims
}

// payload is the token's raw claims text.
func payload(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d segments", tok, len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload segment: %v", err)
	}
	return string(b)
}

func TestNewSigner(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		ttl    time.Duration
		errHas string
	}{
		{"ok", testSecret, time.Minute, ""},
		{"one second", testSecret, time.Second, ""},
		{"long secret", bytes.Repeat([]byte{0}, 100), time.Hour, ""},
		{"short secret", testSecret[:31], time.Minute, "at least 32 bytes"},
		{"nil secret", nil, time.Minute, "at least 32 bytes"},
		{"zero ttl", testSecret, 0, "token ttl"},
		{"negative ttl", testSecret, -time.Second, "token ttl"},
		{"sub-second ttl", testSecret, 500 * time.Millisecond, "token ttl"},
		{"fractional ttl", testSecret, 1500 * time.Millisecond, "token ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSigner(tt.secret, tt.ttl)
			if tt.errHas == "" && err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			if tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("NewSigner error = %v, want one containing %q", err, tt.errHas)
			}
		})
	}
}

func TestNewSignerCopiesSecret(t *testing.T) {
	secret := bytes.Clone(testSecret)
	s := mustSigner(t, secret, time.Minute)
	now := time.Now()
	secret[0] ^= 0xff
	tok, err := s.Sign(Claims{New: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, tok, testSecret, now)
}

func TestSign(t *testing.T) {
	now := time.Unix(1_800_000_000, 123_456_789)
	expires := time.Unix(1_801_209_600, 0)
	tests := []struct {
		name    string
		ttl     time.Duration
		claims  Claims
		payload string // exact claims text
	}{
		{
			name:    "no session, nil data",
			ttl:     time.Minute,
			claims:  Claims{New: true},
			payload: `{"data":{},"iat":1800000000,"exp":1800000060,"new":true}`,
		},
		{
			name:    "no session, empty data",
			ttl:     time.Minute,
			claims:  Claims{Data: session.Data{}, New: true},
			payload: `{"data":{},"iat":1800000000,"exp":1800000060,"new":true}`,
		},
		{
			name: "session",
			ttl:  2 * time.Minute,
			claims: Claims{
				Data:       session.Data{"user_id": raw(`42`), "b": raw(`[1,{"x":null}]`), "a": raw(`"z"`)},
				HasSession: true, SID: "c2lk", ExpiresAt: expires,
			},
			payload: `{"data":{"a":"z","b":[1,{"x":null}],"user_id":42},"iat":1800000000,"exp":1800000120,"new":false,"sid":"c2lk","expires_at":1801209600,"browser_close":false}`,
		},
		{
			name: "browser close",
			ttl:  time.Minute,
			claims: Claims{
				Data:       session.Data{"k": raw(`true`)},
				HasSession: true, SID: "s", ExpiresAt: expires, BrowserClose: true,
			},
			payload: `{"data":{"k":true},"iat":1800000000,"exp":1800000060,"new":false,"sid":"s","expires_at":1801209600,"browser_close":true}`,
		},
		{
			name: "session fields ignored without HasSession",
			ttl:  time.Minute,
			claims: Claims{
				Data: session.Data{"k": raw(`1`)}, SID: "s", ExpiresAt: expires, BrowserClose: true,
			},
			payload: `{"data":{"k":1},"iat":1800000000,"exp":1800000060,"new":false}`,
		},
		{
			name:    "big integer and exact number text",
			ttl:     time.Minute,
			claims:  Claims{Data: session.Data{"n": raw(`9007199254740993`), "f": raw(`1.10`), "e": raw(`1E+400`)}},
			payload: `{"data":{"e":1E+400,"f":1.10,"n":9007199254740993},"iat":1800000000,"exp":1800000060,"new":false}`,
		},
		{
			name:    "values verbatim, no HTML escaping",
			ttl:     time.Minute,
			claims:  Claims{Data: session.Data{"h": raw(`"<b>&amp;</b>"`), "u": raw(`"caf\u00e9"`), "r": raw(`"café 😀"`)}},
			payload: `{"data":{"h":"<b>&amp;</b>","r":"café 😀","u":"caf\u00e9"},"iat":1800000000,"exp":1800000060,"new":false}`,
		},
		{
			name:    "keys escaped",
			ttl:     time.Minute,
			claims:  Claims{Data: session.Data{"q\"\\\n\x01é": raw(`1`)}},
			payload: `{"data":{"q\"\\\n\u0001é":1},"iat":1800000000,"exp":1800000060,"new":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSigner(t, testSecret, tt.ttl)
			tok, err := s.Sign(tt.claims, now)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got := payload(t, tok); got != tt.payload {
				t.Errorf("payload\n got %s\nwant %s", got, tt.payload)
			}
			claims := verify(t, tok, testSecret, now)
			iat, _ := claims["iat"].(json.Number).Int64()
			exp, _ := claims["exp"].(json.Number).Int64()
			if iat != now.Unix() || time.Duration(exp-iat)*time.Second != tt.ttl {
				t.Errorf("iat = %d, exp = %d; want iat %d and exp-iat = %s", iat, exp, now.Unix(), tt.ttl)
			}
			if _, ok := claims["data"].(map[string]any); !ok {
				t.Errorf("data claim is %T, want an object", claims["data"])
			}
			if claims["new"] != tt.claims.New {
				t.Errorf("new = %v, want %v", claims["new"], tt.claims.New)
			}
			for _, k := range []string{"sid", "expires_at", "browser_close"} {
				if _, ok := claims[k]; ok != tt.claims.HasSession {
					t.Errorf("claim %q present = %v, want %v", k, ok, tt.claims.HasSession)
				}
			}
			// The JOSE header is what golang-jwt writes.
			var head map[string]any
			b, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if err := json.Unmarshal(b, &head); err != nil || head["alg"] != "HS256" || head["typ"] != "JWT" || len(head) != 2 {
				t.Errorf("JOSE header %s, %v", b, err)
			}
		})
	}
}

func TestSignMatchesGolangJWT(t *testing.T) {
	// The same claims signed by golang-jwt's own Token give the same token.
	now := time.Unix(1_800_000_000, 0)
	s := mustSigner(t, testSecret, time.Minute)
	tok, err := s.Sign(Claims{Data: session.Data{"a": raw(`1`)}, New: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	want, err := jwt.NewWithClaims(jwt.SigningMethodHS256, orderedClaims{
		Data: map[string]int{"a": 1}, IAT: now.Unix(), EXP: now.Unix() + 60, New: true,
	}).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if tok != want {
		t.Errorf("Sign = %s\n want %s", tok, want)
	}
}

type orderedClaims struct {
	Data map[string]int `json:"data"`
	IAT  int64          `json:"iat"`
	EXP  int64          `json:"exp"`
	New  bool           `json:"new"`
	jwt.RegisteredClaims
}

func TestSignRoundTripsNonASCII(t *testing.T) {
	now := time.Now()
	s := mustSigner(t, testSecret, time.Minute)
	tok, err := s.Sign(Claims{Data: session.Data{
		"raw": raw(`"café 日本 😀"`), "esc": raw(`"caf\u00e9 \u65e5\u672c \ud83d\ude00"`),
	}}, now)
	if err != nil {
		t.Fatal(err)
	}
	data := verify(t, tok, testSecret, now)["data"].(map[string]any)
	if data["raw"] != "café 日本 😀" || data["esc"] != data["raw"] {
		t.Errorf("data = %q", data)
	}
}

func TestSignErrors(t *testing.T) {
	now := time.Now()
	s := mustSigner(t, testSecret, time.Minute)
	tests := []struct {
		name   string
		claims Claims
	}{
		{"invalid JSON value", Claims{Data: session.Data{"k": raw(`{"SECRET":`)}}},
		{"empty value", Claims{Data: session.Data{"k": raw(``)}}},
		{"two values", Claims{Data: session.Data{"k": raw(`1 2`)}}},
		{"invalid UTF-8 value", Claims{Data: session.Data{"k": raw("\"SECRET\xff\"")}}},
		{"session without SID", Claims{HasSession: true, ExpiresAt: now}},
		{"session without ExpiresAt", Claims{HasSession: true, SID: "s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.Sign(tt.claims, now)
			if err == nil {
				t.Fatalf("Sign = %q, want an error", tok)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q leaks session data", err)
			}
		})
	}
}

func TestVerifyFails(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := mustSigner(t, otherSecret, time.Minute).Sign(Claims{New: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(tok string, at time.Time) error {
		_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return testSecret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return at }))
		return err
	}
	if err := parse(tok, now); err == nil {
		t.Error("a token signed with another secret verified")
	}
	good, err := mustSigner(t, testSecret, time.Minute).Sign(Claims{New: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := parse(good, now.Add(61*time.Second)); err == nil {
		t.Error("an expired token verified")
	}
	// A tampered payload fails.
	parts := strings.Split(good, ".")
	forged, _ := json.Marshal(map[string]any{"data": map[string]any{"admin": true}, "iat": now.Unix(), "exp": now.Unix() + 60, "new": false})
	if err := parse(parts[0]+"."+base64.RawURLEncoding.EncodeToString(forged)+"."+parts[2], now); err == nil {
		t.Error("a tampered token verified")
	}
}

func TestSID(t *testing.T) {
	s := mustSigner(t, testSecret, time.Minute)
	other := mustSigner(t, otherSecret, time.Minute)
	k1, k2 := session.NewKey(), session.NewKey()
	a, b := s.SID(k1), s.SID(k1)
	if a != b {
		t.Errorf("SID not stable: %q, %q", a, b)
	}
	if c := s.SID(k2); c == a {
		t.Errorf("two keys share SID %q", a)
	}
	if c := other.SID(k1); c == a {
		t.Errorf("two secrets give SID %q", a)
	}
	if len(a) != 22 || strings.ContainsAny(a, "+/=") {
		t.Errorf("SID %q is not 16 bytes of unpadded base64url", a)
	}
	if strings.Contains(a, k1) || strings.Contains(k1, a) {
		t.Errorf("SID %q contains the key %q", a, k1)
	}
	// Pinned value: the derivation is part of the wire contract.
	if got, want := s.SID("abcdefghijklmnopqrstuvwxyz012345"), referenceSID(testSecret, "abcdefghijklmnopqrstuvwxyz012345"); got != want {
		t.Errorf("SID = %q, want %q", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := mustSigner(t, testSecret, time.Minute)
	now := time.Now()
	want := s.SID("k")
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				if got := s.SID("k"); got != want {
					t.Errorf("SID = %q, want %q", got, want)
					return
				}
				if _, err := s.Sign(Claims{Data: session.Data{"a": raw(`1`)}, HasSession: true, SID: want, ExpiresAt: now}, now); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func BenchmarkSign(b *testing.B) { benchSign(b, mustSigner(b, testSecret, time.Minute), benchLogin) }

// benchLogin is a logged-in Django session with a cart: about 250 bytes.
var benchLogin = session.Data{
	"_auth_user_id":      raw(`"9007199254740993"`),
	"_auth_user_backend": raw(`"django.contrib.auth.backends.ModelBackend"`),
	"_auth_user_hash":    raw(`"3f1e0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"`),
	"cart":               raw(`{"items":[1,2,3],"total":"12.50"}`),
}

// benchSign measures s signing a token of a live session holding data.
func benchSign(b *testing.B, s *Signer, data session.Data) {
	now := time.Now()
	c := Claims{Data: data, HasSession: true, SID: s.SID(session.NewKey()), ExpiresAt: now.Add(14 * 24 * time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSID(b *testing.B) {
	s := mustSigner(b, testSecret, time.Minute)
	key := session.NewKey()
	b.ReportAllocs()
	for b.Loop() {
		_ = s.SID(key)
	}
}

// referenceSID is the SID derivation written out plainly.
func referenceSID(secret []byte, key string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("caddy-session sid\x00" + key))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// BenchmarkSign100: a session of about 100 bytes of JSON, the size issue
// 8's target (<= 3 µs) names.
func BenchmarkSign100(b *testing.B) {
	data := session.Data{
		"_auth_user_id": raw(`"42"`),
		"cart":          raw(`{"items":[1,2,3],"total":"12.50"}`),
		"theme":         raw(`"dark"`),
		"lang":          raw(`"en"`),
	}
	if n := session.Size(data); n < 90 || n > 110 {
		b.Fatalf("session of %d bytes; want about 100", n)
	}
	benchSign(b, mustSigner(b, testSecret, time.Minute), data)
}
