// Package dbstore is Django's `db` session engine: the django_session table
// on PostgreSQL, SQLite or MySQL/MariaDB, as a blob.Backend.
//
// The table is the one Django's migration (contrib/sessions 0001_initial)
// makes:
//
//	session_key  varchar(40) primary key
//	session_data text not null           (MySQL: longtext)
//	expire_date  timestamp with time zone not null, indexed
//	             (SQLite: datetime; MySQL: datetime(6); both naive UTC,
//	             as Django stores them with USE_TZ = True)
//
// A missing table is created with its index; an existing one is used as it
// is, so Caddy and a Django app share one table.
//
// Modify is a transaction that locks the session's row (SELECT ... FOR
// UPDATE on PostgreSQL and MySQL, BEGIN IMMEDIATE on SQLite), so a
// read-modify-write of one session never interleaves with another, from
// this process, another Caddy, or Django (whose own saves take the same row
// or database lock when they write).
package dbstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
)

// DefaultTable is Django's table for its Session model.
const DefaultTable = "django_session"

// Pool sizes. A network database gets enough connections for concurrent
// requests without exhausting its max_connections (PostgreSQL's default is
// 100) when a few Caddy instances share it. SQLite has one writer at a time
// whatever the pool, so writes share one connection (waiting in the pool,
// in order, rather than polling on SQLITE_BUSY), and reads a few more,
// which WAL lets run beside the writer.
const (
	networkConns    = 16
	sqliteReadConns = 4
	// sqliteBusyTimeout is how long a SQLite write waits for another
	// process (Django, another Caddy) to finish its write transaction.
	sqliteBusyTimeout = 5 * time.Second
	// connectTimeout bounds connecting to a network database when the
	// dsn names none, so that a request fails promptly while it is down.
	connectTimeout = 5 * time.Second
	// maxAttempts bounds Modify's retries after a conflict (a concurrent
	// insert of the same key, a deadlock the database broke).
	maxAttempts = 8
)

// Backend is the django_session table as a blob.Backend. It is safe for
// concurrent use.
type Backend struct {
	d      *dialect
	db     *sql.DB // writes; reads too except on SQLite
	reader *sql.DB // reads
	file   string  // SQLite: the database file, created private when missing

	// The read path (Read), one round trip on a statement each connection
	// prepared once. PostgreSQL: pgx's own interface on the pool that db
	// draws from too (database/sql's layer doubled a read's allocations);
	// pgx prepares and caches the statement on each connection. SQLite and
	// MySQL: the read prepared on reader at Init, which database/sql
	// prepares once on each connection (SQLite no longer parses the SQL on
	// every read; MySQL no longer prepares and closes it around each).
	pg       *pgxpool.Pool
	readStmt *sql.Stmt

	// The statements, built once from the checked, quoted table name.
	selectSQL, lockSQL, insertSQL, updateSQL, deleteSQL, purgeSQL, probeSQL string
	swapSQL, swapDeleteSQL, keysSQL                                         string
	createSQL                                                               []string

	initSem chan struct{} // one Init at a time, waiting with its context
	inited  atomic.Bool

	users       userStatements // the user index (users.go)
	usersInited atomic.Bool
	indexing    atomic.Bool // a store indexes users through this backend
}

var _ blob.Backend = (*Backend)(nil)

// Open returns the backend for dsn and table (DefaultTable when empty).
// It does not connect: the table is checked, and created when missing, on
// first use (or by Init), so a database that is down at start is not an
// error here; a malformed dsn or table name is.
//
// The dsn selects the database:
//
//   - postgres://... or postgresql://...: PostgreSQL, pgx's URL form.
//   - mysql://<go-sql-driver DSN>: MySQL or MariaDB, e.g.
//     mysql://user:pass@tcp(127.0.0.1:3306)/app or
//     mysql://root@unix(/run/mysqld/mysqld.sock)/app.
//   - a file path, or a file: URI: SQLite, e.g. /var/lib/app/db.sqlite3.
//
// Any other scheme is an error.
func Open(dsn, table string) (*Backend, error) {
	if table == "" {
		table = DefaultTable
	}
	d, err := dialectOf(dsn)
	if err != nil {
		return nil, err
	}
	if err := checkTable(d, table); err != nil {
		return nil, err
	}
	b := &Backend{d: d, initSem: make(chan struct{}, 1)}
	switch d {
	case postgresDialect:
		err = b.openPostgres(dsn)
	case mysqlDialect:
		err = b.openMySQL(strings.TrimPrefix(dsn, "mysql://"), !strings.Contains(table, "."))
	default:
		err = b.openSQLite(dsn)
	}
	if err != nil {
		return nil, err
	}
	b.prepare(table)
	b.prepareUsers(table)
	return b, nil
}

// Driver names the database: "postgres", "mysql" or "sqlite".
func (b *Backend) Driver() string { return b.d.name }

var keywordDSN = regexp.MustCompile(`^\s*[a-z_]+\s*=`)

func dialectOf(dsn string) (*dialect, error) {
	scheme, _, hasScheme := strings.Cut(dsn, "://")
	switch {
	case dsn == "":
		return nil, errors.New("dsn: empty")
	case !hasScheme:
		if keywordDSN.MatchString(dsn) {
			return nil, errors.New("dsn: looks like PostgreSQL keyword=value settings; give a postgres:// URL (a plain value is a SQLite file path)")
		}
		return sqliteDialect, nil
	case scheme == "postgres" || scheme == "postgresql":
		return postgresDialect, nil
	case scheme == "mysql":
		return mysqlDialect, nil
	case scheme == "file":
		return sqliteDialect, nil
	}
	return nil, fmt.Errorf("dsn: unknown scheme %q: want postgres://, postgresql://, mysql://, or a SQLite file path", scheme)
}

func (b *Backend) openPostgres(dsn string) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the dsn, password included: say only
		// that it is malformed.
		return errors.New("dsn: not a valid PostgreSQL URL")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = networkConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.MaxConnLifetime = time.Hour
	// It does not connect (no MinConns): a database that is down is not
	// an error here.
	b.pg, err = pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return errors.New("dsn: not a valid PostgreSQL URL")
	}
	// Writes go through database/sql, on connections drawn from the same
	// pool and returned to it after each use.
	b.db = stdlib.OpenDBFromPool(b.pg)
	b.reader = b.db
	return nil
}

func (b *Backend) openMySQL(dsn string, needDB bool) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return errors.New("dsn: not a valid MySQL DSN after mysql:// (user:pass@tcp(host:port)/db or user@unix(/path)/db)")
	}
	if cfg.DBName == "" && needDB {
		return errors.New("dsn: names no database (mysql://user@tcp(host:port)/<database>); give one, or a table as database.table")
	}
	// Django with USE_TZ stores naive UTC; read and write times as such.
	cfg.ParseTime, cfg.Loc = true, time.UTC
	// The user index's UPDATE counts the rows it found, not only those it
	// changed, as PostgreSQL and SQLite do.
	cfg.ClientFoundRows = true
	if cfg.Timeout == 0 {
		cfg.Timeout = connectTimeout
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	b.db = sql.OpenDB(conn)
	setNetworkPool(b.db)
	b.reader = b.db
	return nil
}

func setNetworkPool(db *sql.DB) {
	db.SetMaxOpenConns(networkConns)
	db.SetMaxIdleConns(networkConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// Below MySQL's default wait_timeout (8 h) and any proxy's idle cut.
	db.SetConnMaxLifetime(time.Hour)
}

func (b *Backend) openSQLite(dsn string) error {
	name, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("dsn: malformed query after ?")
	}
	path := name
	if strings.HasPrefix(name, "file:") {
		u, err := url.Parse(name)
		if err != nil {
			return errors.New("dsn: malformed file: URI")
		}
		path = u.Opaque
		if path == "" {
			path = u.Path
		}
	}
	if path == "" || path == ":memory:" || q.Get("mode") == "memory" {
		return errors.New("dsn: an in-memory SQLite database is not shared between connections; give a file (or use store memory)")
	}
	if path, err = filepath.Abs(path); err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	b.file = path
	if !strings.HasPrefix(name, "file:") {
		name = path // the pool never sees a relative path
	}

	// Defaults the dsn may override: wait for other writers rather than
	// fail, and WAL so that reads do not wait for the writer.
	has := func(keys ...string) bool {
		for _, k := range keys {
			if q.Has(k) {
				return true
			}
		}
		return false
	}
	hasPragma := func(p string) bool {
		for _, v := range q["_pragma"] {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), p) {
				return true
			}
		}
		return false
	}
	if !has("_busy_timeout", "_timeout") && !hasPragma("busy_timeout") {
		q.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds()))
	}
	if !has("_journal_mode", "_journal") && !hasPragma("journal_mode") {
		q.Set("_journal_mode", "WAL")
	}
	// The reader is never asked to write; its transactions are none.
	rq := cloneQuery(q)
	rq.Set("_query_only", "1")
	rq.Del("_journal_mode") // a persistent setting: the writer's to make
	rq.Del("_journal")
	// Every write transaction takes the write lock at BEGIN, before it
	// reads: a deferred one would read, then fail to upgrade its lock
	// (SQLITE_BUSY without waiting) when another connection wrote first.
	q.Set("_txlock", "immediate")

	b.db, err = sql.Open("sqlite", name+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	b.db.SetMaxOpenConns(1)
	b.db.SetMaxIdleConns(1)
	b.db.SetConnMaxIdleTime(0)
	b.reader, err = sql.Open("sqlite", name+"?"+rq.Encode())
	if err != nil {
		b.db.Close()
		return fmt.Errorf("dsn: %w", err)
	}
	b.reader.SetMaxOpenConns(sqliteReadConns)
	b.reader.SetMaxIdleConns(sqliteReadConns)
	return nil
}

func cloneQuery(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (b *Backend) prepare(table string) {
	d, t := b.d, b.d.quote(table)
	p := d.param
	b.selectSQL = fmt.Sprintf(`SELECT session_data, expire_date FROM %s WHERE session_key = %s`, t, p(1))
	b.lockSQL = b.selectSQL + d.forUpdate
	b.insertSQL = fmt.Sprintf(`INSERT INTO %s (session_key, session_data, expire_date) VALUES (%s, %s, %s)`, t, p(1), p(2), p(3))
	b.updateSQL = fmt.Sprintf(`UPDATE %s SET session_data = %s, expire_date = %s WHERE session_key = %s`, t, p(1), p(2), p(3))
	b.deleteSQL = fmt.Sprintf(`DELETE FROM %s WHERE session_key = %s`, t, p(1))
	b.swapSQL = b.updateSQL + fmt.Sprintf(` AND session_data = %s AND expire_date = %s`, p(4), p(5))
	b.swapDeleteSQL = b.deleteSQL + fmt.Sprintf(` AND session_data = %s AND expire_date = %s`, p(2), p(3))
	b.purgeSQL = fmt.Sprintf(`DELETE FROM %s WHERE expire_date < %s`, t, p(1))
	b.keysSQL = fmt.Sprintf(`SELECT session_key FROM %s WHERE session_key > %s ORDER BY session_key LIMIT %d`, t, p(1), keysBatch)
	b.probeSQL = fmt.Sprintf(`SELECT session_key, session_data, expire_date FROM %s WHERE 1 = 0`, t)
	idx := d.quote(d.indexName(table))
	b.createSQL = []string{fmt.Sprintf(d.createTable, t, idx)}
	if d.createIndex != "" {
		b.createSQL = append(b.createSQL, fmt.Sprintf(d.createIndex, t, idx))
	}
}

// Close closes the connection pools.
func (b *Backend) Close() error {
	var err error
	if b.readStmt != nil {
		err = b.readStmt.Close()
	}
	err = errors.Join(err, b.db.Close())
	if b.reader != b.db {
		err = errors.Join(err, b.reader.Close())
	}
	if b.pg != nil {
		b.pg.Close() // after db, whose connections it lends
	}
	return err
}

// Init checks that the table is there with Django's columns, creating it
// (and its index) when missing. Read, Modify and Purge call it until it
// succeeds once; call it early to learn of a problem at start.
func (b *Backend) Init(ctx context.Context) error {
	if b.inited.Load() {
		return nil
	}
	select {
	case b.initSem <- struct{}{}:
		defer func() { <-b.initSem }()
	case <-ctx.Done():
		return fmt.Errorf("checking session table: %w", ctx.Err())
	}
	if b.inited.Load() {
		return nil
	}
	if b.file != "" {
		if err := createPrivate(b.file); err != nil {
			return err
		}
	}
	// Probe before creating: CREATE TABLE IF NOT EXISTS needs the right to
	// create tables even when the table is there, which a database user
	// that Django's migrations were run for need not have.
	if _, err := b.db.ExecContext(ctx, b.probeSQL); err != nil {
		for _, s := range b.createSQL {
			if _, err := b.db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("creating session table: %w", err)
			}
		}
		if _, err := b.db.ExecContext(ctx, b.probeSQL); err != nil {
			return fmt.Errorf("checking session table: %w", err)
		}
	}
	if b.pg == nil {
		stmt, err := b.reader.PrepareContext(ctx, b.selectSQL)
		if err != nil {
			return fmt.Errorf("checking session table: %w", err)
		}
		b.readStmt = stmt // published by inited, which Read checks first
	}
	b.inited.Store(true)
	return nil
}

// createPrivate creates a missing SQLite database file readable by its
// owner alone: it holds every session key. SQLite gives its -wal and -shm
// files the same mode. An existing file is left as it is (Django may own
// it).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, os.ErrExist):
		return nil
	}
	return fmt.Errorf("creating SQLite database: %w", err)
}

// Read implements blob.Backend: one statement, outside any transaction.
func (b *Backend) Read(ctx context.Context, key string) (blob.Value, bool, error) {
	if err := b.Init(ctx); err != nil {
		return blob.Value{}, false, err
	}
	var v blob.Value
	var ok bool
	var err error
	if b.pg != nil {
		v, ok, err = b.readPostgres(ctx, key)
	} else {
		v, ok, err = scanRow(b.readStmt.QueryRowContext(ctx, key))
	}
	if err != nil {
		return blob.Value{}, false, fmt.Errorf("reading session: %w", err)
	}
	return v, ok, nil
}

// readPostgres reads through pgx: expire_date (timestamp with or without
// time zone) scans into a time, session_data into the value's bytes.
//
// A connection the server dropped (a restart, a proxy's idle cut) fails
// the read that finds it, and the pool discards it: the read runs again
// on another connection, a few times (a read changes nothing). A failure
// to connect, or an error in the statement, is not retried.
func (b *Backend) readPostgres(ctx context.Context, key string) (v blob.Value, ok bool, err error) {
	for range maxReadAttempts {
		v, ok, err = b.readPostgresOnce(ctx, key)
		if err == nil || ctx.Err() != nil || !droppedConn(err) {
			break
		}
	}
	return v, ok, err
}

// droppedConn reports an error that ended the connection, not the
// statement: the server's FATAL (it is terminating this connection: a
// shutdown, pg_terminate_backend) or a network error on a connection that
// was open. A failure to connect is none.
func droppedConn(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Severity == "FATAL" || pe.Severity == "PANIC"
	}
	var ce *pgconn.ConnectError
	return !errors.As(err, &ce)
}

// maxReadAttempts bounds readPostgres's attempts on dropped connections.
const maxReadAttempts = 3

func (b *Backend) readPostgresOnce(ctx context.Context, key string) (blob.Value, bool, error) {
	var v blob.Value
	if err := b.pg.QueryRow(ctx, b.selectSQL, key).Scan(&v.Data, &v.ExpiresAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return blob.Value{}, false, nil
		}
		return blob.Value{}, false, err
	}
	v.ExpiresAt = v.ExpiresAt.UTC()
	return v, true, nil
}

func scanRow(row *sql.Row) (blob.Value, bool, error) {
	var data string
	var exp any
	if err := row.Scan(&data, &exp); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return blob.Value{}, false, nil
		}
		return blob.Value{}, false, err
	}
	t, err := scanTime(exp)
	if err != nil {
		return blob.Value{}, false, err
	}
	return blob.Value{Data: []byte(data), ExpiresAt: t}, true, nil
}

// Swap implements blob.Swapper: one UPDATE or DELETE whose WHERE clause
// holds the whole old value, so it writes only if the row is still that
// value; the statement's row lock orders it with every other writer. A
// row that is not the same (or a driver that counts an unchanged row as
// not affected, as MySQL does) makes it report false, and the Store then
// takes Modify's locking way.
func (b *Backend) Swap(ctx context.Context, key string, old blob.Value, op blob.Op) (bool, error) {
	if err := b.Init(ctx); err != nil {
		return false, err
	}
	oldExp := b.d.timeArg(old.ExpiresAt.Truncate(time.Microsecond))
	var res sql.Result
	var err error
	switch op.Kind {
	case blob.Put:
		exp := b.d.timeArg(op.Value.ExpiresAt.Truncate(time.Microsecond))
		res, err = b.db.ExecContext(ctx, b.swapSQL, string(op.Value.Data), exp, key, string(old.Data), oldExp)
	case blob.Remove:
		res, err = b.db.ExecContext(ctx, b.swapDeleteSQL, key, string(old.Data), oldExp)
	default:
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("writing session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("writing session: %w", err)
	}
	return n == 1, nil
}

var _ blob.Swapper = (*Backend)(nil)

// errConflict is a transaction that lost a race and may run again.
var errConflict = errors.New("conflict")

// Modify implements blob.Backend: fn runs inside a transaction that holds
// the row's lock (on SQLite, the database's write lock), and what it
// returns is written before the lock is released.
//
// A missing row cannot be locked, so two transactions may both find the
// key free and both insert: the second insert fails on the primary key
// once the first commits, and that transaction runs again from the start,
// where it finds, and locks, the row the first one wrote.
func (b *Backend) Modify(ctx context.Context, key string, fn blob.ModifyFunc) error {
	if err := b.Init(ctx); err != nil {
		return err
	}
	if b.usersInited.Load() || b.indexing.Load() {
		if err := b.initUsers(ctx); err != nil {
			return err
		}
	}
	for range maxAttempts {
		err := b.modify(ctx, key, fn)
		if !errors.Is(err, errConflict) {
			return err
		}
	}
	return errors.New("writing session: conflicting writers kept winning; giving up")
}

var txOptions = map[*dialect]*sql.TxOptions{
	// Read committed: a locking read waits for the row's holder and then
	// sees its committed write (or its delete). On MySQL it also avoids
	// the gap locks that make two inserters of one key deadlock.
	postgresDialect: {Isolation: sql.LevelReadCommitted},
	mysqlDialect:    {Isolation: sql.LevelReadCommitted},
	sqliteDialect:   nil, // serializable; BEGIN IMMEDIATE from the dsn
}

func (b *Backend) modify(ctx context.Context, key string, fn blob.ModifyFunc) (err error) {
	tx, err := b.db.BeginTx(ctx, txOptions[b.d])
	if err != nil {
		return fmt.Errorf("writing session: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	cur, exists, err := scanRow(tx.QueryRowContext(ctx, b.lockSQL, key))
	if err != nil {
		return b.txError(err)
	}
	op, err := fn(cur, exists)
	if err != nil {
		return err // as it is: ErrKeyExists, ErrGone, an encoding error
	}
	switch op.Kind {
	case blob.Keep:
		return tx.Rollback()
	case blob.Remove:
		if !exists {
			return tx.Rollback()
		}
		_, err = tx.ExecContext(ctx, b.deleteSQL, key)
	case blob.Put:
		data, exp := string(op.Value.Data), b.d.timeArg(op.Value.ExpiresAt.Truncate(time.Microsecond))
		if exists {
			_, err = tx.ExecContext(ctx, b.updateSQL, data, exp, key)
		} else {
			_, err = tx.ExecContext(ctx, b.insertSQL, key, data, exp)
		}
	default:
		err = fmt.Errorf("unknown operation %d", op.Kind)
	}
	if err == nil && op.Index != nil && (op.Kind != blob.Remove || exists) {
		if !b.usersInited.Load() {
			err = fmt.Errorf("the user index table is not ready")
		} else {
			err = b.applyIndex(ctx, tx, key, op)
		}
	}
	if errors.Is(err, session.ErrRevoked) {
		return err // rolled back
	}
	if err != nil {
		return b.txError(err)
	}
	if err = tx.Commit(); err != nil {
		return b.txError(err)
	}
	return nil
}

// txError turns a lost race into errConflict; anything else is a failure
// to write. A unique violation is never returned as the driver words it:
// MySQL's message quotes the key.
func (b *Backend) txError(err error) error {
	if b.d.uniqueViolation(err) || b.d.retryable(err) {
		return errConflict
	}
	return fmt.Errorf("writing session: %w", err)
}

// Purge deletes the sessions that expired before now, as Django's
// clearsessions (SessionStore.clear_expired) does, and reports how many.
func (b *Backend) Purge(ctx context.Context, now time.Time) (int, error) {
	if err := b.Init(ctx); err != nil {
		return 0, err
	}
	res, err := b.db.ExecContext(ctx, b.purgeSQL, b.d.timeArg(now))
	if err != nil {
		return 0, fmt.Errorf("purging expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purging expired sessions: %w", err)
	}
	return int(n), b.purgeUsers(ctx, now)
}
