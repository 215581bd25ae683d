// Package testpg gives tests a PostgreSQL database of their own on the
// server this project's machines run (127.0.0.1:5432, user postgres, trust
// auth; scripts/install-deps.sh starts it), created fresh and dropped when
// the test ends. Under CI=true a server that is not there fails the test;
// elsewhere the test is skipped, saying how to start it.
package testpg

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for the admin statements
)

const (
	// AdminDSN is the server's maintenance database.
	AdminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	// StartCommand starts the server on a Debian machine, as root.
	StartCommand = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)

// Database creates a database named prefix plus a random suffix and
// returns its name and its postgres:// dsn; it is dropped (WITH (FORCE))
// when the test ends.
func Database(t testing.TB, prefix string) (name, dsn string) {
	t.Helper()
	admin, err := sql.Open("pgx", AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		Unavailable(t, "PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth)", StartCommand, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = prefix + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", AdminDSN)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	return name, "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
}

// Unavailable fails the test under CI=true, where the service must be
// there, and skips it elsewhere; both say how to start it.
func Unavailable(t testing.TB, what, start string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not reachable (%v): the CI machine runs it; start it with: %s", what, err, start)
	}
	t.Skipf("%s is not reachable (%v); start it with: %s", what, err, start)
}
