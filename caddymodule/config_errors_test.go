package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseSession reads a session block written with "; " for a newline and
// braces on lines of their own, as TestUnmarshalCaddyfile does, and
// returns the error text without its ", at Testfile:N" position.
func parseSession(t *testing.T, body string) (*Handler, string) {
	t.Helper()
	input := strings.NewReplacer("; ", "\n", "{ ", "{\n", " }", "\n}").Replace("session { secret {env.S}; " + body + " }")
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	if err == nil {
		return &h, ""
	}
	msg, _, _ := strings.Cut(err.Error(), ", at Testfile:")
	return &h, msg
}

const formsMsg = "; want host[:port] (port 6379 when omitted), redis://[user:password@]host[:port][/db], rediss://... (the same over TLS), or unix:///path/to/redis.sock[?db=n]"

// TestRedisAddressForms: the URL forms a Django or go-redis user already
// has are read as go-redis reads them, a bare host means port 6379, and
// anything else is refused at load with the accepted forms, where it used
// to pass and answer every request 503.
func TestRedisAddressForms(t *testing.T) {
	for _, tc := range []struct {
		name, block        string
		addrs              []string
		username, password string
		db                 int
		tls                bool
		wantErr            string
	}{
		{name: "host and port", block: "address 10.0.0.1:6380", addrs: []string{"10.0.0.1:6380"}},
		{name: "host alone means 6379", block: "address localhost", addrs: []string{"localhost:6379"}},
		{name: "ipv6 in brackets", block: "address [::1]", addrs: []string{"[::1]:6379"}},
		{name: "redis URL with db", block: "address redis://127.0.0.1:6379/7", addrs: []string{"127.0.0.1:6379"}, db: 7},
		{name: "redis URL without port", block: "address redis://cache.internal", addrs: []string{"cache.internal:6379"}},
		{name: "redis URL with credentials", block: "address redis://app:s3cret@10.0.0.1/2", addrs: []string{"10.0.0.1:6379"}, username: "app", password: "s3cret", db: 2},
		{name: "redis URL password only", block: "address redis://:s3cret@10.0.0.1", addrs: []string{"10.0.0.1:6379"}, password: "s3cret"},
		{name: "rediss URL", block: "address rediss://redis.example.com:6380/1", addrs: []string{"redis.example.com:6380"}, db: 1, tls: true},
		{name: "unix socket", block: "address unix:///run/redis/redis.sock", addrs: []string{"/run/redis/redis.sock"}},
		{name: "unix socket with db", block: "address unix:///run/redis/redis.sock?db=3", addrs: []string{"/run/redis/redis.sock"}, db: 3},
		{name: "URL db agrees with db", block: "address redis://10.0.0.1/4; db 4", addrs: []string{"10.0.0.1:6379"}, db: 4},
		{name: "URL user agrees with username", block: "address redis://app@10.0.0.1; username app", addrs: []string{"10.0.0.1:6379"}, username: "app"},
		{name: "cluster of URLs", block: "address redis://10.0.0.1:7000 redis://10.0.0.2:7000", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}},

		{name: "ipv6 without brackets", block: "address ::1", wantErr: `store redis: address "::1": not host:port (an IPv6 address goes in brackets: [::1]:6379)` + formsMsg},
		{name: "bad port", block: "address localhost:redis", wantErr: `store redis: address "localhost:redis": bad port "redis"` + formsMsg},
		{name: "port out of range", block: "address redis://localhost:70000", wantErr: `store redis: address "redis://localhost:70000": bad port "70000"` + formsMsg},
		{name: "unknown scheme", block: "address http://localhost:6379", wantErr: `store redis: address "http://localhost:6379": unknown scheme "http"` + formsMsg},
		{name: "bare socket path", block: "address /run/redis/redis.sock", addrs: []string{"/run/redis/redis.sock"}},
		{name: "bare socket path among others", block: "address /run/redis/redis.sock 10.0.0.1:6379", wantErr: `store redis: address "/run/redis/redis.sock": a unix socket is one server; give it alone`},
		{name: "db not a number", block: "address redis://localhost/sessions", wantErr: `store redis: address "redis://localhost/sessions": invalid database number: "sessions"` + formsMsg},
		{
			name:    "query option refused, password not shown",
			block:   "address redis://app:hunter2@localhost/1?pool_size=3",
			wantErr: `store redis: address "redis://app:xxxxx@localhost/1?pool_size=3": query option "pool_size" is not read here: set it in the block instead (db, tls, dial_timeout, timeout, pool_size, username, password)` + formsMsg,
		},
		{name: "no host", block: "address redis:///1", wantErr: `store redis: address "redis:///1": no host` + formsMsg},
		{name: "URL db conflicts with db", block: "address redis://127.0.0.1:6379/7; db 2", wantErr: `store redis: address "redis://127.0.0.1:6379/7": its database 7 conflicts with db 2; keep one`},
		{name: "URL user conflicts with username", block: "address redis://app@127.0.0.1; username admin", wantErr: `store redis: address "redis://app@127.0.0.1": its user "app" conflicts with username's "admin"; keep one`},
		{
			name:    "URL password conflicts with password, neither shown",
			block:   "address redis://app:hunter2@127.0.0.1; password other-secret",
			wantErr: `store redis: address "redis://app:xxxxx@127.0.0.1": its password differs from password's; keep one`,
		},
		{name: "two URLs, two dbs", block: "master_name m; address redis://10.0.0.1:26379/1 redis://10.0.0.2:26379/2", wantErr: `store redis: address "redis://10.0.0.2:26379/2": its database 2 conflicts with address "redis://10.0.0.1:26379/1"'s 1; keep one`},
		{name: "cluster with a URL db", block: "address redis://10.0.0.1:7000/3 redis://10.0.0.2:7000/3", wantErr: `store redis: database 3 (from an address): a Redis Cluster (several addresses without master_name) has only database 0`},
		{name: "socket among others", block: "address unix:///run/redis.sock 10.0.0.1:6379", wantErr: `store redis: address "unix:///run/redis.sock": a unix socket is one server; give it alone`},
		{name: "rediss and redis mixed", block: "address rediss://10.0.0.1:7000 redis://10.0.0.2:7000", wantErr: `store redis: address: some addresses are rediss:// and some not; use rediss:// for all, or the tls subdirective`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, msg := parseSession(t, "store redis { "+tc.block+" }")
			if tc.wantErr != "" {
				if msg != tc.wantErr {
					t.Fatalf("error\n got %q\nwant %q", msg, tc.wantErr)
				}
				if strings.Contains(msg, "hunter2") {
					t.Fatalf("error shows the password: %s", msg)
				}
				return
			}
			if msg != "" {
				t.Fatalf("refused: %s", msg)
			}
			var rs RedisStore
			input := strings.NewReplacer("; ", "\n", "{ ", "{\n", " }", "\n}").Replace("redis { " + tc.block + " }")
			if err := rs.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
				t.Fatal(err)
			}
			opts, err := rs.clientOptions()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(opts.Addrs, " ") != strings.Join(tc.addrs, " ") || opts.Username != tc.username ||
				opts.Password != tc.password || opts.DB != tc.db || (opts.TLSConfig != nil) != tc.tls {
				t.Fatalf("go-redis options: addrs %q user %q password %q db %d tls %v; want %q %q %q %d %v",
					opts.Addrs, opts.Username, opts.Password, opts.DB, opts.TLSConfig != nil,
					tc.addrs, tc.username, tc.password, tc.db, tc.tls)
			}
		})
	}
}

// TestRedisAddressPlaceholder: an address from a placeholder is read at
// provision, with the same rules.
func TestRedisAddressPlaceholder(t *testing.T) {
	t.Setenv("CADDY_SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6390/5")
	rs := RedisStore{RedisConn: RedisConn{Addresses: []string{"{env.CADDY_SESSION_TEST_REDIS_URL}"}}}
	if err := rs.Validate(); err != nil {
		t.Fatal(err)
	}
	opts, err := rs.clientOptions()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Addrs[0] != "127.0.0.1:6390" || opts.DB != 5 {
		t.Fatalf("addrs %q db %d, want 127.0.0.1:6390 and 5", opts.Addrs, opts.DB)
	}
	t.Setenv("CADDY_SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6390/5?timeout=1")
	if _, err := rs.clientOptions(); err == nil || !strings.Contains(err.Error(), `query option "timeout" is not read here`) {
		t.Fatalf("error = %v, want the query option refused", err)
	}
}

// TestConfigSuggestions: a store or subdirective name that is a typo or a
// name from elsewhere (Django's engines, a database's name) gets the
// nearest valid one in its error; a duration names the units.
func TestConfigSuggestions(t *testing.T) {
	// This binary also registers test stores; the real list is checked
	// end to end (TestConfigErrorsAdapt).
	known := " (known: " + strings.Join(knownStores(), ", ") + ")"
	for _, tc := range []struct{ name, block, want string }{
		{"postgres", "store postgres", `store: unknown store "postgres"; did you mean db (Django's db engine on PostgreSQL, SQLite or MySQL)?` + known},
		{"postgresql", "store postgresql", `store: unknown store "postgresql"; did you mean db (Django's db engine on PostgreSQL, SQLite or MySQL)?` + known},
		{"sqlite", "store sqlite", `store: unknown store "sqlite"; did you mean db (Django's db engine on PostgreSQL, SQLite or MySQL)?` + known},
		{"mysql", "store MySQL", `store: unknown store "MySQL"; did you mean db (Django's db engine on PostgreSQL, SQLite or MySQL)?` + known},
		{"django", "store django", `store: unknown store "django"; did you mean db or cache (Django's engines: db, cache, cached_db, file, signed_cookies)?` + known},
		{"file_store", "store file_store", `store: unknown store "file_store"; did you mean file?` + known},
		{"signed-cookies", "store signed-cookies", `store: unknown store "signed-cookies"; did you mean signed_cookies?` + known},
		{"typo", "store reddis", `store: unknown store "reddis"; did you mean redis?` + known},
		{"nothing near", "store mongo", `store: unknown store "mongo"` + known},
		{"subdirective", "cokie_age 1d", `unrecognized subdirective "cokie_age"; did you mean "cookie_age"?`},
		{"transposed", "svae_every_request", `unrecognized subdirective "svae_every_request"; did you mean "save_every_request"?`},
		{"nothing near, many names", "colour blue", `unrecognized subdirective "colour"`},
		{"redis", "store redis { adress 127.0.0.1 }", `store redis: unrecognized subdirective "adress"; did you mean "address"?`},
		{"cache", "store cache { verison 2 }", `store cache: unrecognized subdirective "verison"; did you mean "version"?`},
		{"db", "store db { dns /tmp/a.sqlite3 }", `store db: unrecognized subdirective "dns"; did you mean "dsn"?`},
		{"db, nothing near", "store db { pool 3 }", `store db: unrecognized subdirective "pool" (known: dsn, table)`},
		{"cached_db", "store cached_db { cahce { address 127.0.0.1 } }", `store cached_db: unrecognized subdirective "cahce"; did you mean "cache"?`},
		{"cached_db inner", "store cached_db { cache { adress x } }", `store cached_db: store cache: unrecognized subdirective "adress"; did you mean "address"?`},
		{"client_cache", "store redis { client_cache { max_entires 5 } }", `store redis: client_cache: unrecognized subdirective "max_entires"; did you mean "max_entries"?`},
		{"weeks", "cookie_age 2w", `cookie_age: bad duration "2w": want a number and a unit: ns, us, ms, s, m, h or d (days), combined as in 1h30m; e.g. 14d, 90m, 30s`},
		{"no unit", "token_ttl 60", `token_ttl: bad duration "60": want a number and a unit: ns, us, ms, s, m, h or d (days), combined as in 1h30m; e.g. 14d, 90m, 30s`},
		{"client_cache staleness", "store redis { client_cache 1sec }", `store redis: client_cache: bad max_staleness "1sec": above zero, want a number and a unit: ns, us, ms, s, m, h or d (days), combined as in 1h30m; e.g. 14d, 90m, 30s`},
		{"redis timeout", "store redis { timeout 2sec }", `store redis: timeout: bad duration "2sec": want a number and a unit: ns, us, ms, s, m, h or d (days), combined as in 1h30m; e.g. 14d, 90m, 30s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, msg := parseSession(t, tc.block); msg != tc.want {
				t.Fatalf("error\n got %q\nwant %q", msg, tc.want)
			}
		})
	}
}

// TestSuggestLists holds the suggestion lists to the parsers: each name
// listed is one the block accepts, so no suggestion leads to another
// error of the same kind.
func TestSuggestLists(t *testing.T) {
	check := func(where string, names []string, block func(sub string) string) {
		for _, sub := range names {
			_, msg := parseSession(t, block(sub))
			if strings.Contains(msg, "unrecognized subdirective") {
				t.Errorf("%s: %q is listed but refused: %s", where, sub, msg)
			}
		}
	}
	check("handler", handlerSubdirectives, func(sub string) string { return sub + " x" })
	for store, names := range storeSubdirectives {
		check("store "+store, names, func(sub string) string { return "store " + store + " { " + sub + " x }" })
	}
	for _, alias := range storeAliases {
		name, _, _ := strings.Cut(alias, " ")
		if !strings.Contains(strings.Join(knownStores(), " "), name) {
			t.Errorf("alias to %q: no such store", name)
		}
	}
}
