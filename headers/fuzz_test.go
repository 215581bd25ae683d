package headers

// Fuzz targets. Each runs its seeds (f.Add and testdata/fuzz/<Name>/) with
// the unit tests; scripts/fuzz.sh fuzzes each one briefly, or for as long
// as FUZZTIME says. The properties are checked against references written
// from the contract, not from names.go and update.go.

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy-session/caddy-session/session"
)

// headerBlock reads "Name: value" lines into a header map. Names are kept
// verbatim, not canonicalised, so that every spelling a client, a CGI
// gateway or Go's trailer handling could produce reaches the code under
// test: "x_session_set: {}" or "Trailer:X-Session-Set: {}". A line
// without ": " is a name with an empty value.
func headerBlock(block string) http.Header {
	h := http.Header{}
	for _, line := range strings.Split(block, "\n") {
		name, value, _ := strings.Cut(line, ": ")
		h[name] = append(h[name], value)
	}
	return h
}

// refLower lowers ASCII letters only: a header name is compared
// byte-for-byte, never with Unicode case folding.
func refLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// refFold is the contract's comparison: case-insensitive, with '_' and '.'
// read as '-'.
func refFold(s string) string {
	return refLower(strings.NewReplacer("_", "-", ".", "-").Replace(s))
}

// refMember reports whether name belongs to the family of base (already
// lower case).
func refMember(base, name string) bool {
	f := refFold(name)
	return f == base || strings.HasPrefix(f, base+"-")
}

// refTrailerName removes http.TrailerPrefix, in any case, from a header map
// key.
func refTrailerName(key string) (string, bool) {
	p := http.TrailerPrefix
	if len(key) > len(p) && refLower(key[:len(p)]) == refLower(p) {
		return key[len(p):], true
	}
	return key, false
}

// refMemberKey is refMember for a header map key, which may be a trailer.
func refMemberKey(base, key string) bool {
	name, _ := refTrailerName(key)
	return refMember(base, name)
}

func refIsList(key string) bool {
	k := refLower(key)
	return k == "trailer" || k == "connection"
}

// refList is what a Trailer or Connection header must hold after
// stripping: the family's names removed from its comma-separated lists,
// empty elements dropped, values left with no name dropped, and the header
// gone when nothing is left. Without a family name it is untouched.
func refList(base string, vs []string) []string {
	hit := false
	var kept []string
	for _, v := range vs {
		var names []string
		for _, name := range strings.Split(v, ",") {
			name = strings.Trim(name, " \t\r\n")
			switch {
			case refMember(base, name):
				hit = true
			case name != "":
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			kept = append(kept, strings.Join(names, ", "))
		}
	}
	if !hit {
		return vs
	}
	return kept
}

// checkStripped fails t unless after is before with the family of base
// removed as the contract says: no key of the family in any spelling or as
// a trailer, Trailer and Connection lists purged of the family's names,
// every other header untouched.
func checkStripped(t *testing.T, base string, before, after http.Header) {
	t.Helper()
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("header %q appeared", k)
		}
		if refMemberKey(base, k) {
			t.Errorf("header %q of the family %q was not removed", k, base)
		}
	}
	for k, vs := range before {
		got, kept := after[k]
		switch {
		case refMemberKey(base, k):
			// Checked above.
		case refIsList(k):
			switch want := refList(base, vs); {
			case len(want) == 0 && kept:
				t.Errorf("list header %q left as %q, want it removed (from %q)", k, got, vs)
			case len(want) > 0 && !slices.Equal(got, want):
				t.Errorf("list header %q = %q, want %q (from %q)", k, got, want, vs)
			}
		case !kept || !slices.Equal(got, vs):
			t.Errorf("header %q outside the family changed from %q to %q", k, vs, got)
		}
	}
}

// FuzzStrip checks Names.Strip on any header map and any valid base name
// against the reference above.
func FuzzStrip(f *testing.F) {
	f.Add("", "X-Session: forged\nx_session_set: {}\nX.SESSION.FLUSH: 1\nAccept: */*")
	f.Add("", "Trailer:X-Session-Set: {}\ntrailer:x_session: t\nTrailer:Grpc-Status: 0")
	f.Add("", "Trailer: X-Session-Set, Grpc-Status\nTrailer: x_session_flush\nConnection: keep-alive, X.Session")
	f.Add("X-App-Sess", "X-App-Sess: forged\nX-Session-Set: {}\nTrailer: X-App-Sess-Set, X-Session-Set")
	f.Add("", "X-Sessionx: a\nX-Sessions-Foo: b\nSession: c\nX-Session-: d")
	f.Fuzz(func(t *testing.T, base, block string) {
		n, err := NewNames(base)
		if err != nil {
			// Most random bases are invalid; fuzz the default instead.
			base = ""
			n, _ = NewNames("")
		}
		if base == "" {
			base = DefaultBase
		}
		h := headerBlock(block)
		before := h.Clone()
		n.Strip(h)
		checkStripped(t, refLower(base), before, h)
	})
}

// FuzzParseUpdate checks that any set of response headers either yields an
// update of the right shape or a *HeaderError that does not quote a value,
// that the family is always stripped exactly as Strip strips it, and that
// the outcome does not depend on the order in which the map is read.
func FuzzParseUpdate(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `["a"]`, "1", "default", "2030-01-02T03:04:05Z", `{"\u00e9":"é"}`, "\xff", `[null]`, "-1"} {
		for _, suffix := range []string{"Set", "Delete", "Expiry", "cycle_key"} {
			f.Add("X-Session-" + suffix + ": " + s + "\nOther: x")
		}
	}
	// Several headers and spellings at once, and trailers: more under
	// testdata/fuzz/FuzzParseUpdate.
	f.Add("X-Session-Set: {\"a\":1}\nx_session_set: {\"b\":2}\nX-Session-Delete: [\"c\"]\nX-Session-Flush: 1")
	f.Add("X-Session-Set: {\"a\":1}\nX.Session.Set: {\"a\":2}")
	f.Add("Trailer: X-Session-Set\nTrailer:X-Session-Set: {\"a\":1}")
	const base = "x-session"
	n, _ := NewNames("")
	f.Fuzz(func(t *testing.T, block string) {
		h := headerBlock(block)
		before := h.Clone()
		u, err := n.ParseUpdate(h)
		checkStripped(t, base, before, h)

		// Map order is random: parsing again, in whatever order the map
		// gives this time, must agree. Several times, since a small map
		// starts its iteration at one of 8 slots.
		for range 16 {
			u2, err2 := n.ParseUpdate(before.Clone())
			if !reflect.DeepEqual(u, u2) || errString(err) != errString(err2) {
				t.Fatalf("parsing again differs:\n%+v, %v\n%+v, %v", u, err, u2, err2)
			}
		}

		if err != nil {
			if u != nil {
				t.Fatal("update with error")
			}
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("error %v is a %T, want *HeaderError", err, err)
			}
			if !refMember(base, he.Header) {
				t.Errorf("error names %q, not a session header", he.Header)
			}
			for k, vs := range before {
				if !refMemberKey(base, k) {
					continue
				}
				for _, v := range vs {
					if len(v) > 8 && strings.Contains(he.Reason, v) {
						t.Fatalf("error %q quotes the value %q", err, v)
					}
				}
			}
			return
		}
		if u == nil {
			// Nothing but the bare base (a token echoed back) may be
			// ignored.
			for k := range before {
				name, _ := refTrailerName(k)
				if refMember(base, name) && refFold(name) != base {
					t.Fatalf("header %q ignored", k)
				}
			}
			return
		}
		for k, v := range u.Set {
			if !utf8.ValidString(k) || !json.Valid(v) || !utf8.Valid(v) {
				t.Fatalf("bad field %q: %q", k, v)
			}
		}
		for _, k := range u.Delete {
			if !utf8.ValidString(k) {
				t.Fatalf("bad key to delete %q", k)
			}
		}
		if u.Expiry != nil {
			checkExpiry(t, u.Expiry)
		}
		s := mustSigner(t, testSecret, time.Minute)
		if _, err := s.Sign(Claims{Data: u.Set}, time.Unix(0, 0)); err != nil {
			t.Fatalf("accepted data does not sign: %v", err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkExpiry checks an accepted expiry: exactly one form, seconds that fit
// a time.Duration, a time that is set.
func checkExpiry(t *testing.T, e *session.Expiry) {
	t.Helper()
	forms := 0
	if e.Default {
		forms++
	}
	if !e.At.IsZero() {
		forms++
	}
	if forms > 1 || forms == 1 && e.Seconds != 0 {
		t.Fatalf("expiry %+v has more than one form", e)
	}
	if e.Seconds < 0 || e.Seconds > math.MaxInt64/int64(time.Second) {
		t.Fatalf("expiry of %d seconds overflows time.Duration", e.Seconds)
	}
	if d := time.Duration(e.Seconds) * time.Second; d/time.Second != time.Duration(e.Seconds) {
		t.Fatalf("expiry of %d seconds wraps to %v", e.Seconds, d)
	}
}

// refSeconds is the contract's integer seconds: ASCII digits only.
var refSeconds = regexp.MustCompile(`^[0-9]+$`)

// FuzzParseExpiry checks X-Session-Expiry with any value through
// ParseUpdate against the contract: integer seconds within the range of a
// time.Duration, "default", or an RFC 3339 time, after trimming the
// header's surrounding whitespace; anything else is refused.
func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{
		"0", "60", "1209600", " 3600 ", "007", "9223372036", "9223372037",
		"9223372036854775807", "9223372036854775808", "99999999999999999999",
		"-1", "-0", "+5", "1.5", "1e3", "0x10", "", " ", "default", "Default",
		"DEFAULT", "none", "2030-01-02T03:04:05Z", "2030-01-02T03:04:05.123456789+02:00",
		"2030-01-02T03:04:05", "2030-01-02 03:04:05Z", "0001-01-01T00:00:00Z",
		"0001-01-01T01:00:00+01:00", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59",
		"2030-02-30T00:00:00Z", "2030-01-02T24:00:00Z", "2030-01-02t03:04:05z",
		"١٢٣", "\xff", "60\x00",
	} {
		f.Add(s)
	}
	n, _ := NewNames("")
	f.Fuzz(func(t *testing.T, value string) {
		u, err := n.ParseUpdate(http.Header{"X-Session-Expiry": {value}})
		v := strings.Trim(value, " \t\r\n")

		var want *session.Expiry
		switch {
		case v == "default":
			want = &session.Expiry{Default: true}
		case refSeconds.MatchString(v):
			if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs <= math.MaxInt64/int64(time.Second) {
				want = &session.Expiry{Seconds: secs}
			}
		default:
			if at, err := time.Parse(time.RFC3339, v); err == nil && !at.IsZero() {
				want = &session.Expiry{At: at}
			}
		}

		if want == nil {
			if err == nil {
				t.Fatalf("Expiry %q accepted as %+v, want refused", value, u.Expiry)
			}
			return
		}
		if err != nil {
			t.Fatalf("Expiry %q refused (%v), want %+v", value, err, want)
		}
		if u == nil || u.Expiry == nil {
			t.Fatalf("Expiry %q accepted without an expiry: %+v", value, u)
		}
		got := u.Expiry
		checkExpiry(t, got)
		if got.Default != want.Default || got.Seconds != want.Seconds || !got.At.Equal(want.At) {
			t.Fatalf("Expiry %q = %+v, want %+v", value, got, want)
		}
		if !got.At.IsZero() {
			// What the session stores must read back as the same instant,
			// to the microsecond Django keeps.
			back, err := session.ParseTime(session.FormatTime(got.At))
			if err != nil || !back.Equal(got.At.Truncate(time.Microsecond)) {
				t.Fatalf("Expiry %q stored as %q reads back as %v, %v", value, session.FormatTime(got.At), back, err)
			}
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
