package django

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// These tests hold the package to a real Django (see oracle_test.go).

// sessions are the dicts both sides encode, as JSON text so that Python
// reads big integers exactly.
var sessions = []struct {
	name string
	json string
}{
	{"tiny", `{"_auth_user_id":"42"}`},
	{"small", `{"_auth_user_id":"42","_auth_user_backend":"django.contrib.auth.backends.ModelBackend"}`},
	{"non-ASCII", `{"é":"日本語 😀","q":"\"\\/\n\t\u0001\u007f","lone":"\ud800","<>":"</script>\u2028"}`},
	{"numbers", `{"n":9007199254740993,"neg":-9007199254740993,"f":1.5,"e":1e+300,"z":0}`},
	{"nested", `{"cart":{"items":[{"id":1,"qty":2},null,true,false],"total":"12.50"},"_session_expiry":3600}`},
	{"compressible", `{"blob":"` + strings.Repeat("x", 500) + `","list":[` + strings.TrimSuffix(strings.Repeat("7,", 50), ",") + `]}`},
}

// sessionJSON is the named session of sessions.
func sessionJSON(name string) string {
	for _, s := range sessions {
		if s.name == name {
			return s.json
		}
	}
	panic("no session " + name)
}

// assertValues checks that d holds exactly want, value text byte for byte.
func assertValues(t *testing.T, d session.Data, want map[string]string) {
	t.Helper()
	if len(d) != len(want) {
		t.Errorf("got %d keys %q, want %d %q", len(d), d, len(want), want)
	}
	for k, v := range want {
		if got, ok := d[k]; !ok || string(got) != v {
			t.Errorf("[%q] = %s, want %s", k, got, v)
		}
	}
}

// TestReadsDjango: what SessionStore.encode writes, Decode reads, every
// value the text Django's serializer wrote for it.
func TestReadsDjango(t *testing.T) {
	var out []struct {
		Encoded string
		Values  map[string]string
	}
	in := make([]string, len(sessions))
	for i, s := range sessions {
		in[i] = s.json
	}
	runDjango(t, djangoSettings{Secret: string(testKey)}, `
out = []
for text in inp:
    d = json.loads(text)
    out.append({"Encoded": SessionStore().encode(d), "Values": {k: compact(v) for k, v in d.items()}})
`, in, &out)
	compressed := 0
	for i, s := range sessions {
		t.Run(s.name, func(t *testing.T) {
			enc := out[i].Encoded
			if strings.HasPrefix(enc, ".") {
				compressed++
			}
			d, err := testCodec().Decode([]byte(enc))
			if err != nil {
				t.Fatalf("Decode(%q): %v", enc, err)
			}
			assertValues(t, d, out[i].Values)
		})
	}
	if compressed == 0 || compressed == len(sessions) {
		t.Errorf("Django compressed %d of %d sessions: the test wants both kinds", compressed, len(sessions))
	}
}

// TestDjangoReads: what Encode writes, SessionStore.decode reads as the same
// dict, serialized byte for byte as Django's serializer would (keys
// sorted); and the signed_cookies engine loads the same from its own salt.
func TestDjangoReads(t *testing.T) {
	cases := []struct {
		name  string
		d     session.Data
		exact bool // numbers are in the form Python writes them
	}{
		{"raw UTF-8 and whitespace", session.Data{
			"é":    []byte(` "日本語 😀" `),
			"user": []byte(`{ "id" : 42, "roles" : [ "a", "b" ] }`),
			"n":    []byte(`9007199254740993`),
		}, true},
		{"escapes", session.Data{
			"k":    []byte(`"\u65E5\/\"\\\b\f\n\r\t\u0001\u007f\ud83d\ude00"`),
			"lone": []byte(`"\udc00"`),
			"<&>":  []byte(`"</script>\u2028"`),
			"ctl":  []byte(`"` + "\u0080\u00ff" + `"`),
		}, true},
		{"numbers Python rewrites", session.Data{
			"f": []byte(`1.50`), "e": []byte(`1E2`), "z": []byte(`-0`), "big": []byte(`123456789012345678901234567890`),
		}, false},
		{"compressible", session.Data{
			"blob": []byte(`"` + strings.Repeat("ab", 300) + `"`),
		}, true},
	}
	type result struct {
		Equal, SignedCookieEqual bool
		Serialized               string
	}
	var in []map[string]string
	c := testCodec()
	// The signed_cookies engine checks the age against the real clock.
	sc := Codec{Key: testKey, Salt: SignedCookiesSalt}
	var ours []string
	for _, tc := range cases {
		orig, err := session.MarshalData(tc.d)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := c.Encode(tc.d)
		if err != nil {
			t.Fatal(err)
		}
		cookie, err := sc.Encode(tc.d)
		if err != nil {
			t.Fatal(err)
		}
		serialized, err := LoadsAt(string(enc), [][]byte{testKey}, SessionSalt, 0, testNow)
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, string(serialized))
		in = append(in, map[string]string{"orig": string(orig), "enc": string(enc), "cookie": string(cookie)})
	}
	var out []result
	runDjango(t, djangoSettings{Secret: string(testKey)}, `
out = []
for c in inp:
    want = json.loads(c["orig"])
    got = SessionStore().decode(c["enc"])
    cookie = SignedCookieStore(session_key=c["cookie"]).load()
    out.append({"Equal": got == want, "SignedCookieEqual": cookie == want,
        "Serialized": json.dumps(got, separators=(",", ":"), sort_keys=True)})
`, in, &out)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !out[i].Equal {
				t.Errorf("Django decoded %s from %s, not the session", out[i].Serialized, in[i]["enc"])
			}
			if !out[i].SignedCookieEqual {
				t.Errorf("Django's signed_cookies engine did not load %s", in[i]["cookie"])
			}
			if tc.exact && out[i].Serialized != ours[i] {
				t.Errorf("Django serializes the session as\n%s\nEncode wrote\n%s", out[i].Serialized, ours[i])
			}
		})
	}
}

// TestReadsLegacy: what Django 3.0 and older stored (Django 3.2 still
// writes it with DEFAULT_HASHING_ALGORITHM = 'sha1'), and SHA-1 signed
// values (the signed_cookies engine under that setting) are read.
func TestReadsLegacy(t *testing.T) {
	var out []struct {
		Legacy, Cookie string
		Values         map[string]string
	}
	in := []string{sessionJSON("tiny"), sessionJSON("non-ASCII"), sessionJSON("compressible")}
	runDjango(t, djangoSettings{Secret: string(testKey), Hashing: "sha1"}, `
out = []
for text in inp:
    d = json.loads(text)
    s = SignedCookieStore()
    s.update(d)
    out.append({"Legacy": SessionStore().encode(d), "Cookie": s._get_session_key(),
        "Values": {k: compact(v) for k, v in d.items()}})
`, in, &out)
	sc := testCodec()
	sc.Salt = SignedCookiesSalt
	for _, o := range out {
		if strings.Contains(o.Legacy, ":") {
			t.Fatalf("Django wrote %q, not the legacy format", o.Legacy)
		}
		d, err := testCodec().Decode([]byte(o.Legacy))
		if err != nil {
			t.Fatalf("Decode(%q): %v", o.Legacy, err)
		}
		assertValues(t, d, o.Values)
		if n := len(strings.Split(o.Cookie, ":")[2]); n != 27 {
			t.Fatalf("Django's cookie %q has a %d-character signature, not SHA-1's", o.Cookie, n)
		}
		d, err = sc.Decode([]byte(o.Cookie))
		if err != nil {
			t.Fatalf("Decode(%q): %v", o.Cookie, err)
		}
		assertValues(t, d, o.Values)
	}
}

// TestDjangoKeyRotation: a value Django signed with the old SECRET_KEY
// verifies through Fallbacks, signed or legacy; a new value is signed with
// Key alone, so Django with the new key reads it and with the old does not.
func TestDjangoKeyRotation(t *testing.T) {
	var old struct{ Signed, Legacy string }
	d := map[string]any{"a": 1}
	runDjango(t, djangoSettings{Secret: string(oldKey)}, `out = {"Signed": SessionStore().encode(inp)}`, d, &old)
	var legacy struct{ Signed, Legacy string }
	runDjango(t, djangoSettings{Secret: string(oldKey), Hashing: "sha1"}, `out = {"Legacy": SessionStore().encode(inp)}`, d, &legacy)
	old.Legacy = legacy.Legacy

	rotated := testCodec()
	rotated.Fallbacks = [][]byte{oldKey}
	for _, v := range []string{old.Signed, old.Legacy} {
		got, err := rotated.Decode([]byte(v))
		if err != nil {
			t.Fatalf("Decode(%q) with the old key as a fallback: %v", v, err)
		}
		assertValues(t, got, map[string]string{"a": "1"})
		if _, err := testCodec().Decode([]byte(v)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Decode(%q) without the fallback: %v, want %v", v, err, ErrBadSignature)
		}
	}

	enc, err := rotated.Encode(session.Data{"a": []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  []byte
		want map[string]any
	}{{testKey, d}, {oldKey, map[string]any{}}} {
		var got map[string]any
		runDjango(t, djangoSettings{Secret: string(tc.key)}, `out = SessionStore().decode(inp)`, string(enc), &got)
		if len(got) != len(tc.want) {
			t.Errorf("Django with key %q decodes %s as %v, want %v", tc.key, enc, got, tc.want)
		}
	}
}

// TestTamperedDjango: any changed character of a value Django wrote, in its
// payload, timestamp or signature, is refused.
func TestTamperedDjango(t *testing.T) {
	var vals struct{ Plain, Compressed string }
	runDjango(t, djangoSettings{Secret: string(testKey)}, `
out = {"Plain": SessionStore().encode(json.loads(inp[0])), "Compressed": SessionStore().encode(json.loads(inp[1]))}
`, []string{sessionJSON("tiny"), sessionJSON("compressible")}, &vals)
	var legacy string
	runDjango(t, djangoSettings{Secret: string(testKey), Hashing: "sha1"}, `out = SessionStore().encode(json.loads(inp))`, sessionJSON("small"), &legacy)

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	c := testCodec()
	for _, v := range []string{vals.Plain, vals.Compressed} {
		parts := strings.Split(v, ":")
		ts := len(parts[0]) + 1
		sig := ts + len(parts[1]) + 1
		for name, bad := range map[string]string{
			"payload start":  flip(v, 1),
			"payload end":    flip(v, ts-2),
			"timestamp":      flip(v, ts),
			"signature":      flip(v, sig+5),
			"signature end":  flip(v, len(v)-1),
			"truncated":      v[:len(v)-1],
			"extended":       v + "A",
			"no compression": strings.TrimPrefix(v, "."),
			"compression":    "." + v,
		} {
			if bad == v {
				continue
			}
			if _, err := c.Decode([]byte(bad)); !errors.Is(err, session.ErrBadValue) || !errors.Is(err, ErrBadSignature) {
				t.Errorf("%s changed: Decode(%q) = %v, want %v", name, bad, err, ErrBadSignature)
			}
		}
	}
	for i := range legacy {
		bad := flip(legacy, i)
		if bad == legacy {
			continue
		}
		if d, err := c.Decode([]byte(bad)); !errors.Is(err, session.ErrBadValue) {
			t.Errorf("legacy value changed at %d: Decode(%q) = %q, %v", i, bad, d, err)
		}
	}
}

// TestPickledDjango: sessions Django pickled (PickleSerializer), signed or
// legacy, compressed or not, are refused with the pickle reason.
func TestPickledDjango(t *testing.T) {
	script := `
d = json.loads(inp)
out = {"Stored": SessionStore().encode(d),
    "Plain": signing.dumps(d, salt="django.contrib.sessions.SessionStore", serializer=PickleSerializer)}
`
	var signed, legacy struct{ Stored, Plain string }
	runDjango(t, djangoSettings{Secret: string(testKey), Serializer: pickleSerializer}, script, sessionJSON("compressible"), &signed)
	runDjango(t, djangoSettings{Secret: string(testKey), Serializer: pickleSerializer, Hashing: "sha1"}, script, sessionJSON("small"), &legacy)
	if !strings.HasPrefix(signed.Stored, ".") {
		t.Errorf("Django's pickled session %q is not compressed; the test wants one that is", signed.Stored)
	}
	for name, v := range map[string]string{"signed compressed": signed.Stored, "signed": signed.Plain, "legacy": legacy.Stored} {
		d, err := testCodec().Decode([]byte(v))
		if !errors.Is(err, session.ErrBadValue) || !errors.Is(err, ErrPickled) || !strings.Contains(err.Error(), "pickled session refused") {
			t.Errorf("%s: Decode(%q) = %q, %v; want %v", name, v, d, err, ErrPickled)
		}
	}
}

// TestDumpsMatchesDjango: at the same second, Dumps writes what
// signing.dumps writes, byte for byte, and Encode what SessionStore.encode
// writes, when the payload is not compressed (Go's deflate and zlib
// compress the same text to different bytes, and zlib's are a few bytes
// shorter, so a session Django compresses Dumps may not; TestReadsDjango
// and TestDjangoReads show each reads the other's).
func TestDumpsMatchesDjango(t *testing.T) {
	const secret = "clé secrète: 🔑"
	type dump struct {
		Obj, Salt string
		Compress  bool
	}
	dumps := []dump{
		{`{"a":1}`, SessionSalt, false},
		{`{"a":1}`, SessionSalt, true},
		{`{"é":"😀","n":9007199254740993}`, SignedCookiesSalt, false},
		{`{"blob":"` + strings.Repeat("x", 300) + `"}`, "django.core.signing", false},
		{`[1,"two",null]`, "any salt", true},
		{`"hello"`, "django.core.signing", false},
	}
	now := testNow.Add(700 * time.Millisecond) // Django truncates the time to the second
	var out struct {
		Dumps   [][2]string // the serializer's output, and signing.dumps's
		Encoded []string
	}
	// Sessions neither side compresses, keys sorted as Encode sorts them
	// (Django keeps the dict's order).
	sorted := []string{`{"_auth_user_id":"42"}`, `{"cart":[3,1,4],"uid":"7f3a9c"}`, `{"n":9007199254740993,"é":"😀"}`}
	runDjango(t, djangoSettings{Secret: secret}, `
out = {"Dumps": [], "Encoded": []}
with mock.patch("time.time", return_value=inp["now"]):
    for d in inp["dumps"]:
        obj = json.loads(d["Obj"])
        out["Dumps"].append([compact(obj), signing.dumps(obj, key=inp["key"], salt=d["Salt"], compress=d["Compress"])])
    for text in inp["sessions"]:
        out["Encoded"].append(SessionStore().encode(json.loads(text)))
`, map[string]any{
		"now":      float64(now.UnixMilli()) / 1000,
		"key":      string(oldKey),
		"dumps":    dumps,
		"sessions": sorted,
	}, &out)
	for i, d := range dumps {
		serialized, want := out.Dumps[i][0], out.Dumps[i][1]
		if got := Dumps([]byte(serialized), oldKey, d.Salt, d.Compress, now); got != want {
			t.Errorf("Dumps(%s, salt %q, compress %v) =\n%s\nDjango:\n%s", serialized, d.Salt, d.Compress, got, want)
		}
	}
	c := Codec{Key: []byte(secret), Now: func() time.Time { return now }}
	for i, text := range sorted {
		var d session.Data
		if err := json.Unmarshal([]byte(text), &d); err != nil {
			t.Fatal(err)
		}
		got, err := c.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != out.Encoded[i] {
			t.Errorf("Encode(%s) =\n%s\nDjango:\n%s", text, got, out.Encoded[i])
		}
	}
}
