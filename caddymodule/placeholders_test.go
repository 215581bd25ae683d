package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// caddyRequest is a request as Caddy's server prepares it: a replacer and
// the request variables in its context.
func caddyRequest(method, target string, cookie *http.Cookie) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, nil)
}

// replacing is a next handler that records what placeholders expand to
// while it runs, as `respond` or `header_up` would expand them.
type replacing struct {
	in  string
	out string
}

func (rp *replacing) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	rp.out = repl.ReplaceKnown(rp.in, "") // an unknown placeholder stays as written
	w.WriteHeader(http.StatusOK)
	return nil
}

func TestPlaceholders(t *testing.T) {
	h := newHandler(t, &Handler{})
	cookie := login(t, h, `{"user":"bob","n":42,"big":9007199254740993,"ok":true,"none":null,`+
		`"obj":{ "a" : [1, 2] },"esc":"a\"b\u00e9","sid":"shadowed"}`)

	serveThrough := func(t *testing.T, cookie *http.Cookie, in string) string {
		t.Helper()
		rp := &replacing{in: in}
		if err := h.ServeHTTP(httptest.NewRecorder(), caddyRequest("GET", "/", cookie), caddyhttp.HandlerFunc(rp.ServeHTTP)); err != nil {
			t.Fatal(err)
		}
		return rp.out
	}

	tests := []struct{ in, want string }{
		{"{http.session.user}", "bob"},
		{"{http.session.n}", "42"},
		{"{http.session.big}", "9007199254740993"},
		{"{http.session.ok}", "true"},
		{"{http.session.none}", ""},
		{"{http.session.obj}", `{"a":[1,2]}`},
		{"{http.session.esc}", `a"bé`},
		{"{http.session.missing}", ""},
		{"{http.session.new}", "false"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := serveThrough(t, cookie, tc.in); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.in, got, tc.want)
			}
		})
	}

	// The sid is the token's, not the session key nor a session value.
	up := &upstream{}
	if _, err := serve(t, h, newRequest("GET", "/"), nil, up); err != nil {
		t.Fatal(err)
	}
	r := newRequest("GET", "/")
	r.AddCookie(cookie)
	if _, err := serve(t, h, r, nil, up); err != nil {
		t.Fatal(err)
	}
	wantSID, _ := claimsOf(t, up.got)["sid"].(string)
	if got := serveThrough(t, cookie, "{http.session.sid}"); got != wantSID || got == "" || got == cookie.Value || got == "shadowed" {
		t.Errorf("{http.session.sid} = %q, want the token's sid %q", got, wantSID)
	}

	// No cookie: a new session, every key empty.
	if got := serveThrough(t, nil, "{http.session.new}|{http.session.sid}|{http.session.user}"); got != "true||" {
		t.Errorf("without a session: %q, want %q", got, "true||")
	}
}

// A request the handler's matchers leave out has the placeholders all the
// same, empty, rather than left as literal text.
func TestPlaceholdersUnmatched(t *testing.T) {
	h := newHandler(t, &Handler{MatcherSetsRaw: caddyhttp.RawMatcherSets{{"path": json.RawMessage(`["/app/*"]`)}}})
	rp := &replacing{in: "{http.session.new}|{http.session.user}"}
	if err := h.ServeHTTP(httptest.NewRecorder(), caddyRequest("GET", "/other", nil), caddyhttp.HandlerFunc(rp.ServeHTTP)); err != nil {
		t.Fatal(err)
	}
	if rp.out != "true|" {
		t.Errorf("unmatched request: %q, want %q", rp.out, "true|")
	}
}

func TestValueText(t *testing.T) {
	for in, want := range map[string]string{
		`"plain"`:          "plain",
		`"a\nb"`:           "a\nb",
		`"\u00e9"`:         "é",
		`12.50`:            "12.50",
		`-1`:               "-1",
		`false`:            "false",
		`null`:             "",
		`[ 1, "x" ]`:       `[1,"x"]`,
		`{"k": {"j": 1}}`:  `{"k":{"j":1}}`,
		``:                 "",
		`"unterminated\"`:  "",
		` "padded" `:       "padded",
		`{"broken": }`:     "",
		`"quote \" in it"`: `quote " in it`,
	} {
		if got := valueText(json.RawMessage(in)); got != want {
			t.Errorf("valueText(%s) = %q, want %q", in, got, want)
		}
	}
}
