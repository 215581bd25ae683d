package integration

// What docs/operations.md tells an operator to do, done: several Caddy
// instances on one Redis or PostgreSQL, rotating `secret`, and backing up
// and restoring each store with its own tools.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testpg"
)

// Two Caddy instances on one store are one session system: a login on one
// is a session on the other, either lists it, and a revocation through
// either's admin API logs the user out on both.
func TestSeveralInstancesOneStore(t *testing.T) {
	for _, st := range []struct {
		name  string
		setup func(t *testing.T) *ctStoreFixture
	}{usersStores[2], usersStores[3]} { // redis, db-postgres
		t.Run(st.name, func(t *testing.T) {
			fx := st.setup(t)
			one := startCtEnv(t, fx, "user_key _auth_user_id")
			two := startCtEnv(t, fx, "user_key _auth_user_id")
			c := newClient(t)
			one.write(t, c, "/", "X-Session-Set", `{"_auth_user_id":"42"}`, "X-Session-Cycle-Key", "1")
			// The same cookie, sent to the other instance.
			u1, _ := url.Parse(one.caddy.URL)
			ck := c.Jar.Cookies(u1)[0]
			claims := two.readWithCookie(t, "/", ck.Name, ck.Value)
			if claims.New {
				t.Fatal("the second instance does not find the session the first stored")
			}
			code, body := admin(t, two.caddy, "GET", "/sessions/users/42")
			if code != 200 || !strings.Contains(body, claims.SID) {
				t.Fatalf("the second instance's listing: %d %s; want sid %s", code, body, claims.SID)
			}
			if code, body := admin(t, two.caddy, "DELETE", "/sessions/users/42"); code != 200 || !strings.Contains(body, `"revoked":1`) {
				t.Fatalf("revoking through the second instance: %d %s", code, body)
			}
			if !one.read(t, c, "/").New {
				t.Fatal("the first instance still serves the session revoked through the second")
			}
		})
	}
}

// rotUpstream records the token of each request and answers with the
// update headers of the request's query (?set=<json>).
type rotUpstream struct {
	mu     sync.Mutex
	tokens []string
}

func (u *rotUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.tokens = append(u.tokens, r.Header.Get("X-Session"))
	u.mu.Unlock()
	if set := r.URL.Query().Get("set"); set != "" {
		w.Header().Set("X-Session-Set", set)
		w.Header().Set("X-Session-Cycle-Key", "1")
	}
}

func (u *rotUpstream) last() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.tokens[len(u.tokens)-1]
}

// signedWith reports whether an HS256 token's signature is by secret.
func signedWith(token, secret string) bool {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(token[:i]))
	return hmac.Equal([]byte(base64.RawURLEncoding.EncodeToString(m.Sum(nil))), []byte(token[i+1:]))
}

// Rotating `secret`: with the old secret in secret_fallbacks the session
// cookies stay valid, the upstream gets tokens signed with the new secret,
// every sid changes and the admin API lists the new ones. Without it the
// sessions are lost: the keys carry a tag of the secret that issued them
// (and, under codec django, the stored values its signature).
func TestSecretRotation(t *testing.T) {
	const oldSecret, newSecret = "rotation-test-old-secret-0123456789abcdef", "rotation-test-new-secret-0123456789abcdef"
	for _, tc := range []struct {
		name      string
		opts      string
		fallbacks bool // the new config keeps the old secret as a fallback
		survives  bool
	}{
		// Keys carry a tag of the secret (sites with different secrets
		// never share sessions): the old secret verifies them only as a
		// fallback.
		{"json-with-fallback", "store file", true, true},
		{"json-without-fallback", "store file", false, false},
		{"django-with-fallback", "store file\ncodec django", true, true},
		{"django-without-fallback", "store file\ncodec django", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &rotUpstream{}
			srv := httptest.NewServer(up)
			t.Cleanup(srv.Close)
			site := ctSessionBlock(tc.opts, "user_key _auth_user_id\n{$FALLBACK}") + "\nreverse_proxy " + strings.TrimPrefix(srv.URL, "http://")
			c := startCaddy(t, "", site, "SESSION_SECRET="+oldSecret, "FALLBACK=")
			client := newClient(t)
			get := func(query string) ctClaims {
				t.Helper()
				resp, err := client.Get(c.URL + "/?" + query)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				var cl ctClaims
				if err := decodePayload(up.last(), &cl); err != nil {
					t.Fatal(err)
				}
				return cl
			}
			get("set=" + `{"_auth_user_id":"42"}`)
			before := get("")
			if before.New || !signedWith(up.last(), oldSecret) {
				t.Fatal("no session, or a token not signed with the old secret")
			}

			// The rotation: the new secret, the old one as a fallback.
			c.env = append(c.env, "SESSION_SECRET="+newSecret)
			if tc.fallbacks {
				c.env = append(c.env, "FALLBACK=secret_fallbacks "+oldSecret)
			}
			c.Start()
			after := get("")
			if !signedWith(up.last(), newSecret) {
				t.Fatal("after the rotation the token is not signed with the new secret")
			}
			if after.New == tc.survives {
				t.Fatalf("after the rotation the session survives = %v; want %v", !after.New, tc.survives)
			}
			if !tc.survives {
				return
			}
			if after.SID == before.SID {
				t.Fatal("the sid did not change with the secret")
			}
			if code, body := admin(t, c, "GET", "/sessions/users/42"); code != 200 || !strings.Contains(body, after.SID) || strings.Contains(body, before.SID) {
				t.Fatalf("listing after the rotation: %d %s; want the new sid only", code, body)
			}
		})
	}
}

// Backups with each store's own tools, restored after the sessions were
// lost: the sessions and the user index come back together.
func TestBackupRestore(t *testing.T) {
	for _, st := range []struct {
		name            string
		setup           func(t *testing.T) *ctStoreFixture
		backup, restore func(t *testing.T, e *ctEnv, bak string)
	}{
		{
			name:  "file",
			setup: usersStores[1].setup,
			// Caddy stopped (or a filesystem snapshot): cp -a keeps the
			// modes and the index beside the sessions.
			backup: func(t *testing.T, e *ctEnv, bak string) {
				e.caddy.Stop()
				run(t, "cp", "-a", filepath.Join(e.caddy.Dir, "data", "caddy", "sessions"), bak)
				e.caddy.Start()
			},
			restore: func(t *testing.T, e *ctEnv, bak string) {
				dir := filepath.Join(e.caddy.Dir, "data", "caddy", "sessions")
				e.caddy.Stop()
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				run(t, "cp", "-a", bak, dir)
				e.caddy.Start()
			},
		},
		{
			name:  "redis",
			setup: usersStores[2].setup,
			// SAVE (or BGSAVE) writes a point-in-time RDB file: sessions,
			// their TTLs and the index hashes together.
			backup: func(t *testing.T, e *ctEnv, bak string) {
				rc := redis.NewClient(&redis.Options{Addr: e.store.redis.Addr()})
				defer rc.Close()
				if err := rc.Save(t.Context()).Err(); err != nil {
					t.Fatal(err)
				}
				dir := rc.ConfigGet(t.Context(), "dir").Val()["dir"]
				run(t, "cp", filepath.Join(dir, "dump.rdb"), bak)
			},
			restore: func(t *testing.T, e *ctEnv, bak string) {
				rc := redis.NewClient(&redis.Options{Addr: e.store.redis.Addr()})
				dir := rc.ConfigGet(t.Context(), "dir").Val()["dir"]
				rc.Close()
				e.store.redis.Stop()
				run(t, "cp", bak, filepath.Join(dir, "dump.rdb"))
				e.store.redis.Restart()
			},
		},
		{
			name: "db-postgres",
			setup: func(t *testing.T) *ctStoreFixture {
				_, dsn := testpg.Database(t, "backup_")
				return &ctStoreFixture{line: "store db {\n\tdsn " + dsn + "\n}", db: dsn}
			},
			// pg_dump's one snapshot holds the session table and its
			// index table consistent, and the revocation marks as they
			// were then.
			backup: func(t *testing.T, e *ctEnv, bak string) {
				run(t, "pg_dump", "-Fc", "-t", "django_session", "-t", "django_session_users", "-t", "django_session_revoked", "-f", bak, e.store.db)
			},
			restore: func(t *testing.T, e *ctEnv, bak string) {
				e.caddy.Stop()
				run(t, "pg_restore", "--clean", "--if-exists", "-d", e.store.db, bak)
				e.caddy.Start()
			},
		},
	} {
		t.Run(st.name, func(t *testing.T) {
			e := startCtEnv(t, st.setup(t), "user_key _auth_user_id")
			c := newClient(t)
			e.write(t, c, "/", "X-Session-Set", `{"_auth_user_id":"42","cart":[1,2]}`, "X-Session-Cycle-Key", "1")
			sid := e.read(t, c, "/").SID
			bak := filepath.Join(t.TempDir(), "backup")
			st.backup(t, e, bak)
			// The disaster: every session of the user is gone.
			if code, body := admin(t, e.caddy, "DELETE", "/sessions/users/42"); code != 200 || !strings.Contains(body, `"revoked":1`) {
				t.Fatalf("revoking: %d %s", code, body)
			}
			st.restore(t, e, bak)
			cl := e.read(t, c, "/")
			if cl.New || cl.SID != sid || cl.data()["cart"] != "[1,2]" {
				t.Fatalf("after the restore: new %v, same sid %v, cart %s", cl.New, cl.SID == sid, cl.data()["cart"])
			}
			if code, body := admin(t, e.caddy, "GET", "/sessions/users/42/count"); code != 200 || !strings.Contains(body, `"count":1`) {
				t.Fatalf("the index after the restore: %d %s", code, body)
			}
			// The revocation's mark went with the restore: the restored
			// session cycles its key as before.
			e.write(t, c, "/", "X-Session-Cycle-Key", "1")
			if cl := e.read(t, c, "/"); cl.New || cl.data()["cart"] != "[1,2]" {
				t.Fatalf("after a cycle_key of the restored session: new %v, cart %s", cl.New, cl.data()["cart"])
			}
		})
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
