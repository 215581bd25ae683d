package integration

import (
	"net/http"
	"testing"
)

// {http.session.*} reach the handlers after `session`: a `respond` prints a
// session value, and `reverse_proxy`'s `header_up` forwards one, in place
// of whatever the client sent under that name.
func TestPlaceholders(t *testing.T) {
	up := newOpsUpstream(t)
	up.answer("/login", "X-Session-Set", `{"user_id":"42","name":"Zoë","admin":false,"groups":["a","b"]}`)
	c := startCaddy(t, "", `log {
	format json
}
log_append sid {http.session.sid}
session {
	secret {env.SESSION_SECRET}
	store memory
}
handle /whoami {
	respond "user={http.session.user_id} name={http.session.name} admin={http.session.admin} groups={http.session.groups} missing=[{http.session.missing}] new={http.session.new} sid={http.session.sid}"
}
handle /routed {
	header X-User {http.session.user_id}
	rewrite * /rewritten/{http.session.user_id}
	reverse_proxy `+up.host+`
}
handle {
	reverse_proxy `+up.host+` {
		header_up X-User-Id {http.session.user_id}
	}
}`)
	client := newClient(t)

	_, body, resp := opsGet(t, client, c.URL+"/whoami")
	if want := "user= name= admin= groups= missing=[] new=true sid="; body != want {
		t.Errorf("anonymous /whoami = %q, want %q", body, want)
	}
	// A client cannot pass for a user: header_up replaces its header.
	req, _ := http.NewRequest("GET", c.URL+"/api", nil)
	req.Header.Set("X-User-Id", "1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("anonymous /api: %d", resp.StatusCode)
	}
	if got := up.header("/api").Get("X-User-Id"); got != "" {
		t.Errorf("anonymous request: the upstream got X-User-Id %q, want none", got)
	}

	if status, _, _ := opsGet(t, client, c.URL+"/login"); status != http.StatusOK {
		t.Fatalf("login: %d", status)
	}
	opsGet(t, client, c.URL+"/api")
	sid := opsSID(t, up.header("/api"))
	if got := up.header("/api").Get("X-User-Id"); got != "42" {
		t.Errorf("header_up X-User-Id {http.session.user_id}: the upstream got %q, want 42", got)
	}
	// header and rewrite, inside a handle that session precedes.
	_, _, resp = opsGet(t, client, c.URL+"/routed")
	if got := resp.Header.Get("X-User"); got != "42" {
		t.Errorf("header X-User {http.session.user_id}: %q, want 42", got)
	}
	if up.called("/rewritten/42") != 1 {
		t.Errorf("rewrite * /rewritten/{http.session.user_id} did not reach /rewritten/42")
	}
	_, body, _ = opsGet(t, client, c.URL+"/whoami")
	want := `user=42 name=Zoë admin=false groups=["a","b"] missing=[] new=false sid=` + sid
	if sid == "" || body != want {
		t.Errorf("/whoami = %q, want %q", body, want)
	}
	// log_append: the access log line of each request carries its sid.
	logged := func(logs string) bool {
		for _, l := range opsJSONLines(logs) {
			req, _ := l["request"].(map[string]any)
			if l["msg"] == "handled request" && req != nil && req["uri"] == "/whoami" && l["sid"] == sid {
				return true
			}
		}
		return false
	}
	if !logged(opsWaitLogs(c, logged)) {
		t.Errorf("no access log line for /whoami with sid %q:\n%s", sid, c.Logs())
	}
}
