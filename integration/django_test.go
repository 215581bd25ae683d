package integration

// One login shared by a real Django and a legacy app behind the proxy, for
// each of Django's session engines: Django 3.2 (integration/django/djtool.py,
// configured in-process like a site's settings.py) logs users in, reads,
// changes and flushes sessions in the store; the Node reference upstream
// (jsonwebtoken) reads and changes the same sessions through a real Caddy
// with `codec django` and the matching store. Each side must see exactly
// what the other wrote.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", to create databases and tamper with rows
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // "sqlite", to tamper with rows

	"github.com/caddy-session/caddy-session/internal/testpg"
	"github.com/caddy-session/caddy-session/internal/testredis"
)

const (
	// djSecretKey is the Django site's SECRET_KEY, Caddy's django_secret_key.
	djSecretKey = "django-insecure-integration-0123456789-abcdefghijklmnopqrstuvwxyz"
	// djOldSecretKey is the key before a rotation: Caddy has it in
	// django_secret_key_fallbacks, Django (3.2, before SECRET_KEY_FALLBACKS)
	// only while it was the key.
	djOldSecretKey = "django-insecure-former-key-9876543210-zyxwvutsrqponmlkjihgfedcba"

	djPython    = "/usr/bin/python3"
	djInstall   = "apt-get install -y python3-django python3-django-redis python3-django-redis-sessions python3-psycopg2"
	djBackend   = "django.contrib.auth.backends.ModelBackend"
	djCookie    = "sessionid"
	djSecurity  = `"logger":"http.handlers.session.security"`
	djCorrupted = "session data corrupted"
)

// djEngine is one of Django's engines: setup starts what it needs and says
// how both sides reach it.
type djEngine struct {
	name  string
	setup func(t *testing.T) djStore
}

type djStore struct {
	env   []string // djtool's DJ_* settings, besides DJ_SECRET_KEY
	caddy string   // the Caddyfile store subdirective
	// tamper changes one byte of what the store holds for key, so that its
	// signature fails; nil where the engine signs nothing.
	tamper func(t *testing.T, key string)
	// stateless: signed_cookies, the session is the cookie.
	stateless bool
	// tombstone: after an end the proxy leaves a marker under Django's
	// cache key for a minute (cached_db, see blob.Cached), which Django's
	// exists() counts, as it counts any cache entry.
	tombstone bool
	// adoptsKey: Django's store saves under whatever key the cookie named,
	// even a dead one (django-redis-sessions, whose load never forgets the
	// key; so after Django's own logout too).
	adoptsKey bool
}

var djEngines = []djEngine{
	{"db postgres", func(t *testing.T) djStore {
		dsn := djPostgres(t)
		return djStore{
			env:    []string{"DJ_ENGINE=db", "DJ_DATABASE=" + dsn},
			caddy:  "store db {\n\tdsn " + dsn + "\n\ttable django_session\n}",
			tamper: func(t *testing.T, key string) { djTamperRow(t, "pgx", dsn, key) },
		}
	}},
	{"db sqlite", func(t *testing.T) djStore {
		path := filepath.Join(t.TempDir(), "db.sqlite3")
		return djStore{
			env:    []string{"DJ_ENGINE=db", "DJ_DATABASE=" + path},
			caddy:  "store db {\n\tdsn " + path + "\n}",
			tamper: func(t *testing.T, key string) { djTamperRow(t, "sqlite", path, key) },
		}
	}},
	{"cache", func(t *testing.T) djStore {
		rds := testredis.Start(t)
		return djStore{
			env: []string{"DJ_ENGINE=cache", "DJ_DATABASE=" + djAuthDB(t),
				"DJ_CACHE=redis://" + rds.Addr() + "/0", "DJ_CACHE_KEY_PREFIX=djc", "DJ_CACHE_VERSION=2"},
			caddy: "store cache {\n\taddress " + rds.Addr() + "\n\tkey_prefix djc\n\tversion 2\n}",
			// Django's cache engine keeps the session dict itself, unsigned:
			// the cache is trusted, so there is no signature to break.
		}
	}},
	{"cached_db", func(t *testing.T) djStore {
		rds := testredis.Start(t)
		path := filepath.Join(t.TempDir(), "db.sqlite3")
		return djStore{
			env: []string{"DJ_ENGINE=cached_db", "DJ_DATABASE=" + path,
				"DJ_CACHE=redis://" + rds.Addr() + "/0", "DJ_CACHE_KEY_PREFIX=djcd"},
			caddy: "store cached_db {\n\tcache {\n\t\taddress " + rds.Addr() + "\n\t\tkey_prefix djcd\n\t}\n\tdb {\n\t\tdsn " + path + "\n\t}\n}",
			tamper: func(t *testing.T, key string) {
				// The table holds the signed value; the cache, a plain copy
				// Django filled on its last read, must go for the row to be
				// read again.
				djTamperRow(t, "sqlite", path, key)
				djRedis(t, rds.Addr()).Del(context.Background(), "djcd:1:django.contrib.sessions.cached_db"+key)
			},
			tombstone: true,
		}
	}},
	{"file", func(t *testing.T) djStore {
		dir := filepath.Join(t.TempDir(), "sessions")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		return djStore{
			env:   []string{"DJ_ENGINE=file", "DJ_DATABASE=" + djAuthDB(t), "DJ_FILE_PATH=" + dir},
			caddy: "store file " + dir,
			tamper: func(t *testing.T, key string) {
				path := filepath.Join(dir, djCookie+key)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("reading Django's session file: %v", err)
				}
				if err := os.WriteFile(path, []byte(djFlipByte(t, string(b))), 0o600); err != nil {
					t.Fatal(err)
				}
			},
		}
	}},
	{"signed_cookies", func(t *testing.T) djStore {
		return djStore{
			env:       []string{"DJ_ENGINE=signed_cookies", "DJ_DATABASE=" + djAuthDB(t)},
			caddy:     "store signed_cookies",
			stateless: true,
		}
	}},
	{"redis", func(t *testing.T) djStore {
		rds := testredis.Start(t)
		// django-redis-sessions' default prefix is "", store redis's
		// "session": the bare keys of a default Django setup.
		return djStore{
			env:       []string{"DJ_ENGINE=redis", "DJ_DATABASE=" + djAuthDB(t), "DJ_REDIS=" + rds.Addr(), "DJ_REDIS_PREFIX="},
			adoptsKey: true,
			caddy:     "store redis {\n\taddress " + rds.Addr() + "\n\tkey_prefix \"\"\n}",
			tamper: func(t *testing.T, key string) {
				ctx := context.Background()
				c := djRedis(t, rds.Addr())
				v, err := c.Get(ctx, key).Result()
				if err != nil {
					t.Fatalf("GET %s: %v", "<session key>", err)
				}
				if err := c.SetArgs(ctx, key, djFlipByte(t, v), redis.SetArgs{KeepTTL: true}).Err(); err != nil {
					t.Fatal(err)
				}
			},
		}
	}},
}

func TestDjango(t *testing.T) {
	djRequireDjango(t)
	route := startNodeUpstream(t) // shared: it keeps no state
	for _, eng := range djEngines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			djTestEngine(t, eng.setup(t), route)
		})
	}
}

func djTestEngine(t *testing.T, st djStore, route string) {
	dj := djTool{t: t, env: append([]string{"DJ_SECRET_KEY=" + djSecretKey}, st.env...)}

	// 1. Django logs alice in; the legacy app behind Caddy sees her.
	login := dj.login("alice")
	auth := login.Data
	c := startCaddy(t, "", fmt.Sprintf(
		"session {\n\tsecret {env.SESSION_SECRET}\n\tcodec django\n\tdjango_secret_key {env.DJANGO_SECRET_KEY}\n\tdjango_secret_key_fallbacks {env.DJANGO_OLD_SECRET_KEY}\n%s\n}\n%s",
		indent(st.caddy), route),
		"DJANGO_SECRET_KEY="+djSecretKey, "DJANGO_OLD_SECRET_KEY="+djOldSecretKey)
	client := newClient(t)
	djSetCookie(t, client, c.URL, login.Key)
	djWantToken(t, "Django's login, read by the upstream", client, c.URL, false, auth)

	// 2. The upstream writes; Django reads it beside the auth keys.
	djPost(t, client, c.URL+"/set", `{"cart":[1,2],"legacy":"node"}`, http.StatusOK)
	key := onlySessionCookie(t, client, c.URL)
	want := djWith(auth, map[string]any{"cart": []any{1.0, 2.0}, "legacy": "node"})
	djWantData(t, "the upstream's write, loaded by Django", dj.load(key)[0].Data, want)

	// 3. Django changes a key; the upstream sees it on the next request.
	set := dj.set(key, `{"theme":"dark","cart":[1,2,3]}`)
	if set.Error != "" {
		t.Fatalf("djtool set: %s", set.Error)
	}
	want = djWith(want, map[string]any{"theme": "dark", "cart": []any{1.0, 2.0, 3.0}})
	djWantData(t, "djtool set", set.Data, want)
	if set.Key != key {
		if !st.stateless {
			t.Fatalf("Django's save moved the session to another key")
		}
		djSetCookie(t, client, c.URL, set.Key) // the new signed cookie
		key = set.Key
	}
	djWantToken(t, "Django's write, read by the upstream", client, c.URL, false, want)

	// 4. cycle_key on the proxy side (the upstream's login answers
	// X-Session-Cycle-Key: 1 with X-Session-Set {"user":"bob"}).
	resp, _ := djPost(t, client, c.URL+"/login?user=bob", "", http.StatusFound)
	cookies := sessionSetCookies(t, resp)
	if len(cookies) != 1 || cookies[0].Value == "" || cookies[0].Value == key || cookieDeleted(cookies[0]) {
		t.Fatalf("cycle_key: Set-Cookie %q, want one new session cookie", resp.Header.Values("Set-Cookie"))
	}
	oldKey, key := key, cookies[0].Value
	want = djWith(want, map[string]any{"user": "bob"})
	if st.stateless {
		// A signed cookie cannot be revoked: the old value stays valid
		// until it expires, in Django as here. Only the new one is checked.
		djWantData(t, "the cycled cookie, loaded by Django", dj.load(key)[0].Data, want)
	} else {
		got := dj.load(key, oldKey)
		djWantData(t, "the cycled key, loaded by Django", got[0].Data, want)
		djWantData(t, "the key before cycle_key, loaded by Django", got[1].Data, map[string]any{})
	}
	djWantToken(t, "after cycle_key", client, c.URL, false, want)

	// 5. flush on the Django side (logout); then on the proxy side.
	if !st.stateless {
		dj.flush(key)
		djWantToken(t, "after Django's flush", client, c.URL, true, map[string]any{})
	}
	carol := dj.login("carol")
	client = newClient(t)
	djSetCookie(t, client, c.URL, carol.Key)
	djWantToken(t, "carol's Django login", client, c.URL, false, carol.Data)
	resp, _ = djPost(t, client, c.URL+"/logout", "", http.StatusFound)
	if cookies := sessionSetCookies(t, resp); len(cookies) != 1 || !cookieDeleted(cookies[0]) {
		t.Errorf("the upstream's flush: Set-Cookie %q, want the session cookie deleted", resp.Header.Values("Set-Cookie"))
	}
	if !st.stateless {
		// (signed_cookies: nothing to end on the server; Django's
		// exists() is always False there.)
		if st.tombstone {
			djWantData(t, "after the upstream's flush, Django's load", dj.load(carol.Key)[0].Data, map[string]any{})
		} else if dj.exists(carol.Key) {
			t.Errorf("after the upstream's flush Django's exists() still finds the session")
		}
		// A request that still carries the ended cookie (a replay, a tab
		// racing the logout) and writes to the session gets a new session
		// from Django, as after Django's own logout: not the ended data,
		// not a SessionInterrupted.
		got := dj.set(carol.Key, `{"after":"logout"}`)
		if got.Error != "" || (got.Key == carol.Key) != st.adoptsKey || !reflect.DeepEqual(got.Data, map[string]any{"after": "logout"}) {
			t.Errorf("Django writing to the session the upstream flushed: %+v, want a new session holding only the write (under a new key: %v)", got, !st.adoptsKey)
		}
	}

	if st.tamper == nil && !st.stateless {
		// The cache engine signs nothing: no key to rotate, nothing to
		// tamper with.
		return
	}

	// A session Django signed with the old key verifies through
	// django_secret_key_fallbacks, and the proxy's next write signs it with
	// the current key, which Django 3.2 (no SECRET_KEY_FALLBACKS) then reads.
	old := djTool{t: t, env: append([]string{"DJ_SECRET_KEY=" + djOldSecretKey}, st.env...)}
	dave := old.login("dave")
	client = newClient(t)
	djSetCookie(t, client, c.URL, dave.Key)
	djWantToken(t, "a session signed with the former key", client, c.URL, false, dave.Data)
	djPost(t, client, c.URL+"/set", `{"legacy":"rotated"}`, http.StatusOK)
	key = onlySessionCookie(t, client, c.URL)
	djWantData(t, "re-signed by the proxy, loaded with the current key", dj.load(key)[0].Data,
		djWith(dave.Data, map[string]any{"legacy": "rotated"}))

	if st.stateless {
		// A cookie with one byte changed is no session, as in Django, which
		// does not log it either: it is the client's cookie, not stored
		// data.
		tampered := newClient(t)
		djSetCookie(t, tampered, c.URL, djFlipByte(t, key))
		djWantToken(t, "a tampered signed cookie", tampered, c.URL, true, map[string]any{})
		djTestCookieTooBig(t, c)
		return
	}

	// A stored value with one byte changed: no session, and a line on the
	// security logger (Django's SuspiciousSession).
	st.tamper(t, key)
	djWantToken(t, "a tampered stored value", client, c.URL, true, map[string]any{})
	djLogLine(t, c, djSecurity, djCorrupted)
}

// djTestCookieTooBig: a signed_cookies session whose cookie would exceed
// 4096 bytes fails the response (500), and no cookie is sent.
func djTestCookieTooBig(t *testing.T, c *Caddy) {
	t.Helper()
	// Random text does not compress: about 6.4 KB of cookie, while the
	// session (4.8 KB of JSON) stays under max_session_size's 5120 bytes.
	b := make([]byte, 3600)
	rand.Read(b)
	body := `{"blob":"` + base64.RawURLEncoding.EncodeToString(b) + `"}`
	client := newClient(t)
	resp, _ := djPost(t, client, c.URL+"/set", body, http.StatusInternalServerError)
	if cookies := sessionSetCookies(t, resp); len(cookies) != 0 {
		t.Errorf("an oversized signed cookie: Set-Cookie %q, want none", resp.Header.Values("Set-Cookie"))
	}
	djLogLine(t, c, "over the 4096")
}

// --- djtool ---

// djtoolPath is integration/django/djtool.py, absolute.
func djtoolPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("django", "djtool.py"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var djCheck struct {
	once sync.Once
	err  error
	out  []byte
}

// djRequireDjango fails under CI=true, and skips elsewhere, unless
// /usr/bin/python3 has Django 3.1 or later and the engines' packages.
func djRequireDjango(t *testing.T) {
	t.Helper()
	djCheck.once.Do(func() {
		djCheck.out, djCheck.err = exec.Command(djPython, "-c",
			"import django, django_redis, redis_sessions, psycopg2; assert django.VERSION >= (3, 1), django.get_version()").CombinedOutput()
	})
	if djCheck.err != nil {
		missingTool(t, fmt.Sprintf("%s with Django 3.1+, django-redis, django-redis-sessions and psycopg2 (%v: %s)",
			djPython, djCheck.err, bytes.TrimSpace(djCheck.out)), djInstall)
	}
}

type djTool struct {
	t   *testing.T
	env []string
}

// djSession is one line of djtool's output.
type djSession struct {
	Key    string         `json:"key"`
	Data   map[string]any `json:"data"`
	Exists bool           `json:"exists"`
	Error  string         `json:"error"`
}

func (d djTool) run(args ...string) []djSession {
	d.t.Helper()
	cmd := exec.Command(djPython, append([]string{djtoolPath(d.t)}, args...)...)
	cmd.Env = append(os.Environ(), d.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("djtool %s: %v\n%s%s", args[0], err, stdout.Bytes(), stderr.Bytes())
	}
	var out []djSession
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var s djSession
		if err := dec.Decode(&s); err != nil {
			d.t.Fatalf("djtool %s: output: %v", args[0], err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		d.t.Fatalf("djtool %s printed nothing; stderr:\n%s", args[0], stderr.Bytes())
	}
	return out
}

// login logs a user in on the Django side and checks what login() left.
func (d djTool) login(user string) djSession {
	d.t.Helper()
	s := d.run("login", user)[0]
	id, _ := s.Data["_auth_user_id"].(string)
	hash, _ := s.Data["_auth_user_hash"].(string)
	if id == "" || s.Data["_auth_user_backend"] != djBackend || len(hash) != 64 || len(s.Data) != 3 || s.Key == "" {
		d.t.Fatalf("djtool login %s: %+v, want a key and exactly _auth_user_id, _auth_user_backend and _auth_user_hash", user, s)
	}
	return s
}

func (d djTool) load(keys ...string) []djSession {
	d.t.Helper()
	return d.run(append([]string{"load"}, keys...)...)
}

// set loads key, updates it with changes and saves, as a Django view
// would; Error says when Django's save failed (its SessionInterrupted).
func (d djTool) set(key, changes string) djSession {
	d.t.Helper()
	return d.run("set", key, changes)[0]
}

func (d djTool) flush(key string) { d.t.Helper(); d.run("flush", key) }

func (d djTool) exists(key string) bool { d.t.Helper(); return d.run("exists", key)[0].Exists }

// --- the proxy side ---

// djWantToken checks the session the upstream verified for the client's
// next request: its data exactly, and whether it is new.
func djWantToken(t *testing.T, what string, client *http.Client, base string, wantNew bool, want map[string]any) {
	t.Helper()
	raw := rawToken(t, client, base)
	var p struct {
		Data map[string]any `json:"data"`
		New  bool           `json:"new"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%s: token payload %s: %v", what, raw, err)
	}
	if p.New != wantNew {
		t.Errorf("%s: the upstream sees new=%v, want %v (data %s)", what, p.New, wantNew, djJSON(p.Data))
	}
	djWantData(t, what+": the upstream's data", p.Data, want)
}

func djWantData(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	if got == nil {
		got = map[string]any{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, djJSON(got), djJSON(want))
	}
}

func djPost(t *testing.T, client *http.Client, target, body string, status int) (*http.Response, []byte) {
	t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	resp, b := send(t, client, "POST", target, ct, []byte(body))
	if resp.StatusCode != status {
		t.Fatalf("POST %s: status %d, want %d; body %s", target, resp.StatusCode, status, b)
	}
	return resp, b
}

// djSetCookie puts a session cookie Django made into the client's jar.
func djSetCookie(t *testing.T, client *http.Client, base, value string) {
	t.Helper()
	u, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	client.Jar.SetCookies(u, []*http.Cookie{{Name: djCookie, Value: value, Path: "/"}})
	if got := onlySessionCookie(t, client, base); got != value {
		t.Fatalf("the jar holds %q, want the cookie Django made", got)
	}
}

// djLogLine waits for Caddy to log a line holding every substring (the
// log reaches the test through a pipe, a little after the response).
func djLogLine(t *testing.T, c *Caddy, substrings ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(c.Logs(), "\n") {
			all := true
			for _, s := range substrings {
				all = all && strings.Contains(line, s)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line holds all of %q; log:\n%s", substrings, c.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- stores ---

// djAuthDB is a SQLite file for django.contrib.auth's users, for the
// engines that keep sessions elsewhere.
func djAuthDB(t *testing.T) string {
	return filepath.Join(t.TempDir(), "auth.sqlite3")
}

// djPostgres creates a fresh database, dropped when the test ends, and
// returns its dsn.
func djPostgres(t *testing.T) string {
	t.Helper()
	_, dsn := testpg.Database(t, "django_test_")
	return dsn
}

// djTamperRow changes one byte of a django_session row's session_data.
func djTamperRow(t *testing.T, driver, dsn, key string) {
	t.Helper()
	get := "SELECT session_data FROM django_session WHERE session_key = ?"
	put := "UPDATE django_session SET session_data = ? WHERE session_key = ?"
	if driver == "pgx" {
		get = "SELECT session_data FROM django_session WHERE session_key = $1"
		put = "UPDATE django_session SET session_data = $1 WHERE session_key = $2"
	} else {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var data string
	if err := db.QueryRow(get, key).Scan(&data); err != nil {
		t.Fatalf("reading the session's row: %v", err)
	}
	if _, err := db.Exec(put, djFlipByte(t, data), key); err != nil {
		t.Fatalf("tampering with the session's row: %v", err)
	}
}

func djRedis(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// djFlipByte changes one character in the signed part of a Django value
// ("<payload>:<timestamp>:<signature>"): it is still well-formed, and its
// signature no longer verifies.
func djFlipByte(t *testing.T, v string) string {
	t.Helper()
	payload, _, ok := strings.Cut(v, ":")
	if !ok || len(payload) < 8 {
		t.Fatalf("not a Django signed value: %d bytes", len(v))
	}
	i := len(payload) / 2
	c := byte('A')
	if v[i] == 'A' {
		c = 'B'
	}
	return v[:i] + string(c) + v[i+1:]
}

func djWith(base, changes map[string]any) map[string]any {
	out := maps.Clone(base)
	maps.Copy(out, changes)
	return out
}

func djJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
