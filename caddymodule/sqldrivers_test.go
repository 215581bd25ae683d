package caddymodule

import (
	"github.com/caddy-session/caddy-session/session/dbstore"
)

// The tests of this package run with the SQL drivers, as package sqlstores
// plugs them in (it imports this package, so the tests cannot import it).
func init() {
	UseSQLDrivers(SQLDrivers{
		Open: func(dsn, table string) (SQLBackend, error) {
			b, err := dbstore.Open(dsn, table)
			if err != nil {
				return nil, err
			}
			return b, nil
		},
		CheckTable: dbstore.CheckTable,
	})
}
