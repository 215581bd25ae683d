package caddymodule

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Set-Cookie line written without http.Cookie.String is that line,
// byte for byte, for every attribute the handler sets.
func TestSetCookieLineIsCookieString(t *testing.T) {
	exp := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, c := range []http.Cookie{
		{Name: "sessionid", Value: "abc123", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 1209600, Expires: exp},
		{Name: "sid", Value: "abc123", Path: "/app", Domain: "example.com", Secure: true, SameSite: http.SameSiteNoneMode, MaxAge: 30, Expires: exp.In(time.FixedZone("x", 3600))},
		{Name: "sid", Value: "", Path: "/", SameSite: http.SameSiteStrictMode, MaxAge: -1, Expires: time.Unix(0, 0)},
		{Name: "sid", Value: "x", Path: "/", MaxAge: -1},
		{Name: "sid", Value: "eyJh.bGc:iOi-J_IUz", Domain: ".example.com", Path: "/"},            // a leading dot String drops
		{Name: "sid", Value: "a b,c", Path: "/p;q"},                                              // values String sanitizes
		{Name: "sid", Value: "v", Path: "/", Partitioned: true, Secure: true},                    // left to String
		{Name: "sid", Value: "v", Path: "/", HttpOnly: true, SameSite: http.SameSiteDefaultMode}, // no SameSite attribute
	} {
		if got, want := setCookieLine(&c), c.String(); got != want {
			t.Errorf("setCookieLine = %q\nwant (String) %q", got, want)
		}
	}
}

// requestCookie finds what r.Cookie finds: the first cookie of the name,
// quoted values unquoted, invalid ones skipped.
func TestRequestCookieIsRCookie(t *testing.T) {
	for _, lines := range [][]string{
		{"sessionid=abc"},
		{"a=1; sessionid=abc; b=2"},
		{"a=1", "sessionid=abc"},
		{"sessionid=abc; sessionid=def"},
		{"sessionid=\"abc\""},
		{"sessionid=a\\b; sessionid=ok"},
		{"sessionid="},
		{"sessionidx=1; xsessionid=2"},
		{" sessionid = abc "},
		{"sessionid=a b"},
		{"sessionid; sessionid=abc"},
		{"a=1;;sessionid=abc"},
		{strings.Repeat("a=1; ", 3000) + "sessionid=abc"},
		{},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header["Cookie"] = lines
		want := ""
		if c, err := r.Cookie("sessionid"); err == nil {
			want = c.Value
		}
		if got := requestCookie(r, "sessionid"); got != want {
			t.Errorf("%q: requestCookie = %q, r.Cookie = %q", lines, got, want)
		}
	}
}

// removeCookie drops the session cookie and keeps the others; the lines
// it does not touch stay as they were, and the request's slice is never
// written into.
func TestRemoveCookie(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"sessionid=abc"}, nil},
		{[]string{"a=1; sessionid=abc; b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1", "sessionid=abc", "b=2"}, []string{"a=1", "b=2"}},
		{[]string{"a=1;b=2"}, []string{"a=1;b=2"}},
		{[]string{"sessionid=x; sessionid=y", "c=3"}, []string{"c=3"}},
	} {
		in := slices.Clone(tc.in)
		h := http.Header{"Cookie": in}
		removeCookie(h, "sessionid")
		if got := h["Cookie"]; !slices.Equal(got, tc.want) || (tc.want == nil && got != nil) {
			t.Errorf("%q: Cookie = %q, want %q", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("%q: the request's slice was written into: %q", tc.in, in)
		}
	}
}
