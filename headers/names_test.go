package headers

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func mustNames(t testing.TB, base string) Names {
	t.Helper()
	n, err := NewNames(base)
	if err != nil {
		t.Fatalf("NewNames(%q): %v", base, err)
	}
	return n
}

func TestNewNames(t *testing.T) {
	tests := []struct {
		name, base, token, errHas string
	}{
		{name: "default when empty", base: "", token: "X-Session"},
		{name: "default", base: "X-Session", token: "X-Session"},
		{name: "lower case canonicalized", base: "x-app-sess", token: "X-App-Sess"},
		{name: "single word", base: "Sess", token: "Sess"},
		{name: "digits", base: "X-S2", token: "X-S2"},
		{name: "underscore refused", base: "X_Session", errHas: "letters, digits"},
		{name: "dot refused", base: "X.Session", errHas: "letters, digits"},
		{name: "space refused", base: "X Session", errHas: "letters, digits"},
		{name: "colon refused", base: "X-Session:", errHas: "letters, digits"},
		{name: "non-ASCII refused", base: "X-Séssion", errHas: "letters, digits"},
		{name: "leading hyphen refused", base: "-Session", errHas: "letters, digits"},
		{name: "trailing hyphen refused", base: "X-", errHas: "letters, digits"},
		{name: "captures Content-Length", base: "Content", errHas: "standard header Content-"},
		{name: "captures Cookie", base: "cookie", errHas: "Cookie"},
		{name: "captures Sec-WebSocket-Key", base: "Sec", errHas: "Sec-WebSocket"},
		{name: "captures X-Forwarded-For", base: "X-Forwarded", errHas: "X-Forwarded-For"},
		{name: "captures Set-Cookie", base: "Set", errHas: "Set-Cookie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := NewNames(tt.base)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("NewNames(%q) error = %v, want one containing %q", tt.base, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewNames(%q): %v", tt.base, err)
			}
			if got := n.Token(); got != tt.token {
				t.Errorf("Token() = %q, want %q", got, tt.token)
			}
		})
	}
}

func TestZeroNamesMatchesNothing(t *testing.T) {
	var n Names
	for _, name := range []string{"", "X-Session", "-", "anything"} {
		if n.Match(name) {
			t.Errorf("zero Names matched %q", name)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		base string
		in   string
		want bool
	}{
		{"bare", "X-Session", "X-Session", true},
		{"bare lower", "X-Session", "x-session", true},
		{"bare upper", "X-Session", "X-SESSION", true},
		{"bare underscore", "X-Session", "x_session", true},
		{"bare dot", "X-Session", "X.Session", true},
		{"set", "X-Session", "X-Session-Set", true},
		{"set underscore", "X-Session", "x_session_set", true},
		{"set dots", "X-Session", "X.Session.Set", true},
		{"set mixed separators", "X-Session", "X_Session.Set", true},
		{"flush upper", "X-Session", "X-SESSION-FLUSH", true},
		{"cycle key underscores", "X-Session", "X_SESSION_CYCLE_KEY", true},
		{"unknown suffix", "X-Session", "X-Session-Whatever", true},
		{"empty suffix", "X-Session", "X-Session-", true},
		{"suffix glued", "X-Session", "X-Sessionx", false},
		{"plural", "X-Session", "X-Sessions-Foo", false},
		{"no prefix", "X-Session", "Session", false},
		{"other prefix", "X-Session", "Y-Session", false},
		{"shorter", "X-Session", "X-Sessio", false},
		{"empty", "X-Session", "", false},
		{"leading space", "X-Session", " X-Session", false},
		{"trailer prefix is not a name", "X-Session", "Trailer:X-Session-Set", false},
		{"custom bare", "X-App-Sess", "X-App-Sess", true},
		{"custom underscores", "X-App-Sess", "x_app_sess_set", true},
		{"custom dots", "X-App-Sess", "X.APP.SESS.DELETE", true},
		{"custom does not match default", "X-App-Sess", "X-Session-Set", false},
		{"custom glued", "X-App-Sess", "X-App-Session", false},
		{"custom prefix only", "X-App-Sess", "X-App", false},
		{"default does not match custom", "X-Session", "X-App-Sess-Set", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustNames(t, tt.base).Match(tt.in); got != tt.want {
				t.Errorf("NewNames(%q).Match(%q) = %v, want %v", tt.base, tt.in, got, tt.want)
			}
		})
	}
}

func TestStrip(t *testing.T) {
	tests := []struct {
		name string
		base string
		in   http.Header
		want http.Header
	}{
		{
			name: "every spelling",
			base: "X-Session",
			in: http.Header{
				"X-Session":       {"forged"},
				"x-session":       {"forged"},
				"X_session":       {"forged"},
				"X.Session":       {"forged"},
				"X-Session-Set":   {`{"a":1}`},
				"X_session_set":   {`{"a":1}`},
				"X-SESSION-FLUSH": {"1"},
				"X-Session-":      {"x"},
				"Accept":          {"*/*"},
			},
			want: http.Header{"Accept": {"*/*"}},
		},
		{
			name: "non-matches kept",
			base: "X-Session",
			in: http.Header{
				"X-Sessionx":     {"a"},
				"X-Sessions-Foo": {"b"},
				"Session":        {"c"},
				"Y-Session":      {"d"},
			},
			want: http.Header{
				"X-Sessionx":     {"a"},
				"X-Sessions-Foo": {"b"},
				"Session":        {"c"},
				"Y-Session":      {"d"},
			},
		},
		{
			name: "trailer-prefixed keys",
			base: "X-Session",
			in: http.Header{
				"Trailer:X-Session-Set": {`{"a":1}`},
				"Trailer:x_session":     {"t"},
				"trailer:X-Session-Set": {`{"a":1}`},
				"Trailer:Grpc-Status":   {"0"},
			},
			want: http.Header{"Trailer:Grpc-Status": {"0"}},
		},
		{
			name: "trailer announcement filtered",
			base: "X-Session",
			in: http.Header{
				"Trailer": {"X-Session-Set, Grpc-Status", "x_session_flush", "Grpc-Message ,X-Session"},
			},
			want: http.Header{"Trailer": {"Grpc-Status", "Grpc-Message"}},
		},
		{
			name: "trailer announcement dropped when empty",
			base: "X-Session",
			in: http.Header{
				"Trailer": {"X-Session-Set,X.Session.Delete", "X-Session"},
				"Other":   {"v"},
			},
			want: http.Header{"Other": {"v"}},
		},
		{
			name: "trailer announcement untouched without a match",
			base: "X-Session",
			in:   http.Header{"Trailer": {"A,  B", "C"}},
			want: http.Header{"Trailer": {"A,  B", "C"}},
		},
		{
			name: "connection list filtered",
			base: "X-Session",
			in:   http.Header{"Connection": {"keep-alive, X-Session", "Upgrade"}, "Upgrade": {"websocket"}},
			want: http.Header{"Connection": {"keep-alive", "Upgrade"}, "Upgrade": {"websocket"}},
		},
		{
			name: "connection dropped when empty",
			base: "X-Session",
			in:   http.Header{"Connection": {"x-session"}},
			want: http.Header{},
		},
		{
			name: "custom base",
			base: "X-App-Sess",
			in: http.Header{
				"X-App-Sess":     {"forged"},
				"x_app_sess_set": {"{}"},
				"X-Session-Set":  {"{}"},
				"Trailer":        {"X-App-Sess-Set, X-Session-Set"},
			},
			want: http.Header{"X-Session-Set": {"{}"}, "Trailer": {"X-Session-Set"}},
		},
		{
			name: "nil header",
			base: "X-Session",
			in:   nil,
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustNames(t, tt.base).Strip(tt.in)
			if !reflect.DeepEqual(tt.in, tt.want) {
				t.Errorf("after Strip:\n got %v\nwant %v", tt.in, tt.want)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"x_session_set":       "X-Session-Set",
		"X.SESSION.CYCLE_KEY": "X-Session-Cycle-Key",
		"X-Session-Expiry":    "X-Session-Expiry",
	} {
		if got := canonical(in); got != want {
			t.Errorf("canonical(%q) = %q, want %q", in, got, want)
		}
	}
}
