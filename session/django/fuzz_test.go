package django

import (
	"errors"
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

// FuzzDecode checks Decode with any stored value: it never panics, every
// refusal wraps session.ErrBadValue, and whatever it accepts encodes to a
// value that decodes to the same session (each value as Django would write
// it), which encodes to the same bytes again. Each input is tried as it
// is, and as the payload of a signed (plain and compressed) and a legacy
// value under the test key, so the fuzzer reaches past the signature. The
// seeds under testdata/fuzz/FuzzDecode were written by Django (encode,
// _legacy_encode, a pickled session) with the test key.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{}`, ``, `null`, `{"a":`, "\x80\x02}q\x00.",
		`{"k":"\ud83d\ude00\udc00\/","n":-0,"f":1.5e300,"o":{"x":[true,false,null]}}`,
		"{\"\xe9\":\"\x00\"}", "{\"a\":1}\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{
			b,
			[]byte(Dumps(b, testKey, SessionSalt, false, testNow)),
			[]byte(Dumps(b, testKey, SessionSalt, true, testNow)),
			legacyEncode(b, testKey),
		} {
			checkDecode(t, in)
		}
	})
}

func checkDecode(t *testing.T, in []byte) {
	t.Helper()
	c := testCodec()
	d, err := c.Decode(in)
	if err != nil {
		if !errors.Is(err, session.ErrBadValue) {
			t.Fatalf("Decode(%q) = %v, not an ErrBadValue", in, err)
		}
		return
	}
	enc, err := c.Encode(d)
	if err != nil {
		t.Fatalf("Decode(%q) gave %q, which does not encode: %v", in, d, err)
	}
	back, err := c.Decode(enc)
	if err != nil {
		t.Fatalf("Decode refuses %q, which Encode wrote for Decode(%q): %v", enc, in, err)
	}
	if len(back) != len(d) {
		t.Fatalf("Decode(%q) = %q\nencoded %q\ndecodes to %q", in, d, enc, back)
	}
	for k, v := range d {
		want := appendPyJSON(nil, v)
		if string(back[k]) != string(want) {
			t.Fatalf("[%q]: Decode(%q) gave %s, as Django writes it %s; after Encode and Decode %s", k, in, v, want, back[k])
		}
	}
	again, err := c.Encode(back)
	if err != nil || string(again) != string(enc) {
		t.Fatalf("encoding is not stable: %q then %q (%v)", enc, again, err)
	}
}
