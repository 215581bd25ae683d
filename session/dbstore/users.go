package dbstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
)

// The user index is a side table beside Django's, "<table>_users", that
// Modify changes in the session's own transaction:
//
//	session_key  varchar(40) primary key   (one user per session)
//	user_id      varchar(255), indexed
//	created, modified, expire_date         (the session table's time type)
//
// Django's table is left as it is, so Django keeps reading and writing it;
// a listing joins the session table, so a session Django itself ended
// (logout, clearsessions) is never listed. Sessions Django itself creates
// are not indexed: the index knows the writes that go through Caddy.

var usersTable = map[*dialect]string{
	postgresDialect: `CREATE TABLE IF NOT EXISTS %[1]s ("session_key" varchar(40) NOT NULL PRIMARY KEY, "user_id" varchar(255) NOT NULL, "created" timestamp with time zone NOT NULL, "modified" timestamp with time zone NOT NULL, "expire_date" timestamp with time zone NOT NULL)`,
	sqliteDialect:   `CREATE TABLE IF NOT EXISTS %[1]s ("session_key" varchar(40) NOT NULL PRIMARY KEY, "user_id" varchar(255) NOT NULL, "created" datetime NOT NULL, "modified" datetime NOT NULL, "expire_date" datetime NOT NULL)`,
	mysqlDialect:    "CREATE TABLE IF NOT EXISTS %[1]s (`session_key` varchar(40) NOT NULL PRIMARY KEY, `user_id` varchar(255) NOT NULL, `created` datetime(6) NOT NULL, `modified` datetime(6) NOT NULL, `expire_date` datetime(6) NOT NULL, INDEX %[2]s (`user_id`)) CHARACTER SET utf8mb4",
}

// The revocation marks (session.Revoker) are a second side table,
// "<table>_revoked": one row per user, the time in unix microseconds
// before which the user's sessions are revoked. A write that creates an
// index entry raises the user's row to itself (an upsert that changes
// nothing but locks the row, creating it when missing) and reads it, in
// its own transaction, before it inserts the entry; a revocation raises
// the row in a statement of its own and then lists. So the two are
// ordered by the row's lock: either the create commits first and the
// listing sees its entry, or the create reads the raised mark and is
// refused (a taken session older than the mark) or stamped no earlier
// than it (a new login). Rows older than a day are purged: a mark only
// guards sessions in flight and the stamps of logins that follow it.
var marksTable = map[*dialect]string{
	postgresDialect: `CREATE TABLE IF NOT EXISTS %[1]s ("user_id" varchar(255) NOT NULL PRIMARY KEY, "revoked" bigint NOT NULL)`,
	sqliteDialect:   `CREATE TABLE IF NOT EXISTS %[1]s ("user_id" varchar(255) NOT NULL PRIMARY KEY, "revoked" integer NOT NULL)`,
	mysqlDialect:    "CREATE TABLE IF NOT EXISTS %[1]s (`user_id` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, `revoked` bigint NOT NULL) CHARACTER SET utf8mb4",
}

// raiseMark sets the mark to the larger of the row's and the parameter.
var raiseMark = map[*dialect]string{
	postgresDialect: `INSERT INTO %[1]s AS r (user_id, revoked) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET revoked = GREATEST(r.revoked, EXCLUDED.revoked)`,
	sqliteDialect:   `INSERT INTO %[1]s (user_id, revoked) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET revoked = MAX(revoked, excluded.revoked)`,
	mysqlDialect:    "INSERT INTO %[1]s (user_id, revoked) VALUES (?, ?) ON DUPLICATE KEY UPDATE revoked = GREATEST(revoked, VALUES(revoked))",
}

// markTTL is how long a mark is kept after it was set.
const markTTL = 24 * time.Hour

var usersIndex = map[*dialect]string{
	postgresDialect: `CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s ("user_id")`,
	sqliteDialect:   `CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s ("user_id")`,
}

// userStatements are the index's statements, built once.
type userStatements struct {
	create                                          []string
	probe, remove, move, touch, insert, list, purge string
	// The marks (above) and the creation time of one entry.
	markProbe, markRaise, markRead, markPurge, created string
}

func (b *Backend) prepareUsers(table string) {
	d, p := b.d, b.d.param
	ut := table + "_users"
	t, u := d.quote(table), d.quote(ut)
	name := ut
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	idx := d.quote(name + "_user_id")
	s := &b.users
	s.create = []string{fmt.Sprintf(usersTable[d], u, idx)}
	if c := usersIndex[d]; c != "" {
		s.create = append(s.create, fmt.Sprintf(c, u, idx))
	}
	s.probe = fmt.Sprintf(`SELECT session_key, user_id, created, modified, expire_date FROM %s WHERE 1 = 0`, u)
	s.remove = fmt.Sprintf(`DELETE FROM %s WHERE session_key = %s`, u, p(1))
	// Another user's entry for the key goes: the session changed hands.
	s.move = fmt.Sprintf(`DELETE FROM %s WHERE session_key = %s AND user_id <> %s`, u, p(1), p(2))
	s.touch = fmt.Sprintf(`UPDATE %s SET modified = %s, expire_date = %s WHERE session_key = %s`, u, p(1), p(2), p(3))
	s.insert = fmt.Sprintf(`INSERT INTO %s (session_key, user_id, created, modified, expire_date) VALUES (%s, %s, %s, %s, %s)`, u, p(1), p(2), p(3), p(4), p(5))
	s.list = fmt.Sprintf(`SELECT u.session_key, u.created, u.modified, s.expire_date FROM %s u JOIN %s s ON s.session_key = u.session_key WHERE u.user_id = %s AND s.expire_date > %s ORDER BY u.created, u.session_key`, u, t, p(1), p(2))
	s.purge = fmt.Sprintf(`DELETE FROM %s WHERE expire_date < %s OR session_key NOT IN (SELECT session_key FROM %s)`, u, p(1), t)
	s.created = fmt.Sprintf(`SELECT created FROM %s WHERE session_key = %s AND user_id = %s`, u, p(1), p(2))
	m := d.quote(table + "_revoked")
	s.create = append(s.create, fmt.Sprintf(marksTable[d], m))
	s.markProbe = fmt.Sprintf(`SELECT user_id, revoked FROM %s WHERE 1 = 0`, m)
	s.markRaise = fmt.Sprintf(raiseMark[d], m)
	s.markRead = fmt.Sprintf(`SELECT revoked FROM %s WHERE user_id = %s`, m, p(1))
	s.markPurge = fmt.Sprintf(`DELETE FROM %s WHERE revoked < %s`, m, p(1))
}

// CanIndexUsers implements blob.UserIndexBackend: every database can. From
// then on, writes make sure the index table is there first.
func (b *Backend) CanIndexUsers() error {
	b.indexing.Store(true)
	return nil
}

// initUsers creates the index table when missing, once.
func (b *Backend) initUsers(ctx context.Context) error {
	if b.usersInited.Load() {
		return nil
	}
	if err := b.Init(ctx); err != nil {
		return err
	}
	select {
	case b.initSem <- struct{}{}:
		defer func() { <-b.initSem }()
	case <-ctx.Done():
		return fmt.Errorf("checking the user index table: %w", ctx.Err())
	}
	if b.usersInited.Load() {
		return nil
	}
	if b.probeUsers(ctx) != nil {
		for _, s := range b.users.create {
			if _, err := b.db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("creating the user index table: %w", err)
			}
		}
		if err := b.probeUsers(ctx); err != nil {
			return fmt.Errorf("checking the user index table: %w", err)
		}
	}
	b.usersInited.Store(true)
	return nil
}

// probeUsers checks that the index's tables are there: the entries' and
// the marks' (an index kept before marks existed has no marks table).
func (b *Backend) probeUsers(ctx context.Context) error {
	if _, err := b.db.ExecContext(ctx, b.users.probe); err != nil {
		return err
	}
	_, err := b.db.ExecContext(ctx, b.users.markProbe)
	return err
}

// RevokeBefore implements blob.UserIndexBackend: the user's row in the
// marks table, raised in a statement of its own.
func (b *Backend) RevokeBefore(ctx context.Context, user string, before time.Time) error {
	if err := b.initUsers(ctx); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		_, err := b.db.ExecContext(ctx, b.users.markRaise, user, before.UnixMicro())
		if err == nil {
			return nil
		}
		// MySQL may break a deadlock of upserts on one new row.
		if !b.d.retryable(err) || attempt == maxAttempts {
			return fmt.Errorf("writing the user's revocation mark: %w", err)
		}
	}
}

// lockMark reads user's mark in tx, holding its row's lock until tx ends
// (creating the row when missing): a revocation's raise waits for tx.
func (b *Backend) lockMark(ctx context.Context, tx *sql.Tx, user string) (time.Time, error) {
	if _, err := tx.ExecContext(ctx, b.users.markRaise, user, int64(0)); err != nil {
		return time.Time{}, err
	}
	var us int64
	if err := tx.QueryRowContext(ctx, b.users.markRead, user).Scan(&us); err != nil {
		return time.Time{}, err
	}
	if us == 0 {
		return time.Time{}, nil
	}
	return time.UnixMicro(us), nil
}

// applyIndex changes the index in tx as op says; it runs after the
// session's own write, in the same transaction.
func (b *Backend) applyIndex(ctx context.Context, tx *sql.Tx, key string, op blob.Op) error {
	ix := op.Index
	if op.Kind == blob.Remove || ix.User == "" {
		if op.Kind == blob.Remove && ix.WantCreated && ix.Prev != "" {
			var created any
			err := tx.QueryRowContext(ctx, b.users.created, key, ix.Prev).Scan(&created)
			if err == nil {
				ix.Created, err = scanTime(created)
			}
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, b.users.remove, key)
		return err
	}
	if _, err := tx.ExecContext(ctx, b.users.move, key, ix.User); err != nil {
		return err
	}
	now := b.d.timeArg(ix.Now.Truncate(time.Microsecond))
	exp := b.d.timeArg(op.Value.ExpiresAt.Truncate(time.Microsecond))
	res, err := tx.ExecContext(ctx, b.users.touch, now, exp, key)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	// A new entry: created at the taken session's time, refused when the
	// user's mark is past it, or else now but not before the mark.
	mark, err := b.lockMark(ctx, tx, ix.User)
	if err != nil {
		return err
	}
	created := ix.Now
	if !ix.Taken.IsZero() {
		if ix.Taken.Before(mark) {
			return session.ErrRevoked
		}
		created = ix.Taken
	} else if created.Before(mark) {
		created = mark
	}
	_, err = tx.ExecContext(ctx, b.users.insert, key, ix.User, b.d.timeArg(created.Truncate(time.Microsecond)), now, exp)
	return err
}

// UserSessions implements blob.UserIndexBackend: the user's sessions whose
// row is there and unexpired at now.
func (b *Backend) UserSessions(ctx context.Context, user string, now time.Time) ([]session.UserSession, error) {
	if err := b.initUsers(ctx); err != nil {
		return nil, err
	}
	rows, err := b.reader.QueryContext(ctx, b.users.list, user, b.d.timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("reading the user index: %w", err)
	}
	defer rows.Close()
	var out []session.UserSession
	for rows.Next() {
		var us session.UserSession
		var created, modified, exp any
		if err := rows.Scan(&us.Key, &created, &modified, &exp); err != nil {
			return nil, fmt.Errorf("reading the user index: %w", err)
		}
		for _, f := range []struct {
			v   any
			dst *time.Time
		}{{created, &us.Created}, {modified, &us.Modified}, {exp, &us.ExpiresAt}} {
			if *f.dst, err = scanTime(f.v); err != nil {
				return nil, err
			}
		}
		out = append(out, us)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the user index: %w", err)
	}
	return out, nil
}

// purgeUsers drops the index entries of sessions expired before now or no
// longer in the session table (ended by Django itself).
func (b *Backend) purgeUsers(ctx context.Context, now time.Time) error {
	if !b.usersInited.Load() {
		if b.probeUsers(ctx) != nil {
			return nil // no index kept here (or kept before the marks: the next indexing write adds their table)
		}
		b.usersInited.Store(true)
	}
	if _, err := b.db.ExecContext(ctx, b.users.purge, b.d.timeArg(now)); err != nil {
		return fmt.Errorf("purging the user index: %w", err)
	}
	if _, err := b.db.ExecContext(ctx, b.users.markPurge, now.Add(-markTTL).UnixMicro()); err != nil {
		return fmt.Errorf("purging the revocation marks: %w", err)
	}
	return nil
}

var _ blob.UserIndexBackend = (*Backend)(nil)
