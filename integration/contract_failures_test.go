package integration

// Contract, "Failures", plus what a store must keep across a Caddy restart.

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
)

// ctRedisDurable makes a test Redis keep its data across Restart.
var ctRedisDurable = []string{"--appendonly", "yes", "--appendfsync", "always"}

// TestContractFailures runs the Failures section against every store it
// applies to. Each case starts its own Caddy, since it stops things.
func TestContractFailures(t *testing.T) {
	cases := []struct {
		name   string
		stores []string // nil: every store
		run    func(t *testing.T, st ctStore)
	}{
		{"sessions across a Caddy restart", nil, ctTestRestart},
		{"bad configuration at adapt", nil, ctTestBadConfigAdapt},
		{"short secret from the environment", nil, ctTestShortSecretFromEnv},
		{"store down mid-run and back", []string{"redis"}, ctTestRedisDownAndBack},
		{"Caddy starts while the store is down", []string{"redis"}, ctTestStartWhileRedisDown},
		{"store fails while persisting", []string{"redis"}, ctTestRedisFailsWhilePersisting},
		{"store directory unusable", []string{"file"}, ctTestFileStoreUnusable},
	}
	for _, st := range ctStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				if tc.stores != nil && !slices.Contains(tc.stores, st.name) {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, st)
				})
			}
		})
	}
}

// ctFileStoreDir is where the file store keeps sessions by default: the
// Caddy's data dir (XDG_DATA_HOME/caddy) + "/sessions".
func ctFileStoreDir(c *Caddy) string {
	return filepath.Join(c.Dir, "data", "caddy", "sessions")
}

// The file and Redis stores keep sessions across a Caddy restart; the
// memory store, by definition, does not.
func ctTestRestart(t *testing.T, st ctStore) {
	e := startCtEnv(t, st.setup(t))
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"user":"alice","n":9007199254740993}`)
	key := ctJarKey(t, e, c, "/", "sessionid")
	before := e.read(t, c, "/")
	if st.name == "file" {
		entries, err := os.ReadDir(ctFileStoreDir(e.caddy))
		if err != nil || len(entries) == 0 {
			t.Fatalf("the file store's default directory %s holds nothing: %v", ctFileStoreDir(e.caddy), err)
		}
	}

	e.caddy.Start()

	r := e.ok(t, c, ctCall{})
	after := ctToken(t, r)
	if st.name == "memory" {
		if !after.New || len(after.Data) > 0 {
			t.Fatalf("the memory store kept a session across a restart: %s", after.raw)
		}
		ctWantDeleted(t, r.resp, "sessionid")
		return
	}
	ctNoSetCookie(t, r.resp)
	if after.New || after.SID != before.SID || after.ExpiresAt != before.ExpiresAt {
		t.Fatalf("after the restart: %s; before: %s", after.raw, before.raw)
	}
	ctWantData(t, after, before.data())
	// And the session can still be written.
	e.write(t, c, "/", "X-Session-Set", `{"more":1}`)
	ctWantData(t, e.read(t, c, "/"), map[string]string{"user": `"alice"`, "n": "9007199254740993", "more": "1"})
	if got := ctJarKey(t, e, c, "/", "sessionid"); got != key {
		t.Fatalf("the key changed from %s to %s", key, got)
	}
}

// ctCaddyfile writes a Caddyfile for `caddy adapt`/`caddy run` whose site
// holds a session block with lines, and returns its path.
func ctCaddyfile(t *testing.T, lines ...string) string {
	t.Helper()
	dir := t.TempDir()
	body := "{\n\tadmin 127.0.0.1:" + strconv.Itoa(testredis.FreePort(t)) + "\n\tauto_https off\n\tpersist_config off\n}\n\n" +
		"http://127.0.0.1:" + strconv.Itoa(testredis.FreePort(t)) + " {\n" +
		indent("session {\n"+indent(strings.Join(lines, "\n"))+"\n}\nreverse_proxy 127.0.0.1:9") + "\n}\n"
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ctCaddyEnv is the environment of a caddy command run by a test.
func ctCaddyEnv(t *testing.T, extra ...string) []string {
	dir := t.TempDir()
	return append([]string{
		"SESSION_SECRET=" + testSecret,
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
	}, extra...)
}

func ctTestBadConfigAdapt(t *testing.T, st ctStore) {
	const secret = "secret {env.SESSION_SECRET}"
	cases := []struct {
		name  string
		lines []string
		want  string // "" for a config that must adapt
	}{
		{"valid (control)", []string{secret, st.static, "cookie_age 14d", "token_ttl 30s"}, ""},
		{"short literal secret", []string{"secret 0123456789abcdef", st.static}, "secret"},
		{"no secret", []string{st.static}, "secret"},
		{"unknown store", []string{secret, "store mongo"}, "store"},
		{"bad cookie_age", []string{secret, st.static, "cookie_age 14x"}, "cookie_age"},
		{"bad token_ttl", []string{secret, st.static, "token_ttl soon"}, "token_ttl"},
		{"bad cookie_samesite", []string{secret, st.static, "cookie_samesite loose"}, "cookie_samesite"},
		{"bad cookie_secure", []string{secret, st.static, "cookie_secure maybe"}, "cookie_secure"},
		{"bad cookie_httponly", []string{secret, st.static, "cookie_httponly maybe"}, "cookie_httponly"},
		{"unknown subdirective", []string{secret, st.static, "cookie_agee 1h"}, "cookie_agee"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ctCaddyfile(t, tc.lines...)
			out, err := runCaddy(t, filepath.Dir(path), ctCaddyEnv(t), "adapt", "--config", path, "--adapter", "caddyfile")
			if tc.want == "" {
				if err != nil || !strings.Contains(out, `"handler":"session"`) {
					t.Fatalf("a valid config did not adapt: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("adapted; want an error naming %s:\n%s", tc.want, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("the error does not name %s:\n%s", tc.want, out)
			}
		})
	}
}

// A secret that is short once its placeholder is expanded is refused by
// `caddy adapt --validate` and by `caddy run`.
func ctTestShortSecretFromEnv(t *testing.T, st ctStore) {
	cases := []struct{ name, env string }{
		{"short", "CT_SHORT_SECRET=0123456789abcdef"},
		{"unset", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ctCaddyfile(t, "secret {env.CT_SHORT_SECRET}", st.static)
			var env []string
			if tc.env != "" {
				env = append(env, tc.env)
			}
			env = ctCaddyEnv(t, env...)
			if tc.env == "" {
				// Make sure the variable is unset even if the test's own
				// environment has it.
				env = append(env, "CT_SHORT_SECRET=")
			}

			out, err := runCaddy(t, filepath.Dir(path), env, "adapt", "--validate", "--config", path, "--adapter", "caddyfile")
			if err == nil || !strings.Contains(out, "secret") {
				t.Errorf("caddy adapt --validate: err %v; want an error naming secret:\n%s", err, out)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, caddyPath, "run", "--config", path, "--adapter", "caddyfile")
			cmd.Dir = filepath.Dir(path)
			cmd.Env = append(os.Environ(), env...)
			outb, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("caddy run kept running with a short secret:\n%s", outb)
			}
			if err == nil || !strings.Contains(string(outb), "secret") {
				t.Fatalf("caddy run: err %v; want an error naming secret:\n%s", err, outb)
			}
		})
	}
}

// ctWantUnavailable requires the store-down answer: 503 with Retry-After,
// no cookie change, no session header, Vary: Cookie.
func ctWantUnavailable(t *testing.T, r *ctResult) {
	t.Helper()
	ctWantStatus(t, r, http.StatusServiceUnavailable)
	if ra := r.resp.Header.Get("Retry-After"); ra == "" {
		t.Error("503 without Retry-After")
	} else if _, err := strconv.Atoi(ra); err != nil {
		if _, err := http.ParseTime(ra); err != nil {
			t.Errorf("Retry-After %q is neither seconds nor a date", ra)
		}
	}
	ctNoSetCookie(t, r.resp)
	ctNoFamily(t, r.resp, "X-Session")
	if !ctVaryCookie(r.resp) {
		t.Errorf("503 without Vary: Cookie")
	}
}

// ctWantLogCause waits for the log line of request id and requires that it
// says why (the store's address or the refused connection) and holds no
// session key.
func ctWantLogCause(t *testing.T, e *ctEnv, id, key string) {
	t.Helper()
	line := ctLogLine(t, e.caddy, "cs="+id)
	if !strings.Contains(line, e.store.redis.Addr()) && !strings.Contains(line, "refused") {
		t.Errorf("the log line does not say why (no address, no refused connection): %s", line)
	}
	if key != "" && strings.Contains(line, key) {
		t.Errorf("the log line holds the session key: %s", line)
	}
}

// ctEventuallyOK repeats a call until it answers 200 and returns that.
func ctEventuallyOK(t *testing.T, e *ctEnv, client *http.Client, call ctCall) *ctResult {
	t.Helper()
	var r *ctResult
	ctEventually(t, 20*time.Second, "a 200 once the store is back", func() bool {
		r = e.do(t, client, call)
		return r.resp.StatusCode == http.StatusOK
	})
	return r
}

func ctTestRedisDownAndBack(t *testing.T, st ctStore) {
	e := startCtEnv(t, st.setup(t, ctRedisDurable...))
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	key := ctJarKey(t, e, c, "/", "sessionid")

	e.store.redis.Stop()
	calls := e.up.calls.Load()
	for _, call := range []ctCall{{}, {answer: ctLines("X-Session-Set", `{"b":2}`)}} {
		r := e.do(t, c, call)
		ctWantUnavailable(t, r)
		if r.seen != nil || e.up.calls.Load() != calls {
			t.Fatal("the upstream was called while the session could not be loaded")
		}
		ctWantLogCause(t, e, r.id, key)
	}
	// A login while the store is down: the upstream answers, the save fails.
	r := e.do(t, newClient(t), ctCall{answer: ctLines("X-Session-Set", `{"user":"bob"}`), respBody: "LOGGED-IN"})
	ctWantUnavailable(t, r)
	if strings.Contains(string(r.body), "LOGGED-IN") {
		t.Error("the upstream's body reached the client although the session was not saved")
	}
	if got := ctJarKey(t, e, c, "/", "sessionid"); got != key {
		t.Fatalf("the cookie was touched: %q -> %q", key, got)
	}

	e.store.redis.Restart()
	r = ctEventuallyOK(t, e, c, ctCall{})
	ctWantData(t, ctToken(t, r), map[string]string{"a": "1"})
	e.write(t, c, "/", "X-Session-Set", `{"b":2}`)
	ctWantData(t, e.read(t, c, "/"), map[string]string{"a": "1", "b": "2"})
}

func ctTestStartWhileRedisDown(t *testing.T, st ctStore) {
	fx := st.setup(t, ctRedisDurable...)
	fx.redis.Stop()
	e := startCtEnv(t, fx) // must start

	key := session.NewRealm([]byte(testSecret)).New() // a key this site could have issued
	r := e.do(t, ctRawClient(), ctCall{header: ctLines("Cookie", "sessionid="+key)})
	ctWantUnavailable(t, r)
	if r.seen != nil {
		t.Fatal("the upstream was called while the session could not be loaded")
	}
	ctWantLogCause(t, e, r.id, key)
	ctWantUnavailable(t, e.do(t, newClient(t), ctCall{answer: ctLines("X-Session-Set", `{"a":1}`)}))

	fx.redis.Restart()
	c := newClient(t)
	r = ctEventuallyOK(t, e, c, ctCall{answer: ctLines("X-Session-Set", `{"a":1}`)})
	ctSetCookie(t, r.resp, "sessionid")
	ctWantData(t, e.read(t, c, "/"), map[string]string{"a": "1"})
}

// The store fails after the upstream has answered: the client gets 503, not
// the upstream's 200, so a login never silently fails to stick.
func ctTestRedisFailsWhilePersisting(t *testing.T, st ctStore) {
	e := startCtEnv(t, st.setup(t, ctRedisDurable...))
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	key := ctJarKey(t, e, c, "/", "sessionid")

	r := e.do(t, c, ctCall{
		before:   e.store.redis.Stop,
		answer:   ctLines("X-Session-Set", `{"b":2}`, "X-Session-Cycle-Key", "1"),
		respBody: "LOGGED-IN",
	})
	if r.seen == nil {
		t.Fatal("the upstream was not called")
	}
	ctWantUnavailable(t, r)
	if strings.Contains(string(r.body), "LOGGED-IN") {
		t.Error("the upstream's body reached the client although the session was not saved")
	}
	ctWantLogCause(t, e, r.id, key)

	e.store.redis.Restart()
	r = ctEventuallyOK(t, e, c, ctCall{})
	ctWantData(t, ctToken(t, r), map[string]string{"a": "1"})
	if got := ctJarKey(t, e, c, "/", "sessionid"); got != key {
		t.Fatalf("the cookie changed from %s to %s", key, got)
	}
}

// The file store's directory replaced by a file: the store cannot answer.
// The client gets 503 and the upstream is not called with an empty session;
// putting the directory back recovers without a restart.
func ctTestFileStoreUnusable(t *testing.T, st ctStore) {
	e := startCtEnv(t, st.setup(t))
	c := newClient(t)
	e.write(t, c, "/", "X-Session-Set", `{"a":1}`)
	key := ctJarKey(t, e, c, "/", "sessionid")
	dir := ctFileStoreDir(e.caddy)
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := e.do(t, c, ctCall{answer: ctLines("X-Session-Set", `{"b":2}`)})
	ctWantUnavailable(t, r)
	if r.seen != nil {
		t.Fatal("the upstream was called while the session could not be loaded")
	}
	line := ctLogLine(t, e.caddy, "cs="+r.id)
	if strings.Contains(line, key) {
		t.Errorf("the log line holds the session key: %s", line)
	}

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	ctWantData(t, e.read(t, c, "/"), map[string]string{"a": "1"})
}
