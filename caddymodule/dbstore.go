package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
)

func init() {
	caddy.RegisterModule(DBStore{})
}

// dbTimeout bounds the background work on the database (the first check
// of the table, each purge), which no request's context bounds.
const dbTimeout = 30 * time.Second

// DBStore is Django's `db` session engine: each session is one row of the
// django_session table (session_key, session_data, expire_date), shared
// with a Django app that uses the same table. The handler's codec encodes
// session_data: `codec django` (the default for this store) for Django's
// signed format, `codec json` for plain JSON.
//
// The database is PostgreSQL, SQLite or MySQL/MariaDB, chosen by the dsn.
// Their drivers come with package sqlstores (sqldrivers.go): a Caddy built
// without it refuses this store, naming the `--with` that adds it.
// A missing table is created as Django's migration creates it. Each save
// locks the session's row while it reads, changes and writes it back, so
// concurrent requests changing different fields of one session all
// survive. Expired rows are deleted every minute, as Django's
// clearsessions does.
//
// One connection pool per dsn and table is shared across config reloads.
// Caddy starts while a network database is down: requests get 503 until it
// is back.
type DBStore struct {
	// The database (required):
	//
	//   - `postgres://...` or `postgresql://...`: PostgreSQL, a libpq URL
	//     as pgx reads it (sslmode, connect_timeout, ...).
	//   - `mysql://` followed by a go-sql-driver/mysql DSN: MySQL or
	//     MariaDB, e.g. `mysql://app:pw@tcp(127.0.0.1:3306)/app` or
	//     `mysql://app@unix(/run/mysqld/mysqld.sock)/app`.
	//   - anything else without `://`, or a `file:` URI: SQLite, the path
	//     of the database file (relative to Caddy's working directory),
	//     created readable by its owner alone when missing.
	//
	// Placeholders such as `{env.DATABASE_URL}` are expanded; an unknown
	// or empty one is an error.
	DSN string `json:"dsn,omitempty"`
	// The table: letters, digits and underscores, optionally
	// `schema.table` (PostgreSQL, MySQL). Default: `django_session`.
	Table string `json:"table,omitempty"`

	backend SQLBackend
	poolKey string
}

// CaddyModule returns the Caddy module information.
func (DBStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".db", New: func() caddy.Module { return new(DBStore) }}
}

// Provision opens the pool shared under the dsn and table, or joins it. It
// connects only to SQLite (a local file: a problem with it is a
// configuration error); a network database is checked in the background,
// and a failure there is logged, not fatal.
func (s *DBStore) Provision(ctx caddy.Context) error {
	if err := s.Validate(); err != nil {
		return err
	}
	dsn, err := expand("dsn", s.DSN, true)
	if err != nil {
		return fmt.Errorf("store db: %w", err)
	}
	table := s.Table
	if table == "" {
		table = defaultTable
	}
	logger := ctx.Logger()
	// The dsn may hold a password: the key keeps only its hash.
	sum := sha256.Sum256([]byte(dsn + "\x00" + table))
	key := "db:" + hex.EncodeToString(sum[:])
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		b, err := sqlDrivers.Open(dsn, table)
		if err != nil {
			return nil, err
		}
		bg, cancel := context.WithCancel(context.Background())
		if b.Driver() == "sqlite" {
			ictx, icancel := context.WithTimeout(bg, dbTimeout)
			err := b.Init(ictx)
			icancel()
			if err != nil {
				cancel()
				b.Close()
				return nil, err
			}
		}
		checked := make(chan struct{})
		go func() {
			defer close(checked)
			ictx, icancel := context.WithTimeout(bg, dbTimeout)
			defer icancel()
			if err := b.Init(ictx); err != nil && bg.Err() == nil {
				logger.Warn("session database not ready; requests get 503 until it is",
					zap.String("database", b.Driver()), zap.Error(err))
			}
		}()
		stopPurge := runPurger(logger, func(now time.Time) (int, error) {
			pctx, pcancel := context.WithTimeout(bg, dbTimeout)
			defer pcancel()
			return b.Purge(pctx, now)
		})
		return pooledBackend{backend: b, stop: func() error {
			cancel()
			<-checked
			_ = stopPurge()
			return b.Close()
		}}, nil
	})
	if err != nil {
		return fmt.Errorf("store db: %w", err)
	}
	s.poolKey, s.backend = key, val.(pooledBackend).backend.(SQLBackend)
	return nil
}

// OpenStore implements StoreModule: the shared table, its values in the
// handler's codec (Django's signed format unless `codec json`).
func (s *DBStore) OpenStore(o StoreOptions) (session.Store, error) {
	if s.backend == nil {
		return nil, errors.New("store db: not provisioned")
	}
	codec, err := o.Encoding(true)
	if err != nil {
		return nil, err
	}
	return purgingBlob{Store: o.blobStore(s.backend, codec), purge: s.PurgeExpired}, nil
}

// CanEncrypt implements EncryptingStore: under codec json, each row's
// value is sealed; Django's signed format (the default) is for Django.
func (s *DBStore) CanEncrypt(o StoreOptions) error {
	if o.Codec != "json" {
		return errors.New("encrypt: store db keeps Django's signed format unless codec json, so that Django reads the table, which it could not once encrypted; set codec json to encrypt")
	}
	return nil
}

var _ EncryptingStore = (*DBStore)(nil)

// PurgeExpired deletes the rows that expired before now, as Django's
// clearsessions does.
func (s *DBStore) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	return s.backend.Purge(ctx, now)
}

// Cleanup releases the shared pool; the last config holding it closes it.
func (s *DBStore) Cleanup() error {
	if s.poolKey == "" {
		return nil
	}
	_, err := pool.Delete(s.poolKey)
	return err
}

// Validate refuses a store without a dsn, or with a table name that no
// database accepts, and any store db in a Caddy built without the SQL
// drivers.
func (s *DBStore) Validate() error {
	if sqlDrivers.Open == nil {
		return errNoSQLDrivers
	}
	if s.DSN == "" {
		return errors.New("store db: dsn: required (postgres://..., mysql://..., or a SQLite file path)")
	}
	if s.Table != "" {
		if err := sqlDrivers.CheckTable(s.Table); err != nil {
			return fmt.Errorf("store db: %w", err)
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the store from Caddyfile tokens. Syntax:
//
//	store db {
//		dsn   <postgres://... | mysql://... | SQLite file path>
//		table <name>
//	}
//
// Each subdirective at most once. The dsn may hold placeholders, expanded
// at provision; one that can never resolve is refused here already.
func (s *DBStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.Err("store db: takes a block (dsn, table), not arguments")
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		sub := d.Val()
		err := once(d, seen, sub)
		switch {
		case err != nil:
		case sub == "dsn":
			if s.DSN, err = oneArg(d); err == nil {
				err = checkPlaceholders(d, sub, true, s.DSN)
			}
		case sub == "table":
			s.Table, err = oneArg(d)
		default:
			return unknownSubdirective(d, "store db", sub, storeSubdirectives["db"])
		}
		if err != nil {
			return fmt.Errorf("store db: %w", err)
		}
	}
	if err := s.Validate(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*DBStore)(nil)
	_ caddy.CleanerUpper    = (*DBStore)(nil)
	_ caddy.Validator       = (*DBStore)(nil)
	_ caddyfile.Unmarshaler = (*DBStore)(nil)
)
