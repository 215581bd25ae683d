package integration

// Reliability scenario 4, PostgreSQL faults: a throwaway PostgreSQL server
// of the test's own (initdb, pg_ctl) restarted under load, its tables
// locked until the db store's connection pool is exhausted, and statements
// cancelled by statement_timeout, on the db and cached_db stores, with the
// load harness of reliability_redis_test.go.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/caddy-session/caddy-session/internal/relreport"
	"github.com/caddy-session/caddy-session/internal/testredis"
)

const relPG = "4. PostgreSQL faults"

// relPGServer is a PostgreSQL server owned by a test.
type relPGServer struct {
	t    *testing.T
	bin  string // the directory of initdb and pg_ctl
	dir  string // data directory and socket directory
	port int
	as   []string // the command prefix that runs as the server's OS user

	settings string // " -c name=value" for each of startRelPG's settings
}

// startRelPG runs initdb in a fresh directory and starts the server on a
// free port, listening on 127.0.0.1 with trust authentication. As root,
// which initdb refuses, it runs as the postgres OS user. Without
// PostgreSQL's binaries (or, as root, that user) the test is skipped, and
// fails under CI=true. settings are more `-c name=value` options of the
// server (such as shared_preload_libraries=pg_stat_statements).
func startRelPG(t *testing.T, settings ...string) *relPGServer {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		unavailable("PostgreSQL's initdb is not installed under /usr/lib/postgresql/*/bin (apt-get install -y postgresql)")
	}
	slices.SortFunc(bins, func(a, b string) int { return relPGVersion(b) - relPGVersion(a) })
	s := &relPGServer{t: t, bin: filepath.Dir(bins[0]), port: testredis.FreePort(t)}
	for _, kv := range settings {
		s.settings += " -c " + kv
	}

	// t.TempDir's parents are private to root: the server's own directory
	// sits in /tmp instead, owned by the server's user.
	dir, err := os.MkdirTemp("", "relpg-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable("running as root, initdb needs another OS user, and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.as = []string{"runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	s.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	s.start()
	t.Cleanup(func() {
		cmd := exec.Command(s.as0(), s.args("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")...)
		_ = cmd.Run()
	})
	return s
}

// relPGVersion is the major version in an initdb path, for sorting.
func relPGVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

func (s *relPGServer) as0() string {
	if len(s.as) > 0 {
		return s.as[0]
	}
	return filepath.Join(s.bin, "pg_ctl")
}

// args is the argv (after as0) that runs the PostgreSQL program name.
func (s *relPGServer) args(name string, args ...string) []string {
	if len(s.as) == 0 {
		return args
	}
	return append(append(slices.Clone(s.as[1:]), filepath.Join(s.bin, name)), args...)
}

// run runs one of PostgreSQL's programs and fails the test if it fails.
func (s *relPGServer) run(name string, args ...string) {
	s.t.Helper()
	path := filepath.Join(s.bin, name)
	argv := args
	if len(s.as) > 0 {
		path, argv = s.as[0], s.args(name, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, argv...).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out, log)
	}
}

// stop stops the server (fast: connections are closed); start starts it
// again.
func (s *relPGServer) stop() {
	s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "-t", "60", "stop")
}

func (s *relPGServer) start() {
	s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200%s", s.port, s.dir, s.settings), "start")
}

// dsn is the server's postgres:// URL, with query appended.
func (s *relPGServer) dsn(query string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable%s", s.port, query)
}

// relStatementTimeout is the statement_timeout of the Caddy's dsn: it
// bounds how long a request waits on a lock the database holds.
const relStatementTimeout = 500 * time.Millisecond

func TestReliabilityPG(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"db", "cached_db"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			pg := startRelPG(t)
			dsn := pg.dsn("&options=" + fmt.Sprintf("-c%%20statement_timeout%%3D%d", relStatementTimeout.Milliseconds()))
			line := "store db {\n\tdsn " + dsn + "\n}"
			if store == "cached_db" {
				rds := testredis.Start(t)
				line = "store cached_db {\n\tcache {\n\t\taddress " + rds.Addr() + "\n\t\tkey_prefix djcd\n\t\tdial_timeout 1s\n\t\ttimeout 1s\n\t}\n\tdb {\n\t\tdsn " + dsn + "\n\t}\n}"
			}
			outside, err := sql.Open("pgx", pg.dsn(""))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = outside.Close() })

			t.Run("restart", func(t *testing.T) { relPGRestart(t, pg, store, line) })
			t.Run("pool exhausted", func(t *testing.T) { relPGPoolExhausted(t, outside, store, line, true) })
			if store == "db" {
				// Without a statement timeout, the handler's store_timeout
				// (default 5 s) is what bounds a request.
				noTimeout := "store db {\n\tdsn " + pg.dsn("") + "\n}"
				t.Run("pool exhausted without statement_timeout", func(t *testing.T) { relPGPoolExhausted(t, outside, store, noTimeout, false) })
			}
			t.Run("statement timeout", func(t *testing.T) { relPGStatementTimeout(t, outside, store, line) })
		})
	}
}

// (a) the server stopped (fast) and started again under load.
func relPGRestart(t *testing.T, pg *relPGServer, store, line string) {
	c, up := startRelCaddy(t, line)
	l := startRelLoad(t, c.URL, up, relClients(), c.Logs)
	l.steady()

	faultAt := time.Now()
	pg.stop()
	until := "8 requests failed"
	if relreport.Full() {
		time.Sleep(5 * time.Second) // the fault's length
		until = "5 s passed"
	}
	if !l.waitFailed(faultAt, 8, 30*time.Second) {
		t.Fatal("no request failed within 30s of stopping PostgreSQL")
	}
	pg.start()
	back := time.Now()
	l.fault("PostgreSQL down (pg_ctl stop to start)", faultAt, back)
	first := l.waitOK(back, 3, 60*time.Second)
	l.Stop()

	what := "PostgreSQL restart, " + store
	method := fmt.Sprintf("a throwaway PostgreSQL (initdb) stopped with pg_ctl -m fast until %s, then started, under load from %d clients", until, relClients())
	s := l.recordGuarantees(relPG, what, method)
	relPGRecovery(t, l, what, first, back, "pg_ctl start returning (the server accepting connections)")
	if s.unavailable == 0 {
		t.Errorf("%s: no 503 while PostgreSQL was down", what)
	}
}

// (b) every pooled connection busy: an outside transaction holds an ACCESS
// EXCLUSIVE lock on the table while more clients than the pool's 16
// connections send requests. Each request gets its answer within a bounded
// wait: statement_timeout ends a statement stuck on the lock, which frees
// its connection for a request waiting in the pool.
func relPGPoolExhausted(t *testing.T, outside *sql.DB, store, line string, timeout bool) {
	c, up := startRelCaddy(t, line)
	clients := 24 // more than the db store's 16 pooled connections
	l := startRelLoad(t, c.URL, up, clients, c.Logs)
	l.steady()

	hold := relreport.Scale(time.Second, 10*time.Second)
	ctx := t.Context()
	tx, err := outside.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("LOCK TABLE: %v", err)
	}
	locked := time.Now()
	// For the fault's length, count the Caddy's connections waiting on
	// the lock: all 16 of its pool means the pool is exhausted.
	blocked := 0
	for time.Since(locked) < hold {
		var n int
		err := outside.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND backend_type = 'client backend' AND pid <> pg_backend_pid()").Scan(&n)
		if err != nil {
			t.Fatalf("reading pg_stat_activity: %v", err)
		}
		blocked = max(blocked, n)
		time.Sleep(20 * time.Millisecond)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	l.fault("table locked (ACCESS EXCLUSIVE)", locked, back)
	first := l.waitOK(back, 3, 60*time.Second)
	l.Stop()

	what := "connection pool exhausted, " + store
	method := fmt.Sprintf("an outside ACCESS EXCLUSIVE lock on django_session held %s under load from %d clients (pool: 16), statement_timeout %s in the dsn", hold, clients, relStatementTimeout)
	if !timeout {
		what += ", no statement_timeout"
		method = fmt.Sprintf("an outside ACCESS EXCLUSIVE lock on django_session held %s under load from %d clients (pool: 16), no statement_timeout in the dsn", hold, clients)
	}
	relreport.Record(t, relreport.Figure{Scenario: relPG, Name: "most Caddy connections waiting on the lock, " + what, Value: blocked, Unit: "of 16 pooled",
		Note: method + "; sampled from pg_stat_activity every 20 ms"})
	if store == "db" && blocked < 16 {
		t.Errorf("%s: at most %d connections waited on the lock; want all 16 of the pool", what, blocked)
	}
	s := l.recordGuarantees(relPG, what, method)
	relPGRecovery(t, l, what, first, back, "the outside transaction's rollback")
	// The longest any request took while the lock was held: bounded by
	// the statement timeout times the queue in front of it, not a hang.
	var longest time.Duration
	for _, e := range l.snapshot() {
		if e.end.After(locked) && e.start.Before(back) {
			longest = max(longest, e.end.Sub(e.start))
		}
	}
	note := method + "; every request was answered (200 or 503)"
	if !timeout {
		note = method + "; only the handler's store_timeout (default 5 s) bounds a request then"
	}
	relreport.Record(t, relreport.Figure{Scenario: relPG, Name: "longest request while the lock was held, " + what,
		Value: longest.Milliseconds(), Unit: "ms", Note: note})
	if timeout && store == "db" && s.unavailable == 0 {
		t.Errorf("%s: no 503 while the table was locked", what)
	}
}

// (c) statements cancelled by statement_timeout: an outside transaction
// holds row locks on half the clients' sessions, so that their writes wait
// past the timeout.
func relPGStatementTimeout(t *testing.T, outside *sql.DB, store, line string) {
	c, up := startRelCaddy(t, line)
	l := startRelLoad(t, c.URL, up, relClients(), c.Logs)
	l.steady()

	hold := relreport.Scale(time.Second, 10*time.Second)
	ctx := t.Context()
	half := l.keys[:len(l.keys)/2]
	tx, err := outside.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT session_key FROM django_session WHERE session_key = ANY($1) FOR UPDATE", half)
	if err != nil {
		t.Fatalf("locking sessions: %v", err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if n != len(half) {
		t.Fatalf("locked %d of %d sessions", n, len(half))
	}
	lockedAt := time.Now()
	time.Sleep(hold) // the fault's length
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	l.fault("rows locked (FOR UPDATE)", lockedAt, back)
	first := l.waitOK(back, 3, 60*time.Second)
	l.Stop()

	what := "statement timeout, " + store
	method := fmt.Sprintf("an outside transaction held FOR UPDATE row locks on %d of %d clients' sessions for %s; statement_timeout %s in the dsn (options=-c statement_timeout=...)", len(half), relClients(), hold, relStatementTimeout)
	s := l.recordGuarantees(relPG, what, method)
	relPGRecovery(t, l, what, first, back, "the outside transaction's rollback")
	if s.unavailable == 0 {
		t.Errorf("%s: no 503 while sessions were locked", what)
	}
}

func relPGRecovery(t *testing.T, l *relLoad, what string, first, back time.Time, from string) {
	t.Helper()
	relreport.Record(t, relreport.Figure{Scenario: relPG, Name: "recovery time after " + what,
		Value: float64(first.Sub(back).Microseconds()) / 1000, Unit: "ms",
		Note: "from " + from + " to the end of the first successful request after it"})
	if lost := l.lostAcks.Load(); lost != 0 {
		t.Errorf("%s: %d acknowledged writes lost", what, lost)
	}
	relreport.Record(t, relreport.Figure{Scenario: relPG, Name: "acknowledged writes lost, " + what, Value: l.lostAcks.Load(), Goal: "0",
		Met: relreport.Met(l.lostAcks.Load() == 0), Note: "writes answered 200 whose value a later request's session did not hold"})
}
