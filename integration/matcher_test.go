package integration

import (
	"net/http"
	"strings"
	"testing"
)

// A site gates paths on a session key at the proxy, without the app:
// `redir @anon` (ordered before `session`, so its matcher loads the
// session itself), `respond` inside a `handle` (after `session`), and a
// CEL expression.
func TestSessionMatcher(t *testing.T) {
	up := newOpsUpstream(t)
	up.answer("/login", "X-Session-Set", `{"_auth_user_id":"7","role":"editor"}`)
	up.answer("/login-admin", "X-Session-Set", `{"_auth_user_id":"1","role":"admin"}`)
	up.answer("/logout", "X-Session-Flush", "1")
	c := startCaddy(t, "", `session {
	secret {env.SESSION_SECRET}
	store memory
}
@anon {
	path /app/*
	not session _auth_user_id
}
redir @anon /login 302
@admin expression session('role', 'admin')
handle /admin/* {
	respond @admin "admin area, user {http.session._auth_user_id}" 200
	respond "forbidden" 403
}
handle {
	reverse_proxy `+up.host+`
}`)

	for _, tc := range []struct {
		name         string
		login        string
		path         string
		status       int
		body         string // prefix
		upstreamCall bool
	}{
		{"anonymous, gated path", "", "/app/page", http.StatusFound, "", false},
		{"anonymous, open path", "", "/open", http.StatusOK, "upstream /open", true},
		{"anonymous, admin", "", "/admin/x", http.StatusForbidden, "forbidden", false},
		{"logged in, gated path", "/login", "/app/page", http.StatusOK, "upstream /app/page", true},
		{"editor, admin", "/login", "/admin/x", http.StatusForbidden, "forbidden", false},
		{"admin, admin", "/login-admin", "/admin/x", http.StatusOK, "admin area, user 1", false},
		{"logged out, gated path", "/logout", "/app/page", http.StatusFound, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t)
			if tc.login != "" {
				if tc.login == "/logout" {
					opsGet(t, client, c.URL+"/login")
				}
				if status, _, _ := opsGet(t, client, c.URL+tc.login); status != http.StatusOK {
					t.Fatalf("%s: %d", tc.login, status)
				}
			}
			calls := up.called(tc.path)
			status, body, resp := opsGet(t, client, c.URL+tc.path)
			if status != tc.status || !strings.HasPrefix(body, tc.body) {
				t.Errorf("GET %s = %d %q, want %d %q", tc.path, status, body, tc.status, tc.body)
			}
			if status == http.StatusFound && resp.Header.Get("Location") != "/login" {
				t.Errorf("redirected to %q, want /login", resp.Header.Get("Location"))
			}
			if called := up.called(tc.path) > calls; called != tc.upstreamCall {
				t.Errorf("upstream called: %v, want %v", called, tc.upstreamCall)
			}
		})
	}

	// A forged or unknown cookie is no session: the gate holds.
	req, _ := http.NewRequest("GET", c.URL+"/app/page", nil)
	req.AddCookie(&http.Cookie{Name: "sessionid", Value: "abcdefghijklmnopqrstuvwxyz012345"})
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("unknown cookie on a gated path: %d, want 302", resp.StatusCode)
	}
}
