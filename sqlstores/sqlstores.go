// Package sqlstores adds the SQL databases to caddy-session: PostgreSQL
// (pgx), SQLite (modernc.org/sqlite, no cgo) and MySQL/MariaDB
// (go-sql-driver/mysql), for the `db` and `cached_db` stores (Django's db
// and cached_db engines). The default build leaves these drivers out
// (they are most of what the module adds to Caddy's size); add them with
// one more --with:
//
//	xcaddy build --with github.com/caddy-session/caddy-session \
//		--with github.com/caddy-session/caddy-session/sqlstores
//
// The stores themselves, their Caddyfile and JSON config, are in
// caddymodule (dbstore.go, cacheddb.go); the table's SQL in
// session/dbstore. This package only plugs the one into the other.
package sqlstores

import (
	"github.com/caddy-session/caddy-session/caddymodule"
	"github.com/caddy-session/caddy-session/session/dbstore"
)

func init() {
	caddymodule.UseSQLDrivers(caddymodule.SQLDrivers{Open: open, CheckTable: dbstore.CheckTable})
}

func open(dsn, table string) (caddymodule.SQLBackend, error) {
	b, err := dbstore.Open(dsn, table)
	if err != nil {
		return nil, err // not a nil *Backend in a non-nil interface
	}
	return b, nil
}
