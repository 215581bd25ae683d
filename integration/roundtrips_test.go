package integration

// Store round trips per request, counted by Redis itself (INFO
// commandstats): none without a cookie, one for a read (an HGETALL), at
// most two for a write (a read and one save script). A cycle_key takes the
// old key and creates the new one: three. With client_cache, a read of a
// session this Caddy has cached costs none, and another Caddy's logout
// still ends it here within the stated bound.

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// redisCalls returns a function that counts the round trips clients made
// to the Redis at addr since the last call of reset (testredis.TotalReads),
// less the counter's own.
func redisCalls(t *testing.T, addr string) (calls func() int, reset func()) {
	raw := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
	t.Cleanup(func() { _ = raw.Close() })
	reads := func() int { return testredis.TotalReads(t, raw) }
	// What one call of reads adds by itself (its INFO command).
	reads()
	self := -reads() + reads()
	var base int
	reset = func() { base = reads() }
	calls = func() int { return reads() - base - self }
	return calls, reset
}

func TestRedisRoundTrips(t *testing.T) {
	rs := testredis.Start(t)
	e := startCtEnv(t, &ctStoreFixture{line: ctRedisLine(rs.Addr()), redis: rs})
	calls, reset := redisCalls(t, rs.Addr())

	c := newClient(t)
	// Warm the connection pool and the script cache: a first script call
	// may be an EVALSHA answered NOSCRIPT, then an EVAL.
	e.write(t, c, "/", "X-Session-Set", `{"warm":1}`)
	e.write(t, c, "/", "X-Session-Cycle-Key", "1")
	e.read(t, c, "/")

	for _, tc := range []struct {
		name string
		do   func()
		max  int
	}{
		{"no cookie, no update", func() { e.ok(t, ctRawClient(), ctCall{}) }, 0},
		{"read", func() { e.read(t, c, "/") }, 1},
		{"write", func() { e.write(t, c, "/", "X-Session-Set", `{"a":1}`) }, 2},
		{"new session", func() { e.write(t, newClient(t), "/", "X-Session-Set", `{"a":1}`) }, 1},
		{"cycle_key", func() { e.write(t, c, "/", "X-Session-Cycle-Key", "1") }, 3},
	} {
		reset()
		tc.do()
		if n := calls(); n > tc.max {
			t.Errorf("%s: %d round trips to Redis; want at most %d", tc.name, n, tc.max)
		} else {
			t.Logf("%s: %d round trips to Redis", tc.name, n)
		}
	}
}

// TestRedisClientCache: with client_cache, reads of a session this Caddy
// has cached reach Redis no more, and a logout on another Caddy sharing
// the Redis ends the session here too: within milliseconds as a rule
// (logged), and never later than client_cache's max_staleness (asserted:
// every request begun after that sees no session).
func TestRedisClientCache(t *testing.T) {
	rs := testredis.Start(t)
	const maxStale = 2 * time.Second
	fx := &ctStoreFixture{line: "store redis {\n\taddress " + rs.Addr() + "\n\ttimeout 1s\n\tclient_cache 2s\n}", redis: rs}
	a, b := startCtEnv(t, fx), startCtEnv(t, fx)
	calls, reset := redisCalls(t, rs.Addr())

	c := newClient(t)
	login := a.write(t, c, "/", "X-Session-Set", `{"user":"alice"}`)
	cookie := ctSetCookie(t, login.resp, "sessionid").Value
	// The first reads fill b's cache (go-redis caches from a fresh
	// connection's second miss on).
	for range 3 {
		if got := string(b.readWithCookie(t, "/", "sessionid", cookie).Data["user"]); got != `"alice"` {
			t.Fatalf("instance b: user = %s; want \"alice\"", got)
		}
	}
	reset()
	for range 20 {
		if got := string(b.readWithCookie(t, "/", "sessionid", cookie).Data["user"]); got != `"alice"` {
			t.Fatalf("instance b: user = %s; want \"alice\"", got)
		}
	}
	if n := calls(); n != 0 {
		t.Errorf("20 reads of a cached session made %d round trips to Redis; want 0", n)
	}

	// A change on a: b reads it after the invalidation.
	a.write(t, c, "/", "X-Session-Set", `{"cart":3}`)
	changed := time.Now()
	for {
		start := time.Now()
		cl := b.readWithCookie(t, "/", "sessionid", cookie)
		if string(cl.Data["cart"]) == "3" {
			t.Logf("instance b read a's change %v after it was written", start.Sub(changed))
			break
		}
		if start.Sub(changed) > maxStale {
			t.Fatalf("instance b: a request begun %v after a's change still read the session without it", start.Sub(changed))
		}
	}

	// Logout on a: b stops serving the session.
	a.ok(t, c, ctCall{answer: ctLines("X-Session-Flush", "1")})
	ended := time.Now()
	for {
		start := time.Now()
		cl := b.readWithCookie(t, "/", "sessionid", cookie)
		if cl.New && len(cl.Data) == 0 {
			t.Logf("instance b served the ended session for %v after the logout", start.Sub(ended))
			break
		}
		if start.Sub(ended) > maxStale {
			t.Fatalf("instance b: a request begun %v after the logout on a still had the session", start.Sub(ended))
		}
	}
}

// TestPostgresRoundTrips counts the statements the db store sends to
// PostgreSQL per request, as PostgreSQL's pg_stat_statements counts them
// (BEGIN and COMMIT included; each statement is one round trip): none
// without a cookie, one for a read, two for a write: the read, and one
// UPDATE whose WHERE clause holds the row as read (a compare-and-set).
// Only when another writer changed the row in between does the store take
// the locking way (BEGIN, SELECT ... FOR UPDATE, UPDATE, COMMIT), which
// keeps both changes (session/dbstore TestSwap).
func TestPostgresRoundTrips(t *testing.T) {
	pg := startRelPG(t, "shared_preload_libraries=pg_stat_statements")
	admin, err := sql.Open("pgx", pg.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	for _, q := range []string{"CREATE EXTENSION pg_stat_statements", "CREATE DATABASE sessions"} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dsn := strings.Replace(pg.dsn(""), "/postgres?", "/sessions?", 1)
	e := startCtEnv(t, &ctStoreFixture{line: "store db {\n\tdsn " + dsn + "\n}"})

	// statements counts what clients of the database sessions ran since
	// the last reset (the counter works from the database postgres), but
	// the store's purge of expired rows, which a timer runs once a minute
	// whatever the requests.
	statements := func() (int, string) {
		t.Helper()
		rows, err := admin.Query(`SELECT calls, query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'sessions' AND query NOT LIKE 'DELETE FROM % WHERE expire_date < %'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n, list := 0, ""
		for rows.Next() {
			var calls int
			var q string
			if err := rows.Scan(&calls, &q); err != nil {
				t.Fatal(err)
			}
			n += calls
			list += fmt.Sprintf("\n\t%d × %s", calls, q)
		}
		return n, list
	}
	reset := func() {
		t.Helper()
		if _, err := admin.Exec("SELECT pg_stat_statements_reset()"); err != nil {
			t.Fatal(err)
		}
	}

	c := newClient(t)
	// Warm the pool and the table (created on first use).
	e.write(t, c, "/", "X-Session-Set", `{"warm":1}`)
	e.read(t, c, "/")

	for _, tc := range []struct {
		name string
		do   func()
		want int
	}{
		{"no cookie, no update", func() { e.ok(t, ctRawClient(), ctCall{}) }, 0},
		{"read", func() { e.read(t, c, "/") }, 1},
		{"write", func() { e.write(t, c, "/", "X-Session-Set", `{"a":1}`) }, 2},
	} {
		reset()
		tc.do()
		if n, list := statements(); n != tc.want {
			t.Errorf("%s: %d statements to PostgreSQL; want %d:%s", tc.name, n, tc.want, list)
		} else {
			t.Logf("%s: %d statements to PostgreSQL:%s", tc.name, n, list)
		}
	}
}
