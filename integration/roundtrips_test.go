package integration

// Store round trips per request, counted by Redis itself (INFO
// commandstats, scripts run): none without a cookie, one for a read, at
// most two for a write (a load and one save script). A cycle_key takes the
// old key and creates the new one: three.

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

func TestRedisRoundTrips(t *testing.T) {
	rs := testredis.Start(t)
	e := startCtEnv(t, &ctStoreFixture{line: ctRedisLine(rs.Addr()), redis: rs})
	raw := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = raw.Close() })

	// calls counts the scripts clients ran since the last reset: every
	// operation of the redis store is one script (commands a script runs
	// inside count in Redis's statistics too, but cost no round trip).
	calls := func() int {
		t.Helper()
		info, err := raw.Info(t.Context(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(info, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
				continue
			}
			v, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
			c, _ := strconv.Atoi(v)
			n += c
		}
		return n
	}
	reset := func() {
		t.Helper()
		if err := raw.ConfigResetStat(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
	}

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
