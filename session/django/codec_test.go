package django

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

func testCodec() Codec {
	return Codec{Key: testKey, Now: func() time.Time { return testNow }}
}

// legacyEncode is Django's _legacy_encode, which the package only reads.
func legacyEncode(serialized, key []byte) []byte {
	sum := hex.EncodeToString(saltedHMAC(sha1.New, LegacySalt, key, serialized))
	return []byte(base64.StdEncoding.EncodeToString(append([]byte(sum+":"), serialized...)))
}

func TestSalts(t *testing.T) {
	// What base.py derives from the class name SessionStore.
	for got, want := range map[string]string{
		SessionSalt:       "django.contrib.sessions.SessionStore",
		LegacySalt:        "django.contrib.sessionsSessionStore",
		SignedCookiesSalt: "django.contrib.sessions.backends.signed_cookies",
	} {
		if got != want {
			t.Errorf("salt %q, want %q", got, want)
		}
	}
}

func TestMarshalPy(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    session.Data
		want string
	}{
		{"compact", session.Data{"b": []byte(` [ 1 , {"x" : null} ] `), "a": []byte(`true`)}, `{"a":true,"b":[1,{"x":null}]}`},
		{"numbers verbatim", session.Data{"n": []byte(`9007199254740993`), "f": []byte(`1.50e+2`)}, `{"f":1.50e+2,"n":9007199254740993}`},
		{"non-ASCII raw", session.Data{"é": []byte(`"日本 😀"`)}, `{"\u00e9":"\u65e5\u672c \ud83d\ude00"}`},
		{"non-ASCII escaped", session.Data{"k": []byte(`"\u65E5\uD83D\uDE00"`)}, `{"k":"\u65e5\ud83d\ude00"}`},
		{"lone surrogate kept", session.Data{"k": []byte(`"\ud800x"`)}, `{"k":"\ud800x"}`},
		{"short escapes", session.Data{"k": []byte(`"\"\\\/\b\f\n\r\t\u0001\u001f\u007f\u0041"`)}, `{"k":"\"\\/\b\f\n\r\t\u0001\u001f\u007fA"}`},
		{"HTML not escaped", session.Data{"<&>": []byte(`"</script>\u2028"`)}, `{"<&>":"</script>\u2028"}`},
		{"control in key", session.Data{"a\nb\x7f": []byte(`0`)}, `{"a\nb\u007f":0}`},
		{"invalid UTF-8", session.Data{"k": []byte("\"\xff\"")}, `{"k":"\ufffd"}`},
		{"empty", session.Data{}, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := marshalPy(tc.d)
			if err != nil || string(got) != tc.want {
				t.Errorf("marshalPy = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
	if _, err := marshalPy(session.Data{"k": []byte(`{`)}); err == nil || strings.Contains(err.Error(), "{") {
		t.Errorf("marshalPy of a bad value: %v, want an error that does not quote it", err)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	c := testCodec()
	d := session.Data{
		"_auth_user_id": []byte(`"42"`),
		"n":             []byte(`9007199254740993`),
		"cart":          []byte(`{"items":[1,2,3],"note":"` + strings.Repeat("ab", 100) + `"}`),
		"é":             []byte(`"😀"`),
	}
	b, err := c.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), ".") {
		t.Errorf("Encode = %q: a compressible session is not compressed", b)
	}
	got, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"_auth_user_id": `"42"`,
		"n":             `9007199254740993`,
		"cart":          string(d["cart"]),
		"é":             `"\ud83d\ude00"`,
	}
	if len(got) != len(want) {
		t.Fatalf("Decode = %q, want %q", got, want)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("Decode[%q] = %s, want %s", k, got[k], v)
		}
	}
	if _, err := (Codec{}).Encode(d); err == nil {
		t.Error("Encode without a key succeeded")
	}
}

func TestCodecKeys(t *testing.T) {
	old := Codec{Key: oldKey, Now: testCodec().Now}
	b, err := old.Encode(session.Data{"a": []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	rotated := testCodec()
	rotated.Fallbacks = [][]byte{oldKey}
	if _, err := rotated.Decode(b); err != nil {
		t.Errorf("a value signed with a fallback: %v", err)
	}
	if _, err := testCodec().Decode(b); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a value signed with an unknown key: %v, want %v", err, ErrBadSignature)
	}
	legacy := legacyEncode([]byte(`{"a":1}`), oldKey)
	if _, err := rotated.Decode(legacy); err != nil {
		t.Errorf("a legacy value signed with a fallback: %v", err)
	}
	// New values are signed with Key alone.
	b, err = rotated.Encode(session.Data{"a": []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Decode(b); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Encode signed with a fallback: %v", err)
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	c := testCodec()
	signed := func(s string) []byte { return []byte(Dumps([]byte(s), testKey, SessionSalt, false, testNow)) }
	legacy := func(s string) []byte { return legacyEncode([]byte(s), testKey) }
	good := signed(`{"secret":"hunter2"}`)
	tampered := append([]byte(nil), good...)
	tampered[3] ^= 1
	for _, tc := range []struct {
		name   string
		b      []byte
		want   error
		reason string
	}{
		{"tampered", tampered, ErrBadSignature, "signature mismatch"},
		{"not JSON", signed(`{"a":`), errNotJSON, "not JSON"},
		{"not an object", signed(`["a"]`), errNotObject, "not a JSON object"},
		{"null", signed(`null`), errNotObject, "not a JSON object"},
		{"NaN (Python writes it, JSON has none)", signed(`{"a":NaN}`), errNotJSON, "not JSON"},
		{"pickled", signed("\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."), ErrPickled, "pickled session refused"},
		{"legacy tampered", legacy(`{"a":1}`)[1:], ErrMalformed, "legacy encoding: malformed value"},
		{"legacy bad hash", legacyEncode([]byte(`{"a":1}`), oldKey), ErrBadSignature, "legacy encoding: signature mismatch"},
		{"legacy pickled", legacy("\x80\x02}q\x00."), ErrPickled, "legacy encoding: pickled session refused"},
		{"legacy not JSON", legacy(`secret`), errNotJSON, "legacy encoding: not JSON"},
		{"legacy without hash", []byte(base64.StdEncoding.EncodeToString([]byte(`[1,2]`))), ErrMalformed, "legacy encoding: malformed value"},
		{"too large", make([]byte, 2*MaxPayload), ErrTooLarge, "session too large"},
		{"empty", nil, ErrMalformed, "malformed value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.Decode(tc.b)
			if !errors.Is(err, session.ErrBadValue) || !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %q, %v; want %v wrapping %v", d, err, session.ErrBadValue, tc.want)
			}
			if msg := err.Error(); !strings.HasSuffix(msg, ": "+tc.reason) || strings.Contains(msg, "hunter2") {
				t.Errorf("error %q: want the reason %q and nothing of the value", msg, tc.reason)
			}
		})
	}
}

// TestCodecSignedCookies checks the codec as the signed_cookies engine
// uses it: its own salt, a maximum age, and no legacy format.
func TestCodecSignedCookies(t *testing.T) {
	c := Codec{Key: testKey, Salt: SignedCookiesSalt, MaxAge: time.Hour, Now: testCodec().Now}
	b, err := c.Encode(session.Data{"a": []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode(b); err != nil {
		t.Errorf("Decode: %v", err)
	}
	if _, err := testCodec().Decode(b); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a signed cookie decodes as a stored session: %v", err)
	}
	late := c
	late.Now = func() time.Time { return testNow.Add(time.Hour + time.Second) }
	if _, err := late.Decode(b); !errors.Is(err, ErrExpired) || !errors.Is(err, session.ErrBadValue) {
		t.Errorf("an expired cookie: %v, want %v", err, ErrExpired)
	}
	// A legacy value is what a stored engine held, never a cookie.
	if _, err := c.Decode(legacyEncode([]byte(`{"a":1}`), testKey)); err == nil {
		t.Error("the signed_cookies codec reads the legacy format")
	}
}

func TestDecodeLatin1(t *testing.T) {
	// Django reads the serialized bytes as Latin-1, so raw UTF-8 (which it
	// never writes) comes back as one character per byte.
	d, err := testCodec().Decode([]byte(Dumps([]byte("{\"k\":\"\xc3\xa9\"}"), testKey, SessionSalt, false, testNow)))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(d["k"]); got != "\"Ã©\"" {
		t.Errorf("Decode = %s, want %s", got, "\"Ã©\"")
	}
}
