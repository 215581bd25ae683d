package headers

import (
	"errors"
	"net/http"
	"testing"
)

// X-Session-Logout-Others and X-Session-Logout-All are update headers like
// the others: any spelling, "1" only, never as a trailer, and stripped from
// what reaches the client and from what a client sends.
func TestParseLogout(t *testing.T) {
	n := mustNames(t, "")
	for _, tc := range []struct {
		name      string
		in        http.Header
		others    bool
		all       bool
		malformed string // the header a *HeaderError names
	}{
		{name: "others", in: http.Header{"X-Session-Logout-Others": {"1"}}, others: true},
		{name: "all", in: http.Header{"X-Session-Logout-All": {"1"}}, all: true},
		{name: "lower case and folded", in: http.Header{"x_session.logout-OTHERS": {"1"}}, others: true},
		{name: "with other updates", in: http.Header{"X-Session-Logout-All": {"1"}, "X-Session-Set": {`{"a":1}`}, "X-Session-Cycle-Key": {"1"}}, all: true},
		{name: "not 1", in: http.Header{"X-Session-Logout-Others": {"yes"}}, malformed: "X-Session-Logout-Others"},
		{name: "empty", in: http.Header{"X-Session-Logout-All": {""}}, malformed: "X-Session-Logout-All"},
		{name: "as a trailer", in: http.Header{"Trailer:X-Session-Logout-Others": {"1"}}, malformed: "X-Session-Logout-Others"},
		{name: "announced as a trailer", in: http.Header{"Trailer": {"X-Session-Logout-All"}}, malformed: "X-Session-Logout-All"},
		{name: "a malformed neighbour voids it", in: http.Header{"X-Session-Logout-Others": {"1"}, "X-Session-Set": {`[1]`}}, malformed: "X-Session-Set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := cloneHeader(tc.in)
			u, err := n.ParseUpdate(h)
			if tc.malformed != "" {
				var he *HeaderError
				if !errors.As(err, &he) || he.Header != tc.malformed || u != nil {
					t.Fatalf("ParseUpdate = %v, %v; want a *HeaderError naming %s", dump(u), err, tc.malformed)
				}
			} else if err != nil || u == nil || u.LogoutOthers != tc.others || u.LogoutAll != tc.all {
				t.Fatalf("ParseUpdate = %v, %v; want others %v, all %v", dump(u), err, tc.others, tc.all)
			}
			for k, vs := range h {
				if n.Match(k) || (k == "Trailer" && len(vs) > 0 && vs[0] != "") {
					t.Fatalf("header %q left for the client", k)
				}
			}
		})
	}
}

func TestStripLogout(t *testing.T) {
	n := mustNames(t, "")
	h := http.Header{"X-Session-Logout-Others": {"1"}, "x-session_logout-all": {"1"}, "X.Session.Logout.Others": {"1"}, "Accept": {"*/*"}}
	n.Strip(h)
	if len(h) != 1 || h.Get("Accept") == "" {
		t.Fatalf("after Strip: %v; want only Accept", h)
	}
}
