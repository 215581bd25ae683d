package dbstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // "mysql" for admin statements
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for admin statements

	"github.com/caddy-session/caddy-session/internal/testpg"
)

// The test databases: the services this project's machines run (see
// scripts/install-deps.sh). Each test gets a database of its own, dropped
// when it ends. Under CI=true a service that is not there fails the test;
// elsewhere it skips, saying how to start it.
const (
	myAdminDSN = "root@tcp(127.0.0.1:3306)/"
	myStart    = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
)

func unavailable(t *testing.T, what, start string, err error) {
	t.Helper()
	testpg.Unavailable(t, what, start, err)
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func pingWithin(db *sql.DB, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return db.PingContext(ctx)
}

// postgresDB creates a fresh PostgreSQL database and returns its name and
// its postgres:// dsn.
func postgresDB(t *testing.T) (name, dsn string) {
	t.Helper()
	return testpg.Database(t, "dbstore_test_")
}

// mysqlDB creates a fresh MySQL/MariaDB database and returns its mysql://
// dsn.
func mysqlDB(t *testing.T) string {
	t.Helper()
	admin, err := sql.Open("mysql", myAdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := pingWithin(admin, 5*time.Second); err != nil {
		unavailable(t, "MariaDB/MySQL at 127.0.0.1:3306 (root, empty password)", myStart, err)
	}
	name := randomName("dbstore_test_")
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("mysql", myAdminDSN)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	return "mysql://root@tcp(127.0.0.1:3306)/" + name
}

// sqliteFile returns the path of a SQLite database in a fresh directory.
func sqliteFile(t *testing.T) string {
	return filepath.Join(t.TempDir(), "db.sqlite3")
}

// engines are the databases every test runs on, each returning a dsn.
var engines = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"PostgreSQL", func(t *testing.T) string { _, dsn := postgresDB(t); return dsn }},
	{"SQLite", sqliteFile},
	{"MySQL", mysqlDB},
}
