package dbstore

import (
	"context"
	"database/sql"
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

var usersIndex = map[*dialect]string{
	postgresDialect: `CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s ("user_id")`,
	sqliteDialect:   `CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s ("user_id")`,
}

// userStatements are the index's statements, built once.
type userStatements struct {
	create                                          []string
	probe, remove, move, touch, insert, list, purge string
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
	if _, err := b.db.ExecContext(ctx, b.users.probe); err != nil {
		for _, s := range b.users.create {
			if _, err := b.db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("creating the user index table: %w", err)
			}
		}
		if _, err := b.db.ExecContext(ctx, b.users.probe); err != nil {
			return fmt.Errorf("checking the user index table: %w", err)
		}
	}
	b.usersInited.Store(true)
	return nil
}

// applyIndex changes the index in tx as op says; it runs after the
// session's own write, in the same transaction.
func (b *Backend) applyIndex(ctx context.Context, tx *sql.Tx, key string, op blob.Op) error {
	ix := op.Index
	if op.Kind == blob.Remove || ix.User == "" {
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
	_, err = tx.ExecContext(ctx, b.users.insert, key, ix.User, now, now, exp)
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
		if _, err := b.db.ExecContext(ctx, b.users.probe); err != nil {
			return nil // no index kept here
		}
		b.usersInited.Store(true)
	}
	if _, err := b.db.ExecContext(ctx, b.users.purge, b.d.timeArg(now)); err != nil {
		return fmt.Errorf("purging the user index: %w", err)
	}
	return nil
}

var _ blob.UserIndexBackend = (*Backend)(nil)
