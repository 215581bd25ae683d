package integration

// Config mistakes caught at load, end to end (issue 17): the real binary's
// `caddy adapt` names the fix (the nearest store or subdirective, the
// duration units, the accepted Redis address forms); a Redis URL of the
// kind Django's LOCATION holds works, its database and password included;
// a Redis that is down at start is a warning naming its address, and
// Caddy still starts.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// TestConfigErrorsAdapt: what `caddy adapt` prints for each mistake.
func TestConfigErrorsAdapt(t *testing.T) {
	const secret = "secret {env.SESSION_SECRET}"
	const forms = "want host[:port] (port 6379 when omitted), redis://[user:password@]host[:port][/db], rediss://... (the same over TLS), or unix:///path/to/redis.sock[?db=n]"
	cases := []struct {
		name  string
		lines []string
		want  string // "" for a config that must adapt
	}{
		{"postgres", []string{secret, "store postgres"},
			`store: unknown store "postgres"; did you mean db (Django's db engine on PostgreSQL, SQLite or MySQL)? (known: cache, cached_db, db, file, memory, redis, signed_cookies)`},
		{"mistyped subdirective", []string{secret, "store memory", "cokie_age 1d"},
			`unrecognized subdirective "cokie_age"; did you mean "cookie_age"?`},
		{"mistyped redis subdirective", []string{secret, "store redis {\n\tadress 127.0.0.1:6379\n}"},
			`store redis: unrecognized subdirective "adress"; did you mean "address"?`},
		{"weeks", []string{secret, "store memory", "cookie_age 2w"},
			`cookie_age: bad duration "2w": want a number and a unit: ns, us, ms, s, m, h or d (days), combined as in 1h30m; e.g. 14d, 90m, 30s`},
		{"bad address", []string{secret, "store redis {\n\taddress localhost:redis\n}"},
			`store redis: address "localhost:redis": bad port "redis"; ` + forms},
		{"URL db against db", []string{secret, "store redis {\n\taddress redis://127.0.0.1:6379/7\n\tdb 2\n}"},
			`store redis: address "redis://127.0.0.1:6379/7": its database 7 conflicts with db 2; keep one`},
		{"redis URL adapts", []string{secret, "store redis {\n\taddress redis://127.0.0.1:6379/7\n}"}, ""},
		{"host alone adapts", []string{secret, "store redis {\n\taddress localhost\n}"}, ""},
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
				t.Fatalf("adapted; want the error %q:\n%s", tc.want, out)
			}
			if msg := adaptError(out); !strings.HasPrefix(msg, "parsing caddyfile tokens for 'session': "+tc.want+", at ") {
				t.Fatalf("the error is\n%s\nwant\n%s, at <file:line>", msg, tc.want)
			}
		})
	}
}

// adaptError is the msg of the error line caddy adapt logged.
func adaptError(out string) string {
	for line := range strings.SplitSeq(out, "\n") {
		var l struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Level == "error" {
			return l.Msg
		}
	}
	return out
}

// TestConfigRedisURL: `address redis://:<password>@127.0.0.1:<port>/7`,
// as a Django user copies it from LOCATION, and the same server's unix
// socket as `unix://:<password>@/path?db=7`, reach a real redis-server
// that requires the password, and the session lands in database 7 (where
// such an address used to answer every request 503).
func TestConfigRedisURL(t *testing.T) {
	const password = "c0nfig-test-pw"
	sock := filepath.Join(t.TempDir(), "redis.sock")
	srv := testredis.Start(t, "--requirepass", password, "--unixsocket", sock, "--unixsocketperm", "700")
	for _, tc := range []struct{ name, address string }{
		{"redis URL", "redis://:{env.CT_REDIS_PASSWORD}@127.0.0.1:" + strconv.Itoa(srv.Port) + "/7"},
		{"unix socket URL", "unix://:{env.CT_REDIS_PASSWORD}@" + sock + "?db=7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flushRedis(t, srv, password)
			configRedisLogin(t, tc.address, password)
			for db, want := range map[int]int64{7: 1, 0: 0} {
				rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password, DB: db})
				n, err := rdb.DBSize(context.Background()).Result()
				rdb.Close()
				if err != nil {
					t.Fatal(err)
				}
				if n != want {
					t.Errorf("database %d holds %d keys, want %d", db, n, want)
				}
			}
		})
	}
}

// flushRedis empties every database of srv.
func flushRedis(t *testing.T, srv *testredis.Server, password string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password})
	defer rdb.Close()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// configRedisLogin runs a Caddy whose store redis has address, logs in
// through an upstream that sets {"user":"alice"}, and checks that the
// next request's session holds it.
func configRedisLogin(t *testing.T, address, password string) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			w.Header().Set("X-Session-Set", `{"user":"alice"}`)
		}
		var claims struct {
			Data map[string]any `json:"data"`
		}
		if err := decodePayload(r.Header.Get("X-Session"), &claims); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(claims.Data)
	}))
	t.Cleanup(up.Close)
	c := startCaddy(t, "", "session {\n\tsecret {env.SESSION_SECRET}\n\tstore redis {\n\t\taddress "+address+
		"\n\t}\n}\nreverse_proxy "+strings.TrimPrefix(up.URL, "http://"), "CT_REDIS_PASSWORD="+password)
	client := newClient(t)
	get := func(path string) string {
		t.Helper()
		resp, err := client.Get(c.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s\nlog:\n%s", path, resp.StatusCode, body, c.Logs())
		}
		return strings.TrimSpace(string(body))
	}
	get("/login")
	if got := get("/whoami"); got != `{"user":"alice"}` {
		t.Fatalf("the next request's session data = %s, want {\"user\":\"alice\"}", got)
	}
}

// TestConfigRedisDownAtStart: Caddy starts while its Redis is down, and
// says so at start with the address (where the URL's password and
// database are not), as the db store does.
func TestConfigRedisDownAtStart(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testredis.FreePort(t)) // nothing listens
	c := startCaddy(t, "", "session {\n\tsecret {env.SESSION_SECRET}\n\tstore redis {\n\t\taddress redis://"+addr+"/3\n\t}\n}\nrespond ok")
	ctLogLine(t, c, `"level":"warn"`, "session store not reachable at start", `"addresses":["`+addr+`"]`)
	// A request without a session needs no store: served while Redis is
	// down.
	resp, err := http.Get(c.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("got %d %q while Redis is down, want 200 ok", resp.StatusCode, body)
	}
}
