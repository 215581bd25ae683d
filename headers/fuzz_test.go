package headers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseUpdate checks that any value is either accepted as valid JSON of
// the right shape or refused without being quoted, and that the family is
// always stripped.
func FuzzParseUpdate(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `["a"]`, "1", "default", "2030-01-02T03:04:05Z", `{"\u00e9":"é"}`, "\xff", `[null]`, "-1"} {
		f.Add("Set", s)
		f.Add("Delete", s)
		f.Add("Expiry", s)
		f.Add("cycle_key", s)
	}
	n, _ := NewNames("")
	f.Fuzz(func(t *testing.T, suffix, value string) {
		h := http.Header{"X-Session-" + suffix: {value}, "Other": {"x"}}
		u, err := n.ParseUpdate(h)
		if len(h) != 1 || h.Get("Other") != "x" {
			t.Fatalf("headers left: %v", h)
		}
		if err != nil {
			if u != nil {
				t.Fatal("update with error")
			}
			if len(value) > 8 && strings.Contains(err.Error(), value) {
				t.Fatalf("error %q quotes the value", err)
			}
			return
		}
		if u == nil {
			t.Fatal("nil update without error")
		}
		for k, v := range u.Set {
			if !utf8.ValidString(k) || !json.Valid(v) || !utf8.Valid(v) {
				t.Fatalf("bad field %q: %q", k, v)
			}
		}
		s := mustSigner(t, testSecret, time.Minute)
		if _, err := s.Sign(Claims{Data: u.Set}, time.Unix(0, 0)); err != nil {
			t.Fatalf("accepted data does not sign: %v", err)
		}
	})
}

// FuzzAppendString checks the token's key encoding against encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\\n\r\t\x00\x1f", "é日😀", "\xff\xfe", "\u2028", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		// encoding/json also turns each invalid byte into U+FFFD.
		var ref string
		enc, _ := json.Marshal(s)
		_ = json.Unmarshal(enc, &ref)
		if got != ref {
			t.Fatalf("%q: got %q, encoding/json gives %q", s, got, ref)
		}
	})
}
