package caddymodule

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-session/caddy-session/session/blob"
)

// The SQL drivers (pgx, modernc's SQLite, go-sql-driver/mysql) add about
// 8 MB to Caddy, nearly half of what the module adds (docs/benchmarks.md,
// "Binary size"). This package does not import them, so that a Caddy built
// for the file, memory, Redis and signed_cookies stores does not carry them:
// package sqlstores (github.com/caddy-session/caddy-session/sqlstores)
// imports them and plugs them in here with UseSQLDrivers, from its init.
// Without it, `store db` and `store cached_db` are refused when the
// Caddyfile is adapted or the JSON config loaded, with errNoSQLDrivers.

// SQLBackend is Django's session table on one database, as package
// sqlstores opens it (a *dbstore.Backend). It may implement the optional
// interfaces of package blob (Swapper, UserIndexBackend).
type SQLBackend interface {
	blob.Backend
	// Driver names the database: "postgres", "mysql" or "sqlite".
	Driver() string
	// Init checks the table, creating it when missing.
	Init(ctx context.Context) error
	// Purge deletes the rows that expired before now.
	Purge(ctx context.Context, now time.Time) (int, error)
	// Close closes the connection pools.
	Close() error
}

// SQLDrivers is what package sqlstores plugs in.
type SQLDrivers struct {
	// Open returns the backend for a dsn and a table; it need not
	// connect.
	Open func(dsn, table string) (SQLBackend, error)
	// CheckTable refuses a table name that no database accepts.
	CheckTable func(table string) error
}

// sqlDrivers is set once, at init, by package sqlstores; its zero value
// is a Caddy built without it.
var sqlDrivers SQLDrivers

// UseSQLDrivers plugs the SQL drivers into the db and cached_db stores.
// Package sqlstores calls it from its init; nothing else needs to.
func UseSQLDrivers(d SQLDrivers) {
	sqlDrivers = d
}

// SQLStoresPackage is the package that adds the SQL drivers, for `xcaddy
// build --with`.
const SQLStoresPackage = "github.com/caddy-session/caddy-session/sqlstores"

// defaultTable is Django's table for its Session model (dbstore's
// DefaultTable, which this package does not import).
const defaultTable = "django_session"

// errNoSQLDrivers refuses store db (and cached_db) in a Caddy built
// without package sqlstores.
var errNoSQLDrivers = errors.New("store db: this Caddy was built without the SQL drivers (PostgreSQL, SQLite, MySQL); " +
	"build it with one more --with: xcaddy build --with github.com/caddy-session/caddy-session --with " + SQLStoresPackage)
