package headers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// raw is shorthand for the JSON text of a session value.
func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestParseUpdate(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		base string // "" for the default
		in   http.Header
		want *session.Update
	}{
		{
			name: "no headers",
			in:   http.Header{"Content-Type": {"text/html"}},
			want: nil,
		},
		{
			name: "nil header",
			in:   nil,
			want: nil,
		},
		{
			name: "bare base echoed back is ignored",
			in:   http.Header{"X-Session": {"eyJhbGciOi.x.y"}, "x_session": {"junk"}},
			want: nil,
		},
		{
			name: "set",
			in:   http.Header{"X-Session-Set": {`{"user_id":42,"name":"ann"}`}},
			want: &session.Update{Set: session.Data{"user_id": raw(`42`), "name": raw(`"ann"`)}},
		},
		{
			name: "incr",
			in:   http.Header{"X-Session-Incr": {`{"views":1,"credit":-250}`}},
			want: &session.Update{Incr: map[string]int64{"views": 1, "credit": -250}},
		},
		{
			name: "incr lines and spellings add up",
			in:   http.Header{"X-Session-Incr": {`{"n":1}`, `{"n":2}`}, "x_session_incr": {`{"n":4,"m":-1}`}},
			want: &session.Update{Incr: map[string]int64{"n": 7, "m": -1}},
		},
		{
			name: "incr with set of the same key",
			in:   http.Header{"X-Session-Set": {`{"n":10}`}, "X-Session-Incr": {`{"n":1}`}},
			want: &session.Update{Set: session.Data{"n": raw(`10`)}, Incr: map[string]int64{"n": 1}},
		},
		{
			name: "set underscore spelling",
			in:   http.Header{"x_session_set": {`{"a":true}`}},
			want: &session.Update{Set: session.Data{"a": raw(`true`)}},
		},
		{
			name: "set dotted spelling",
			in:   http.Header{"X.Session.Set": {`{"a":null}`}},
			want: &session.Update{Set: session.Data{"a": raw(`null`)}},
		},
		{
			name: "set empty object",
			in:   http.Header{"X-Session-Set": {`{}`}},
			want: &session.Update{Set: session.Data{}},
		},
		{
			name: "set values compacted",
			in:   http.Header{"X-Session-Set": {` { "a" : [ 1, 2 ,{"b" : "x y"} ] } `}},
			want: &session.Update{Set: session.Data{"a": raw(`[1,2,{"b":"x y"}]`)}},
		},
		{
			name: "set repeated merges in order, not split on commas",
			in:   http.Header{"X-Session-Set": {`{"a":1,"b":2}`, `{"b":3,"c":[4,5]}`}},
			want: &session.Update{Set: session.Data{"a": raw(`1`), "b": raw(`3`), "c": raw(`[4,5]`)}},
		},
		{
			name: "set duplicate field in one object: last wins",
			in:   http.Header{"X-Session-Set": {`{"a":1,"a":2}`}},
			want: &session.Update{Set: session.Data{"a": raw(`2`)}},
		},
		{
			name: "set same value under two spellings",
			in:   http.Header{"X-Session-Set": {`{"a":1}`}, "x_session_set": {`{"a":1,"b":2}`}},
			want: &session.Update{Set: session.Data{"a": raw(`1`), "b": raw(`2`)}},
		},
		{
			name: "big integer keeps its digits",
			in:   http.Header{"X-Session-Set": {`{"n":9007199254740993,"f":1.10,"e":1E+400}`}},
			want: &session.Update{Set: session.Data{"n": raw(`9007199254740993`), "f": raw(`1.10`), "e": raw(`1E+400`)}},
		},
		{
			name: "raw UTF-8 kept",
			in:   http.Header{"X-Session-Set": {`{"é":"café 日本 😀"}`}},
			want: &session.Update{Set: session.Data{"é": raw(`"café 日本 😀"`)}},
		},
		{
			name: "escapes kept, key decoded",
			in:   http.Header{"X-Session-Set": {`{"\u00e9":"caf\u00e9 \u65e5\u672c \ud83d\ude00"}`}},
			want: &session.Update{Set: session.Data{"é": raw(`"caf\u00e9 \u65e5\u672c \ud83d\ude00"`)}},
		},
		{
			name: "delete",
			in:   http.Header{"X-Session-Delete": {`["a","b"]`}},
			want: &session.Update{Delete: []string{"a", "b"}},
		},
		{
			name: "delete repeated concatenates",
			in:   http.Header{"X-Session-Delete": {`["a","b"]`, `["c"]`, `[]`}},
			want: &session.Update{Delete: []string{"a", "b", "c"}},
		},
		{
			name: "delete non-ASCII both ways",
			in:   http.Header{"X-Session-Delete": {`["é","\u00e9"]`}},
			want: &session.Update{Delete: []string{"é", "é"}},
		},
		{
			name: "delete empty",
			in:   http.Header{"X-Session-Delete": {`[ ]`}},
			want: &session.Update{},
		},
		{
			name: "clear",
			in:   http.Header{"X-Session-Clear": {"1"}},
			want: &session.Update{Clear: true},
		},
		{
			name: "flush",
			in:   http.Header{"X-SESSION-FLUSH": {"1"}},
			want: &session.Update{Flush: true},
		},
		{
			name: "cycle key",
			in:   http.Header{"X_Session_Cycle_Key": {"1"}},
			want: &session.Update{CycleKey: true},
		},
		{
			name: "flag repeated",
			in:   http.Header{"X-Session-Flush": {"1", " 1 "}, "x-session-flush": {"1"}},
			want: &session.Update{Flush: true},
		},
		{
			name: "expiry seconds",
			in:   http.Header{"X-Session-Expiry": {"3600"}},
			want: &session.Update{Expiry: &session.Expiry{Seconds: 3600}},
		},
		{
			name: "expiry browser close",
			in:   http.Header{"X-Session-Expiry": {"0"}},
			want: &session.Update{Expiry: &session.Expiry{}},
		},
		{
			name: "expiry default",
			in:   http.Header{"X-Session-Expiry": {"default"}},
			want: &session.Update{Expiry: &session.Expiry{Default: true}},
		},
		{
			name: "expiry RFC 3339",
			in:   http.Header{"X-Session-Expiry": {"2030-01-02T03:04:05Z"}},
			want: &session.Update{Expiry: &session.Expiry{At: at("2030-01-02T03:04:05Z")}},
		},
		{
			name: "expiry RFC 3339 with fraction and offset",
			in:   http.Header{"X-Session-Expiry": {"2030-01-02T03:04:05.123456+02:00"}},
			want: &session.Update{Expiry: &session.Expiry{At: at("2030-01-02T03:04:05.123456+02:00")}},
		},
		{
			name: "set of Django's expiry key, as set_expiry writes it",
			in:   http.Header{"X-Session-Set": {`{"_session_expiry":3600}`, `{"e2":"2030-01-02T03:04:05.123456"}`, `{"e3":0}`}},
			want: &session.Update{Set: session.Data{"_session_expiry": raw(`3600`), "e2": raw(`"2030-01-02T03:04:05.123456"`), "e3": raw(`0`)}},
		},
		{
			name: "set of Django's expiry key as a time",
			in:   http.Header{"X-Session-Set": {`{"_session_expiry":"2030-01-02T03:04:05+00:00"}`}},
			want: &session.Update{Set: session.Data{"_session_expiry": raw(`"2030-01-02T03:04:05+00:00"`)}},
		},
		{
			name: "expiry repeated with equal values",
			in:   http.Header{"X-Session-Expiry": {"60", "060"}, "x_session_expiry": {"60"}},
			want: &session.Update{Expiry: &session.Expiry{Seconds: 60}},
		},
		{
			name: "everything at once",
			in: http.Header{
				"X-Session-Flush":     {"1"},
				"X-Session-Clear":     {"1"},
				"X-Session-Delete":    {`["old"]`},
				"X-Session-Set":       {`{"user":"u1"}`},
				"X-Session-Cycle-Key": {"1"},
				"X-Session-Expiry":    {"default"},
				"X-Session":           {"echo"},
			},
			want: &session.Update{
				Flush: true, Clear: true, Delete: []string{"old"},
				Set: session.Data{"user": raw(`"u1"`)}, CycleKey: true,
				Expiry: &session.Expiry{Default: true},
			},
		},
		{
			name: "custom base",
			base: "X-App-Sess",
			in: http.Header{
				"X-App-Sess-Set":   {`{"a":1}`},
				"x.app.sess.flush": {"1"},
			},
			want: &session.Update{Flush: true, Set: session.Data{"a": raw(`1`)}},
		},
		{
			name: "custom base ignores the default family",
			base: "X-App-Sess",
			in:   http.Header{"X-Session-Set": {`not json`}},
			want: nil,
		},
		{
			name: "trailer announcing only the bare base",
			in:   http.Header{"Trailer": {"X-Session"}, "X-Session-Clear": {"1"}},
			want: &session.Update{Clear: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNames(t, tt.base)
			before := otherHeaders(n, tt.in)
			got, err := n.ParseUpdate(tt.in)
			if err != nil {
				t.Fatalf("ParseUpdate: %v", err)
			}
			if got != nil {
				// Every value of Set came out of the JSON check: the
				// store need not check them again.
				if !got.Checked {
					t.Errorf("ParseUpdate did not mark its update Checked")
				}
				got.Checked = false
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseUpdate =\n %s\nwant\n %s", dump(got), dump(tt.want))
			}
			assertStripped(t, n, tt.in, before)
		})
	}
}

func TestParseUpdateNonASCIIRoundTrip(t *testing.T) {
	n := mustNames(t, "")
	const want = "café 日本 😀"
	for _, v := range []string{
		`{"k":"café 日本 😀"}`,
		`{"k":"caf\u00e9 \u65e5\u672c \ud83d\ude00"}`,
		`{"k":"caf\u00E9 日\u672c 😀"}`,
	} {
		u, err := n.ParseUpdate(http.Header{"X-Session-Set": {v}})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		var s string
		if err := json.Unmarshal(u.Set["k"], &s); err != nil || s != want {
			t.Errorf("%s: decoded %q, %v; want %q", v, s, err, want)
		}
	}
}

func TestParseUpdateMalformed(t *testing.T) {
	tests := []struct {
		name   string
		in     http.Header
		header string // canonical name the error must give
		secret string // text of the value that must not appear in the error
	}{
		{"set invalid JSON", http.Header{"X-Session-Set": {`{"SECRET":`}}, "X-Session-Set", "SECRET"},
		{"set trailing garbage", http.Header{"X-Session-Set": {`{"a":1}SECRET`}}, "X-Session-Set", "SECRET"},
		{"set two objects in one line", http.Header{"X-Session-Set": {`{"a":1},{"b":"SECRET"}`}}, "X-Session-Set", "SECRET"},
		{"set single quotes", http.Header{"X-Session-Set": {`{'a':'SECRET'}`}}, "X-Session-Set", "SECRET"},
		{"set array", http.Header{"X-Session-Set": {`["SECRET"]`}}, "X-Session-Set", "SECRET"},
		{"set string", http.Header{"X-Session-Set": {`"SECRET"`}}, "X-Session-Set", "SECRET"},
		{"set null", http.Header{"X-Session-Set": {`null`}}, "X-Session-Set", "null"},
		{"set number", http.Header{"X-Session-Set": {`12345678`}}, "X-Session-Set", "12345678"},
		{"set empty", http.Header{"X-Session-Set": {``}}, "X-Session-Set", ""},
		{"set invalid UTF-8", http.Header{"X-Session-Set": {"{\"a\":\"SECRET\xff\"}"}}, "X-Session-Set", "SECRET"},
		{"set invalid UTF-8 in key", http.Header{"x_session_set": {"{\"SECRET\xfe\":1}"}}, "X-Session-Set", "SECRET"},
		{"set bad second line", http.Header{"X-Session-Set": {`{"a":1}`, `{"SECRET"}`}}, "X-Session-Set", "SECRET"},
		{"set conflicting spellings", http.Header{"X-Session-Set": {`{"a":"SECRET1"}`}, "x_session_set": {`{"a":"SECRET2"}`}}, "X-Session-Set", "SECRET"},
		{"incr not an object", http.Header{"X-Session-Incr": {`["SECRET"]`}}, "X-Session-Incr", "SECRET"},
		{"incr string delta", http.Header{"X-Session-Incr": {`{"n":"SECRET"}`}}, "X-Session-Incr", "SECRET"},
		{"incr float delta", http.Header{"X-Session-Incr": {`{"n":1.5}`}}, "X-Session-Incr", "1.5"},
		{"incr exponent delta", http.Header{"X-Session-Incr": {`{"n":1e3}`}}, "X-Session-Incr", "1e3"},
		{"incr delta past 2^53", http.Header{"X-Session-Incr": {`{"n":9007199254740992}`}}, "X-Session-Incr", "9007199254740992"},
		{"incr deltas add up past 2^53", http.Header{"X-Session-Incr": {`{"n":9007199254740991}`, `{"n":1}`}}, "X-Session-Incr", "9007199254740991"},
		{"incr null", http.Header{"X-Session-Incr": {`null`}}, "X-Session-Incr", "null"},
		{"delete invalid JSON", http.Header{"X-Session-Delete": {`["SECRET"`}}, "X-Session-Delete", "SECRET"},
		{"delete object", http.Header{"X-Session-Delete": {`{"SECRET":1}`}}, "X-Session-Delete", "SECRET"},
		{"delete bare string", http.Header{"X-Session-Delete": {`"SECRET"`}}, "X-Session-Delete", "SECRET"},
		{"delete number element", http.Header{"X-Session-Delete": {`["SECRET",1]`}}, "X-Session-Delete", "SECRET"},
		{"delete null element", http.Header{"X-Session-Delete": {`["SECRET",null]`}}, "X-Session-Delete", "SECRET"},
		{"delete nested array", http.Header{"X-Session-Delete": {`[["SECRET"]]`}}, "X-Session-Delete", "SECRET"},
		{"delete null", http.Header{"X-Session-Delete": {`null`}}, "X-Session-Delete", "null"},
		{"delete comma list", http.Header{"X-Session-Delete": {`SECRET, b`}}, "X-Session-Delete", "SECRET"},
		{"delete invalid UTF-8", http.Header{"X.Session.Delete": {"[\"SECRET\xc3\"]"}}, "X-Session-Delete", "SECRET"},
		{"clear word", http.Header{"X-Session-Clear": {"yes-SECRET"}}, "X-Session-Clear", "SECRET"},
		{"clear true", http.Header{"X-Session-Clear": {"true"}}, "X-Session-Clear", "true"},
		{"clear zero", http.Header{"X-Session-Clear": {"0"}}, "X-Session-Clear", "0"},
		{"clear empty", http.Header{"X-Session-Clear": {""}}, "X-Session-Clear", ""},
		{"flush two", http.Header{"X-Session-Flush": {"2"}}, "X-Session-Flush", "2"},
		{"flush conflicting lines", http.Header{"X-Session-Flush": {"1", "SECRET"}}, "X-Session-Flush", "SECRET"},
		{"flush conflicting spellings", http.Header{"X-Session-Flush": {"1"}, "x_session_flush": {"SECRET"}}, "X-Session-Flush", "SECRET"},
		{"cycle key word", http.Header{"x_session_cycle_key": {"SECRET"}}, "X-Session-Cycle-Key", "SECRET"},
		{"cycle key list", http.Header{"X-Session-Cycle-Key": {"1,1"}}, "X-Session-Cycle-Key", "1,1"},
		{"expiry negative", http.Header{"X-Session-Expiry": {"-3600"}}, "X-Session-Expiry", "3600"},
		{"expiry word", http.Header{"X-Session-Expiry": {"soon-SECRET"}}, "X-Session-Expiry", "SECRET"},
		{"expiry fraction", http.Header{"X-Session-Expiry": {"1.5"}}, "X-Session-Expiry", "1.5"},
		{"expiry exponent", http.Header{"X-Session-Expiry": {"1e3"}}, "X-Session-Expiry", "1e3"},
		{"expiry plus sign", http.Header{"X-Session-Expiry": {"+60"}}, "X-Session-Expiry", "+60"},
		{"expiry Default capitalised", http.Header{"X-Session-Expiry": {"Default"}}, "X-Session-Expiry", "Default"},
		{"expiry empty", http.Header{"X-Session-Expiry": {""}}, "X-Session-Expiry", ""},
		{"expiry overflows int64", http.Header{"X-Session-Expiry": {"99999999999999999999"}}, "X-Session-Expiry", "99999999999999999999"},
		{"expiry overflows a duration", http.Header{"X-Session-Expiry": {"9300000000"}}, "X-Session-Expiry", "9300000000"},
		{"expiry bad date", http.Header{"X-Session-Expiry": {"2030-13-01T00:00:00Z"}}, "X-Session-Expiry", "2030-13-01"},
		{"expiry date without zone", http.Header{"X-Session-Expiry": {"2030-01-01T00:00:00"}}, "X-Session-Expiry", "2030-01-01"},
		{"expiry zero time", http.Header{"X-Session-Expiry": {"0001-01-01T00:00:00Z"}}, "X-Session-Expiry", "0001-01-01"},
		{"expiry conflicting lines", http.Header{"X-Session-Expiry": {"60", "120"}}, "X-Session-Expiry", "120"},
		{"expiry conflicting spellings", http.Header{"X-Session-Expiry": {"default"}, "x_session_expiry": {"3600"}}, "X-Session-Expiry", "3600"},
		{"set expiry key overflows", http.Header{"X-Session-Set": {`{"_session_expiry":10000000000}`}}, "X-Session-Set", "10000000000"},
		{"set expiry key wraps", http.Header{"X-Session-Set": {`{"_session_expiry":99999999999}`}}, "X-Session-Set", "99999999999"},
		{"set expiry key negative", http.Header{"X-Session-Set": {`{"_session_expiry":-60}`}}, "X-Session-Set", "-60"},
		{"set expiry key fraction", http.Header{"X-Session-Set": {`{"_session_expiry":1.5}`}}, "X-Session-Set", "1.5"},
		{"set expiry key null", http.Header{"X-Session-Set": {`{"_session_expiry":null}`}}, "X-Session-Set", "null"},
		{"set expiry key bad time", http.Header{"X-Session-Set": {`{"_session_expiry":"SECRET"}`}}, "X-Session-Set", "SECRET"},
		{"set expiry key object", http.Header{"X-Session-Set": {`{"_session_expiry":{"s":"SECRET"}}`}}, "X-Session-Set", "SECRET"},
		{"unknown header", http.Header{"X-Session-Foo": {"SECRET"}}, "X-Session-Foo", "SECRET"},
		{"unknown header underscores", http.Header{"x_session_foo_bar": {"SECRET"}}, "X-Session-Foo-Bar", "SECRET"},
		{"empty suffix", http.Header{"X-Session-": {"SECRET"}}, "X-Session-", "SECRET"},
		{"update as trailer", http.Header{"Trailer:X-Session-Set": {`{"a":"SECRET"}`}}, "X-Session-Set", "SECRET"},
		{"update announced as trailer", http.Header{"Trailer": {"Grpc-Status, x_session_flush"}, "X-Session-Set": {`{"a":"SECRET"}`}}, "X-Session-Flush", "SECRET"},
		{"bad among good", http.Header{"X-Session-Set": {`{"a":"SECRET"}`}, "X-Session-Clear": {"1"}, "X-Session-Flush": {"no"}}, "X-Session-Flush", "SECRET"},
		{"first bad by name wins", http.Header{"X-Session-Zzz": {"SECRET"}, "X-Session-Aaa": {"SECRET"}, "Trailer:X-Session-Set": {"SECRET"}}, "X-Session-Aaa", "SECRET"},
	}
	n := mustNames(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Map order varies: a stable answer must survive many tries.
			for range 20 {
				in := cloneHeader(tt.in)
				in.Set("Content-Type", "text/plain")
				before := otherHeaders(n, in)
				u, err := n.ParseUpdate(in)
				if err == nil {
					t.Fatalf("ParseUpdate = %s, nil; want an error", dump(u))
				}
				if u != nil {
					t.Errorf("ParseUpdate returned an update with its error: %s", dump(u))
				}
				var he *HeaderError
				if !errors.As(err, &he) {
					t.Fatalf("error %T %v is not a *HeaderError", err, err)
				}
				if he.Header != tt.header {
					t.Fatalf("error names %q, want %q (%v)", he.Header, tt.header, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, tt.header) || he.Reason == "" {
					t.Errorf("error %q does not name %q with a reason", msg, tt.header)
				}
				if tt.secret != "" && strings.Contains(msg, tt.secret) {
					t.Errorf("error %q leaks the value %q", msg, tt.secret)
				}
				for _, vs := range tt.in {
					for _, v := range vs {
						if len(v) > 3 && strings.Contains(msg, v) {
							t.Errorf("error %q leaks the value %q", msg, v)
						}
					}
				}
				assertStripped(t, n, in, before)
			}
		})
	}
}

func cloneHeader(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// otherHeaders is what must be left of h once the family is stripped: the
// headers outside it and the list headers without the family's names.
func otherHeaders(n Names, h http.Header) http.Header {
	if h == nil {
		return nil
	}
	out := cloneHeader(h)
	n.Strip(out)
	return out
}

func assertStripped(t *testing.T, n Names, got, want http.Header) {
	t.Helper()
	for k := range got {
		if n.matchKey(k) {
			t.Errorf("header %q left in place", k)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headers after ParseUpdate:\n got %v\nwant %v", got, want)
	}
}

func dump(u *session.Update) string {
	if u == nil {
		return "<nil>"
	}
	b, _ := json.Marshal(u)
	return string(b)
}

func BenchmarkParseUpdate(b *testing.B) {
	n := mustNames(b, "")
	src := http.Header{
		"Content-Type":     {"text/html; charset=utf-8"},
		"Set-Cookie":       {"csrftoken=abc; Path=/"},
		"X-Session-Set":    {`{"user_id":9007199254740993,"name":"Zoë","roles":["admin","staff"],"cart":{"items":[1,2,3],"total":"12.50"}}`},
		"X-Session-Delete": {`["flash"]`},
		"X-Session-Expiry": {"3600"},
	}
	b.ReportAllocs()
	for b.Loop() {
		h := make(http.Header, len(src))
		for k, v := range src {
			h[k] = v
		}
		if _, err := n.ParseUpdate(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseNoUpdate: what a response without update headers costs the
// read path (issue 8's target: <= 1 µs).
func BenchmarkParseNoUpdate(b *testing.B) {
	n := mustNames(b, "")
	h := http.Header{
		"Content-Type":   {"text/html; charset=utf-8"},
		"Content-Length": {"5120"},
		"Cache-Control":  {"private"},
		"Set-Cookie":     {"csrftoken=abc; Path=/"},
		"Date":           {"Fri, 27 Nov 2026 17:00:00 GMT"},
		"Server":         {"gunicorn"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if u, err := n.ParseUpdate(h); err != nil || u != nil {
			b.Fatal(u, err)
		}
	}
}

// splitObject reads a compacted object as json.Unmarshal into a map of
// RawMessage does: the same fields, byte for byte, a later duplicate
// winning, escaped keys decoded.
func TestSplitObjectIsUnmarshal(t *testing.T) {
	for _, v := range []string{
		`{}`, `{"a":1}`, `{"a":1,"b":"x,y}","c":[1,{"d":"]"}],"e":null}`,
		`{"a":1,"a":2}`, `{"k\"q":"v\\"}`, `{"\u00e9t\u00e9":true,"été":false}`,
		`{ "a" : { "b" : [ 1 , 2 ] } , "c" : "\u0022" }`, `{"a":-1.5e3,"b":{}}`,
		`{"":""}`, `{"a":"\\\\"}`,
	} {
		compact, reason := compactJSON(v, '{', "object")
		if reason != "" {
			t.Fatalf("%s: %s", v, reason)
		}
		got, ok := splitObject(compact)
		var want map[string]json.RawMessage
		if err := json.Unmarshal(compact, &want); err != nil {
			t.Fatal(err)
		}
		if !ok || len(got) != len(want) {
			t.Errorf("%s: splitObject = %q, %v; Unmarshal = %q", v, got, ok, want)
			continue
		}
		for k, w := range want {
			if !bytes.Equal(got[k], w) {
				t.Errorf("%s: field %q = %s, Unmarshal %s", v, k, got[k], w)
			}
		}
	}
}

// TestParseUpdateAllocs holds the write path's parse to what it must
// allocate: the Update, the compacted JSON its values are slices of, the
// object's map (its header and one group of slots), and each key of more
// than one byte (Go keeps one-byte strings static). The first object is
// the Set itself, with no copy, and the header lines sit on the stack.
func TestParseUpdateAllocs(t *testing.T) {
	n := mustNames(t, "")
	for _, tc := range []struct {
		set  string
		want float64
	}{
		{`{"n":1}`, 4},
		{`{"user":"bob","cart":[1,2,3]}`, 6},
		{`{ "user" : "bob" }`, 5}, // compacted first: the same as without spaces
	} {
		h := http.Header{}
		vals := []string{tc.set}
		got := testing.AllocsPerRun(100, func() {
			h["X-Session-Set"] = vals
			u, err := n.ParseUpdate(h)
			if err != nil || len(u.Set) == 0 {
				t.Fatalf("ParseUpdate(%s) = %v, %v", tc.set, u, err)
			}
		})
		if got > tc.want {
			t.Errorf("ParseUpdate(%s): %v allocations, want at most %v", tc.set, got, tc.want)
		}
	}
}

// TestKinds: kindOf's list names every kind suffixes has, once.
func TestKinds(t *testing.T) {
	if len(kinds) != len(suffixes) {
		t.Fatalf("kinds has %d, suffixes %d", len(kinds), len(suffixes))
	}
	for _, k := range kinds {
		if got, ok := kindOf(strings.ToUpper(k)); !ok || got != k {
			t.Errorf("kindOf(%q) = %q, %v", strings.ToUpper(k), got, ok)
		}
	}
}
