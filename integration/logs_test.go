package integration

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/filestore"
)

// The session handler's log of a scripted flow, at debug level in a log of
// its own as docs/operations.md suggests: each way a session ends is there
// with its reason, sid and store; each decision has a debug line; and no
// line holds a session key or a session value.
func TestLogs(t *testing.T) {
	const value = "value-never-logged"
	up := newOpsUpstream(t)
	up.answer("/login", "X-Session-Set", `{"user":"`+value+`"}`)
	old := strconv.FormatInt(time.Now().Add(-2*time.Hour).Unix(), 10)
	up.answer("/cycle", "X-Session-Cycle-Key", "1")
	up.answer("/logout", "X-Session-Flush", "1")
	up.answer("/forget", "X-Session-Delete", `["user"]`)
	entered, release := make(chan struct{}), make(chan struct{})
	up.handle("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		w.Header().Set("X-Session-Set", `{"late":"`+value+`"}`)
	})
	c := startCaddy(t, `	log session {
		level DEBUG
		format json
		include http.handlers.session
	}`, `session {
	secret {env.SESSION_SECRET}
	store file
}
reverse_proxy `+up.host)

	client := newClient(t)
	base, _ := url.Parse(c.URL)
	var keys []string // every session key the flow used
	expect := func(path string, status int) {
		t.Helper()
		if got, body, _ := opsGet(t, client, c.URL+path); got != status {
			t.Fatalf("GET %s = %d %q, want %d", path, got, body, status)
		}
		for _, ck := range client.Jar.Cookies(base) {
			keys = append(keys, ck.Value)
		}
	}
	expect("/login", 200)
	expect("/read", 200)
	expect("/cycle", 200)
	expect("/logout", 200) // flushed
	expect("/login", 200)
	expect("/forget", 200) // cleared
	expect("/login", 200)
	slow := getStatus(client, c.URL+"/slow")
	<-entered
	expect("/logout", 200)
	close(release)
	if got := <-slow; got != http.StatusBadRequest { // interrupted
		t.Fatalf("interrupted save: %d, want 400", got)
	}
	req, _ := http.NewRequest("GET", c.URL+"/read", nil)
	unknown := session.NewRealm([]byte(testSecret)).New() // a key this site could have issued
	req.AddCookie(&http.Cookie{Name: "sessionid", Value: unknown})
	keys = append(keys, unknown)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	// expired: a session created two hours ago meets an absolute timeout
	// of one hour, configured since.
	// Only the handler writes _session_created (no upstream can): date the
	// last login back in the store itself.
	expect("/login", 200)
	dateBack(t, filepath.Join(c.Dir, "data", "caddy", "sessions"), client, base, session.CreatedKey, old)
	cfg, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "store file", "store file\n\tabsolute_timeout 1h", 1))
	if err := os.WriteFile(c.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	c.Start()
	expect("/read", 200)

	// The last line the flow logs: the expired session.
	logs := opsWaitLogs(c, func(logs string) bool { return strings.Contains(logs, `"reason":"expired"`) })
	ended := map[string]map[string]any{}
	messages := map[string]map[string]any{}
	for _, l := range opsJSONLines(logs) {
		if l["logger"] != "http.handlers.session" {
			continue
		}
		msg, _ := l["msg"].(string)
		messages[msg] = l
		if msg == "session ended" {
			ended[l["reason"].(string)] = l
		}
	}
	for _, reason := range []string{"flushed", "cleared", "interrupted", "expired"} {
		l, ok := ended[reason]
		if !ok {
			t.Errorf("no \"session ended\" line with reason %q", reason)
			continue
		}
		if sid, _ := l["sid"].(string); l["store"] != "file" || sid == "" || l["level"] != "info" {
			t.Errorf("session ended (%s): %v; want level info, store file and a sid", reason, l)
		}
	}
	if ended["expired"]["timeout"] != "absolute" {
		t.Errorf("expired session: %v, want timeout absolute", ended["expired"])
	}
	for msg, fields := range map[string][]string{
		"no session cookie: new session":                                          {"store", "outcome"},
		"session saved under a new key":                                           {"sid", "store", "outcome", "duration"},
		"cookie named a live session: loaded":                                     {"sid", "store", "outcome", "duration"},
		"session key cycled: the old key is dead, the data moved to a new one":    {"sid", "old_sid", "store", "outcome", "duration"},
		"cookie named no stored session (expired, ended or unknown): new session": {"sid", "store", "outcome", "duration"},
		"no session change: nothing saved":                                        {"sid", "store", "outcome"},
	} {
		l, ok := messages[msg]
		if !ok {
			t.Errorf("no debug line %q", msg)
			continue
		}
		if l["level"] != "debug" {
			t.Errorf("%q at level %v, want debug", msg, l["level"])
		}
		for _, f := range fields {
			if _, ok := l[f]; !ok {
				t.Errorf("%q has no field %s: %v", msg, f, l)
			}
		}
	}
	if len(keys) < 4 {
		t.Fatalf("the flow used %d session keys, want at least 4", len(keys))
	}
	for _, line := range strings.Split(logs, "\n") {
		for _, k := range keys {
			if strings.Contains(line, k) {
				t.Errorf("a log line holds a session key: %s", line)
			}
		}
		if strings.Contains(line, value) {
			t.Errorf("a log line holds a session value: %s", line)
		}
	}
}

// dateBack sets field to the unix time unix in the session that client's
// sessionid cookie names, in the file store at dir: what only the handler
// may write, as if it had written it long ago.
func dateBack(t *testing.T, dir string, client *http.Client, base *url.URL, field, unix string) {
	t.Helper()
	store, err := filestore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range client.Jar.Cookies(base) {
		if ck.Name == "sessionid" {
			if _, err := store.Save(t.Context(), ck.Value, session.Change{Mode: session.ModeUpdate, Set: session.Data{field: []byte(unix)}}); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("no sessionid cookie to date back")
}
