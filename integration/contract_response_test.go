package integration

// Contract, "Response: upstream to proxy".

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

var ctResponseCases = []ctCase{
	{"Set, repeated", ctTestSetRepeated},
	{"Delete, repeated", ctTestDeleteRepeated},
	{"Clear", ctTestClear},
	{"Flush", ctTestFlush},
	{"Flush and Set start a new key", ctTestFlushSet},
	{"Cycle-Key", ctTestCycleKey},
	{"Expiry", ctTestExpiry},
	{"order of application", ctTestUpdateOrder},
	{"update headers never reach the client", ctTestUpdateHeadersStripped},
	{"update trailers never reach the client", ctTestUpdateTrailersStripped},
	{"malformed update", ctTestMalformedUpdate},
	{"exact numbers and non-ASCII text", ctTestValuesRoundTrip},
}

func ctTestSetRepeated(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1,"b":"x"}`, "X-Session-Set", `{"b":"y","c":[1, 2]}`)
	ctWantData(t, e.read(t, c, "/"), map[string]string{"a": "1", "b": `"y"`, "c": "[1,2]"})
	// A later Set merges into the stored session.
	e.write(t, c, "/", "X-Session-Set", `{"a":{"nested":true}}`)
	ctWantData(t, e.read(t, c, "/"), map[string]string{"a": `{"nested":true}`, "b": `"y"`, "c": "[1,2]"})
}

func ctTestDeleteRepeated(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1,"b":2,"c":3,"d":4}`)
	e.write(t, c, "/", "X-Session-Delete", `["a"]`, "X-Session-Delete", `["b","c","not-there"]`)
	ctWantData(t, e.read(t, c, "/"), map[string]string{"d": "4"})
}

func ctTestClear(t *testing.T, e *ctEnv) {
	t.Run("alone", func(t *testing.T) {
		c := newClient(t)
		e.write(t, c, "/", "X-Session-Set", `{"a":1,"b":2}`)
		w := e.write(t, c, "/", "X-Session-Clear", "1")
		ctWantDeleted(t, w.resp, "sessionid")
		claims := e.read(t, c, "/")
		ctWantData(t, claims, nil)
		if !claims.New {
			t.Fatal("a cleared session still exists")
		}
	})
	t.Run("then Set keeps the key", func(t *testing.T) {
		c := newClient(t)
		e.write(t, c, "/", "X-Session-Set", `{"a":1,"b":2}`)
		key := ctJarKey(t, e, c, "/", "sessionid")
		w := e.write(t, c, "/", "X-Session-Clear", "1", "X-Session-Set", `{"c":3}`)
		if got := ctSetCookie(t, w.resp, "sessionid").Value; got != key {
			t.Fatalf("clear changed the key from %s to %s", key, got)
		}
		ctWantData(t, e.read(t, c, "/"), map[string]string{"c": "3"})
	})
}

func ctTestFlush(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	old := ctJarKey(t, e, c, "/", "sessionid")
	w := e.write(t, c, "/", "X-Session-Flush", "1")
	ctWantDeleted(t, w.resp, "sessionid")
	if claims := e.read(t, c, "/"); !claims.New {
		t.Fatal("a flushed session still exists")
	}
	if claims := e.readWithCookie(t, "/", "sessionid", old); !claims.New || len(claims.Data) > 0 {
		t.Fatalf("the flushed key still loads: %s", claims.raw)
	}
}

func ctTestFlushSet(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	old := ctJarKey(t, e, c, "/", "sessionid")
	w := e.write(t, c, "/", "X-Session-Flush", "1", "X-Session-Set", `{"b":2}`)
	key := ctSetCookie(t, w.resp, "sessionid").Value
	if key == old || !ctKeyRE.MatchString(key) {
		t.Fatalf("flush + set gave key %q (old %q), want a fresh key", key, old)
	}
	ctWantData(t, e.read(t, c, "/"), map[string]string{"b": "2"})
	if claims := e.readWithCookie(t, "/", "sessionid", old); !claims.New {
		t.Fatalf("the flushed key still loads: %s", claims.raw)
	}
}

func ctTestCycleKey(t *testing.T, e *ctEnv) {
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"user":"alice","n":9007199254740993}`)
	old := ctJarKey(t, e, c, "/", "sessionid")
	before := e.read(t, c, "/")
	w := e.write(t, c, "/", "X-Session-Cycle-Key", "1")
	key := ctSetCookie(t, w.resp, "sessionid").Value
	if key == old || !ctKeyRE.MatchString(key) {
		t.Fatalf("cycle key gave key %q (old %q), want a fresh key", key, old)
	}
	after := e.read(t, c, "/")
	ctWantData(t, after, before.data())
	if after.New || after.SID == before.SID {
		t.Fatalf("after cycle key: new=%v sid %q (before %q)", after.New, after.SID, before.SID)
	}
	if claims := e.readWithCookie(t, "/", "sessionid", old); !claims.New {
		t.Fatalf("the old key still loads: %s", claims.raw)
	}
}

func ctTestExpiry(t *testing.T, e *ctEnv) {
	at := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	cases := []struct {
		name, value string
		maxAge      int64 // the cookie's Max-Age; 0: none (browser close)
		stored      string
		wantExpires int64 // the expires_at claim, as an offset from the response's Date, or absolute with absolute
		absolute    bool
	}{
		{"seconds", "3600", 3600, "3600", 3600, false},
		{"zero is browser close", "0", 0, "0", 1209600, false},
		{"RFC 3339 UTC", at.UTC().Format(time.RFC3339), 7200, "", at.Unix(), true},
		{"RFC 3339 with offset", at.In(time.FixedZone("", 2*3600+1800)).Format(time.RFC3339), 7200, "", at.Unix(), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
			w := e.write(t, c, "/", "X-Session-Expiry", tc.value)
			date := ctResponseDate(t, w.resp)
			ck := ctSetCookie(t, w.resp, "sessionid")
			attrs := ctAttrs(ck.Raw)
			if tc.maxAge == 0 {
				if _, ok := attrs["max-age"]; ok {
					t.Errorf("browser-close cookie has Max-Age: %q", ck.Raw)
				}
				if _, ok := attrs["expires"]; ok {
					t.Errorf("browser-close cookie has Expires: %q", ck.Raw)
				}
			} else {
				ctNear(t, "Max-Age", int64(ck.MaxAge), tc.maxAge, 3)
				ctNear(t, "Expires - Date", ck.Expires.Unix()-date.Unix(), int64(ck.MaxAge), 2)
			}
			claims := e.read(t, c, "/")
			if claims.BrowserClose != (tc.maxAge == 0) {
				t.Errorf("browser_close = %v", claims.BrowserClose)
			}
			want := tc.wantExpires
			if !tc.absolute {
				want += date.Unix()
			}
			ctNear(t, "expires_at", claims.ExpiresAt, want, 2)
			stored := claims.data()["_session_expiry"]
			if tc.stored != "" && stored != tc.stored {
				t.Errorf("_session_expiry = %s, want %s", stored, tc.stored)
			}
			if tc.stored == "" {
				var s string
				if err := json.Unmarshal([]byte(stored), &s); err != nil {
					t.Fatalf("_session_expiry = %s, want a time", stored)
				}
				got, err := time.Parse(time.RFC3339Nano, s)
				if err != nil || !got.Equal(at) {
					t.Errorf("_session_expiry = %s, want %s", stored, at.Format(time.RFC3339))
				}
			}
			if claims.data()["a"] != "1" {
				t.Errorf("Expiry lost the data: %v", claims.data())
			}

			// default drops the custom expiry.
			w = e.write(t, c, "/", "X-Session-Expiry", "default")
			ctNear(t, "Max-Age after default", int64(ctSetCookie(t, w.resp, "sessionid").MaxAge), 1209600, 2)
			claims = e.read(t, c, "/")
			ctWantData(t, claims, map[string]string{"a": "1"})
			if claims.BrowserClose {
				t.Error("browser_close after Expiry default")
			}
		})
	}
}

// The updates of one response apply in the order flush, clear, delete, set,
// cycle-key, expiry, whatever the order of the header lines.
func ctTestUpdateOrder(t *testing.T, e *ctEnv) {
	cases := []struct {
		name    string
		initial string
		lines   []string
		want    map[string]string
		newKey  bool
		maxAge  int
	}{
		{"delete before set", `{"k":1,"j":1}`,
			[]string{"X-Session-Set", `{"k":2}`, "X-Session-Delete", `["k","j"]`},
			map[string]string{"k": "2"}, false, 1209600},
		{"flush before set", `{"a":1}`,
			[]string{"X-Session-Set", `{"b":1}`, "X-Session-Flush", "1"},
			map[string]string{"b": "1"}, true, 1209600},
		{"clear before set", `{"a":1}`,
			[]string{"X-Session-Set", `{"b":1}`, "X-Session-Clear", "1"},
			map[string]string{"b": "1"}, false, 1209600},
		{"clear before delete", `{"a":1}`,
			[]string{"X-Session-Delete", `["a"]`, "X-Session-Clear", "1", "X-Session-Set", `{"b":1}`},
			map[string]string{"b": "1"}, false, 1209600},
		{"set before cycle key", `{"a":1}`,
			[]string{"X-Session-Cycle-Key", "1", "X-Session-Set", `{"b":1}`},
			map[string]string{"a": "1", "b": "1"}, true, 1209600},
		{"expiry after set", `{"a":1}`,
			[]string{"X-Session-Expiry", "600", "X-Session-Set", `{"_session_expiry":100}`},
			map[string]string{"a": "1", "_session_expiry": "600"}, false, 600},
		{"all six", `{"a":1,"b":2}`,
			[]string{
				"X-Session-Expiry", "600",
				"X-Session-Cycle-Key", "1",
				"X-Session-Set", `{"c":3,"b":3}`,
				"X-Session-Delete", `["c","a"]`,
				"X-Session-Clear", "1",
				"X-Session-Flush", "1",
			},
			map[string]string{"b": "3", "c": "3", "_session_expiry": "600"}, true, 600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", tc.initial)
			old := ctJarKey(t, e, c, "/", "sessionid")
			w := e.write(t, c, "/", tc.lines...)
			ck := ctSetCookie(t, w.resp, "sessionid")
			if (ck.Value != old) != tc.newKey {
				t.Errorf("key %s -> %s; want a new key: %v", old, ck.Value, tc.newKey)
			}
			ctNear(t, "Max-Age", int64(ck.MaxAge), int64(tc.maxAge), 2)
			ctWantData(t, e.read(t, c, "/"), tc.want)
			if tc.newKey {
				if claims := e.readWithCookie(t, "/", "sessionid", old); !claims.New {
					t.Errorf("the old key still loads: %s", claims.raw)
				}
			}
		})
	}
}

// None of the update headers, in any spelling, reaches the client; each is
// applied.
func ctTestUpdateHeadersStripped(t *testing.T, e *ctEnv) {
	cases := []struct {
		name   string
		header string // the name as the upstream writes it
		value  string
		want   map[string]string // data after; nil: don't check
	}{
		{"canonical", "X-Session-Set", `{"v":1}`, map[string]string{"v": "1"}},
		{"lower case", "x-session-set", `{"v":2}`, map[string]string{"v": "2"}},
		{"upper case", "X-SESSION-SET", `{"v":3}`, map[string]string{"v": "3"}},
		{"underscores", "x_session_set", `{"v":4}`, map[string]string{"v": "4"}},
		{"dots", "X.Session.Set", `{"v":5}`, map[string]string{"v": "5"}},
		{"mixed", "x_Session.sET", `{"v":6}`, map[string]string{"v": "6"}},
		{"delete", "x_session_delete", `["v"]`, map[string]string{}},
		{"cycle key", "X.SESSION.CYCLE_KEY", "1", map[string]string{"v": "0"}},
		{"expiry", "x-session-expiry", "default", map[string]string{"v": "0"}},
		{"token echoed back", "X-Session", "echo", map[string]string{"v": "0"}},
		{"token echoed back with underscore", "x_session", "echo", map[string]string{"v": "0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"v":0}`)
			r := e.do(t, c, ctCall{answer: ctLines(tc.header, tc.value, "X-Other", "kept")})
			ctWantStatus(t, r, http.StatusOK)
			ctNoFamily(t, r.resp, "X-Session")
			if r.resp.Header.Get("X-Other") != "kept" {
				t.Fatalf("an ordinary header did not reach the client: %v", r.resp.Header)
			}
			ctWantData(t, e.read(t, c, "/"), tc.want)
		})
	}
}

// Update headers sent as trailers are removed too; other trailers pass.
func ctTestUpdateTrailersStripped(t *testing.T, e *ctEnv) {
	t.Run("undeclared", func(t *testing.T) {
		c := newClient(t)
		e.write(t, c, "/", "X-Session-Set", `{"v":0}`)
		r := e.do(t, c, ctCall{serve: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("body"))
			http.NewResponseController(w).Flush() //nolint:errcheck // forces chunked, so trailers can follow
			w.Header().Set(http.TrailerPrefix+"X-Session-Set", `{"v":1}`)
			w.Header().Set(http.TrailerPrefix+"x_session_flush", "1")
			w.Header().Set(http.TrailerPrefix+"X-Session", "echo")
			w.Header().Set(http.TrailerPrefix+"X-Checksum", "abc")
		}})
		ctWantStatus(t, r, http.StatusOK)
		if string(r.body) != "body" {
			t.Fatalf("body %q", r.body)
		}
		if r.resp.Trailer.Get("X-Checksum") != "abc" {
			t.Fatalf("an ordinary trailer did not reach the client (trailers %v): the test cannot see trailers", r.resp.Trailer)
		}
		ctNoFamily(t, r.resp, "X-Session")
	})
	t.Run("announced", func(t *testing.T) {
		c := newClient(t)
		e.write(t, c, "/", "X-Session-Set", `{"v":0}`)
		r := e.do(t, c, ctCall{serve: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Trailer", "X-Session-Set, X-Session-Clear, X-Checksum")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("body"))
			w.Header().Set("X-Session-Set", `{"v":1}`)
			w.Header().Set("X-Session-Clear", "1")
			w.Header().Set("X-Checksum", "abc")
		}})
		t.Logf("status %d, trailers %v", r.resp.StatusCode, r.resp.Trailer)
		ctNoFamily(t, r.resp, "X-Session")
		// An update that arrives after the body is never applied halfway.
		ctWantData(t, e.read(t, c, "/"), map[string]string{"v": "0"})
	})
}

// A malformed update header voids the whole update: 502, nothing persisted,
// and the log names the header and the reason without its value.
func ctTestMalformedUpdate(t *testing.T, e *ctEnv) {
	cases := []struct {
		name, header, value string
		secret              string // a part of value that must not be logged
		reason              string // a word the logged reason must hold ("" to skip)
	}{
		{"bad JSON", "X-Session-Set", `{"leak":"MARKER-bad-json"`, "MARKER-bad-json", "json"},
		{"Set not an object", "X-Session-Set", `["MARKER-not-object"]`, "MARKER-not-object", "object"},
		{"Set a string", "X-Session-Set", `"MARKER-string"`, "MARKER-string", "object"},
		{"Delete not an array", "X-Session-Delete", `{"MARKER-not-array":1}`, "MARKER-not-array", "array"},
		{"Delete of a non-string", "X-Session-Delete", `[17, "MARKER-non-string"]`, "MARKER-non-string", "string"},
		{"Clear yes", "X-Session-Clear", "yes", "yes", ""},
		{"Flush true", "X-Session-Flush", "true", "", ""},
		{"Cycle-Key 2", "X-Session-Cycle-Key", "2", "", ""},
		{"Expiry soon", "X-Session-Expiry", "soon", "soon", ""},
		{"Expiry negative", "X-Session-Expiry", "-5", "", "negative"},
		{"lower case name", "x_session_set", `{"leak":MARKER-lower}`, "MARKER-lower", "json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"keep":1}`)
			key := ctJarKey(t, e, c, "/", "sessionid")
			before := e.read(t, c, "/")
			// A valid change in the same response must not be persisted.
			r := e.do(t, c, ctCall{
				answer: ctLines(tc.header, tc.value,
					"X-Session-Set", `{"poison":1}`, "X-Session-Cycle-Key", "1", "X-Session-Expiry", "60"),
				respBody: "UPSTREAM-BODY",
			})
			ctWantStatus(t, r, http.StatusBadGateway)
			ctNoSetCookie(t, r.resp)
			ctNoFamily(t, r.resp, "X-Session")
			if bytes.Contains(r.body, []byte("UPSTREAM-BODY")) {
				t.Errorf("the upstream's body reached the client with the 502")
			}
			after := e.read(t, c, "/")
			ctWantData(t, after, map[string]string{"keep": "1"})
			if after.SID != before.SID || after.ExpiresAt != before.ExpiresAt {
				t.Errorf("the session changed: sid %s -> %s, expires_at %d -> %d", before.SID, after.SID, before.ExpiresAt, after.ExpiresAt)
			}
			if got := ctJarKey(t, e, c, "/", "sessionid"); got != key {
				t.Errorf("the cookie changed")
			}

			canonical := ctCanonical(tc.header)
			line := ctLogLine(t, e.caddy, "cs="+r.id, canonical)
			if tc.reason != "" && !strings.Contains(strings.ToLower(line), tc.reason) {
				t.Errorf("the log does not give the reason (%q): %s", tc.reason, line)
			}
			if tc.secret != "" && strings.Contains(line, tc.secret) {
				t.Errorf("the log holds the header's value %q: %s", tc.secret, line)
			}
			if strings.Contains(line, key) {
				t.Errorf("the log holds the session key: %s", line)
			}
		})
	}
}

// ctCanonical is the canonical spelling of a session header name.
func ctCanonical(name string) string {
	return http.CanonicalHeaderKey(strings.NewReplacer("_", "-", ".", "-").Replace(name))
}

// Values are any JSON: numbers keep their digits, and text in raw UTF-8 or
// as \u escapes round-trips into the next token.
func ctTestValuesRoundTrip(t *testing.T, e *ctEnv) {
	const set = `{"big":9007199254740993,"tiny":-1.50e-400,"raw":"héllo wörld 世界 🎉","esc":"\u00e9\u4e16\ud83c\udf89\n\"q\"","deep":[9007199254740993,{"ü":"ß"}],"nul":null,"t":true}`
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", set)
	r := e.ok(t, c, ctCall{})
	p := r.seen.payload
	for _, digits := range []string{"9007199254740993", "-1.50e-400"} {
		if !strings.Contains(p, digits) {
			t.Errorf("token payload lost the digits %s: %s", digits, p)
		}
	}
	if strings.Contains(p, "9007199254740992") || strings.Contains(p, "9.007199254740993e") {
		t.Errorf("a number went through a float: %s", p)
	}
	var data map[string]any
	dec := json.NewDecoder(strings.NewReader(string(ctToken(t, r).raw["data"])))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		t.Fatal(err)
	}
	checks := map[string]any{
		"big": json.Number("9007199254740993"),
		"raw": "héllo wörld 世界 🎉",
		"esc": "é世🎉\n\"q\"",
		"nul": nil,
		"t":   true,
	}
	for k, want := range checks {
		if data[k] != want {
			t.Errorf("data[%q] = %#v, want %#v", k, data[k], want)
		}
	}
	deep, _ := data["deep"].([]any)
	if len(deep) != 2 || deep[0] != json.Number("9007199254740993") {
		t.Errorf("data.deep = %#v", data["deep"])
	} else if m, _ := deep[1].(map[string]any); m["ü"] != "ß" {
		t.Errorf("data.deep[1] = %#v", deep[1])
	}
	// Stored values survive a further write untouched.
	e.write(t, c, "/", "X-Session-Set", `{"other":1}`)
	if p2 := e.ok(t, c, ctCall{}).seen.payload; !strings.Contains(p2, "9007199254740993") || !strings.Contains(p2, "-1.50e-400") {
		t.Errorf("a later write changed stored numbers: %s", p2)
	}
}
