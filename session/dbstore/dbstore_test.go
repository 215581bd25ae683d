package dbstore_test

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/dbstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func open(t *testing.T, dsn, table string) *dbstore.Backend {
	t.Helper()
	b, err := dbstore.Open(dsn, table)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func conformance(t *testing.T, b *dbstore.Backend) {
	t.Helper()
	s := &blob.Store{Backend: b, Codec: session.JSONCodec{}}
	storetest.Run(t, func(*testing.T) session.Store { return s })
}

func TestConformance(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			conformance(t, open(t, e.dsn(t), ""))
		})
	}
}

// rawDB opens dsn with the plain driver, to look at the table directly.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver, name := "sqlite", dsn
	switch {
	case strings.HasPrefix(dsn, "postgres://"):
		driver = "pgx"
	case strings.HasPrefix(dsn, "mysql://"):
		driver, name = "mysql", strings.TrimPrefix(dsn, "mysql://")
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// put writes a row as it is, bypassing blob.Store (which writes no
// expired session).
func put(t *testing.T, b *dbstore.Backend, key, data string, expiresAt time.Time) {
	t.Helper()
	err := b.Modify(t.Context(), key, func(blob.Value, bool) (blob.Op, error) {
		return blob.Op{Kind: blob.Put, Value: blob.Value{Data: []byte(data), ExpiresAt: expiresAt}}, nil
	})
	if err != nil {
		t.Fatalf("Modify(put): %v", err)
	}
}

func TestPurge(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dsn := e.dsn(t)
			b := open(t, dsn, "sessions_purge")
			now := time.Now()
			expired := []time.Duration{-24 * time.Hour, -time.Minute, -time.Second}
			live := []time.Duration{time.Second, time.Minute, 24 * time.Hour}
			var liveKeys []string
			for _, d := range expired {
				put(t, b, session.NewKey(), `{"a":1}`, now.Add(d))
			}
			for _, d := range live {
				k := session.NewKey()
				liveKeys = append(liveKeys, k)
				put(t, b, k, `{"a":1}`, now.Add(d))
			}
			n, err := b.Purge(t.Context(), now)
			if err != nil || n != len(expired) {
				t.Fatalf("Purge = %d, %v; want %d, nil", n, err, len(expired))
			}
			if n := count(t, rawDB(t, dsn), "sessions_purge"); n != len(live) {
				t.Fatalf("%d rows left; want the %d live ones", n, len(live))
			}
			for _, k := range liveKeys {
				if _, ok, err := b.Read(t.Context(), k); err != nil || !ok {
					t.Fatalf("Read(live) after Purge = %v, %v; want found", ok, err)
				}
			}
			if n, err := b.Purge(t.Context(), now); err != nil || n != 0 {
				t.Fatalf("second Purge = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// TestExpiryRoundTrip: the time read back is the time written, to the
// microsecond Django keeps, whatever the database's own time zone.
func TestExpiryRoundTrip(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := open(t, e.dsn(t), "")
			for _, at := range []time.Time{
				time.Date(2031, 3, 30, 1, 30, 0, 0, time.UTC),
				time.Date(2031, 10, 26, 2, 30, 0, 123456789, time.FixedZone("CEST", 2*3600)),
				time.Now(),
			} {
				k := session.NewKey()
				put(t, b, k, `{}`, at)
				v, ok, err := b.Read(t.Context(), k)
				if err != nil || !ok {
					t.Fatalf("Read = %v, %v", ok, err)
				}
				if want := at.Truncate(time.Microsecond); !v.ExpiresAt.Equal(want) {
					t.Errorf("ExpiresAt = %v; want %v", v.ExpiresAt, want)
				}
			}
		})
	}
}

// TestConcurrentInsert: of many Modify calls that all find one key free,
// exactly one inserts; the others run again and find its row, so none of
// their writes is lost.
func TestConcurrentInsert(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := open(t, e.dsn(t), "")
			key := session.NewKey()
			const writers = 16
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range writers {
				wg.Go(func() {
					<-start
					err := b.Modify(t.Context(), key, func(cur blob.Value, exists bool) (blob.Op, error) {
						data := "x"
						if exists {
							data = string(cur.Data) + "x"
						}
						return blob.Op{Kind: blob.Put, Value: blob.Value{Data: []byte(data), ExpiresAt: time.Now().Add(time.Hour)}}, nil
					})
					if err != nil {
						t.Errorf("writer %d: %v", i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			v, _, err := b.Read(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(v.Data); got != writers {
				t.Fatalf("value has %d marks; want %d: a write was lost", got, writers)
			}
		})
	}
}

func TestModifyReturnsFnError(t *testing.T) {
	b := open(t, sqliteFile(t), "")
	key := session.NewKey()
	put(t, b, key, `{"a":1}`, time.Now().Add(time.Hour))
	err := b.Modify(t.Context(), key, func(blob.Value, bool) (blob.Op, error) { return blob.Op{}, session.ErrGone })
	if err != session.ErrGone {
		t.Fatalf("Modify = %v; want fn's error as it is", err)
	}
	v, ok, err := b.Read(t.Context(), key)
	if err != nil || !ok || string(v.Data) != `{"a":1}` {
		t.Fatalf("after a failed fn: %q, %v, %v; want the row untouched", v.Data, ok, err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, dsn, table, driver, err string
	}{
		{"Postgres", "postgres://u@127.0.0.1/app", "", "postgres", ""},
		{"PostgreSQLScheme", "postgresql://u@127.0.0.1/app?sslmode=disable", "", "postgres", ""},
		{"PostgresSchema", "postgres://u@127.0.0.1/app", "myapp.django_session", "postgres", ""},
		{"MySQL", "mysql://u:p@tcp(127.0.0.1:3306)/app", "", "mysql", ""},
		{"MySQLSocket", "mysql://root@unix(/run/mysqld/mysqld.sock)/app", "", "mysql", ""},
		{"SQLitePath", dir + "/a.sqlite3", "", "sqlite", ""},
		{"SQLiteRelative", "a.sqlite3", "", "sqlite", ""},
		{"SQLiteURI", "file:" + dir + "/b.sqlite3?_busy_timeout=100", "sessions", "sqlite", ""},
		{"Empty", "", "", "", "dsn: empty"},
		{"UnknownScheme", "mongodb://x/y", "", "", `unknown scheme "mongodb"`},
		{"KeywordValue", "host=127.0.0.1 dbname=app", "", "", "postgres:// URL"},
		{"BadPostgresURL", "postgres://u:secret@[::1/app", "", "", "not a valid PostgreSQL URL"},
		{"BadMySQL", "mysql://u:secret@127.0.0.1/app", "", "", "not a valid MySQL DSN"},
		{"MySQLNoDatabase", "mysql://u:secret@tcp(127.0.0.1:3306)/", "", "", "names no database"},
		{"MySQLDatabaseInTable", "mysql://u:secret@tcp(127.0.0.1:3306)/", "app.django_session", "mysql", ""},
		{"Memory", ":memory:", "", "", "in-memory"},
		{"MemoryURI", "file:x?mode=memory", "", "", "in-memory"},
		{"TableQuote", dir + "/c.sqlite3", `sessions"; DROP TABLE x; --`, "", "want letters, digits and underscores"},
		{"TableSpace", "postgres://u@h/app", "django session", "", "want letters"},
		{"TableDigit", "postgres://u@h/app", "1sessions", "", "want letters"},
		{"TableThreeParts", "postgres://u@h/app", "a.b.c", "", "want letters"},
		{"TableTooLong", "postgres://u@h/app", strings.Repeat("t", 64), "", "want letters"},
		{"SQLiteSchema", dir + "/d.sqlite3", "main.django_session", "", "SQLite takes no schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := dbstore.Open(tc.dsn, tc.table)
			if tc.err != "" {
				if err == nil {
					b.Close()
					t.Fatalf("Open succeeded; want an error with %q", tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Open error = %q; want it to contain %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("Open error %q quotes the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer b.Close()
			if b.Driver() != tc.driver {
				t.Fatalf("Driver = %q; want %q", b.Driver(), tc.driver)
			}
		})
	}
}

// TestDatabaseDown: Open does not connect; use fails promptly with an error
// that names neither key nor data, and works once the database is there.
func TestDatabaseDown(t *testing.T) {
	b := open(t, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "")
	key := session.NewKey()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err := b.Read(ctx, key)
	if err == nil {
		t.Fatal("Read succeeded against a closed port")
	}
	err2 := b.Modify(ctx, key, func(blob.Value, bool) (blob.Op, error) {
		return blob.Op{Kind: blob.Put, Value: blob.Value{Data: []byte(`{"secret-data":1}`), ExpiresAt: time.Now().Add(time.Hour)}}, nil
	})
	if err2 == nil {
		t.Fatal("Modify succeeded against a closed port")
	}
	for _, e := range []error{err, err2} {
		if strings.Contains(e.Error(), key) || strings.Contains(e.Error(), "secret-data") {
			t.Fatalf("error %q holds the key or the data", e)
		}
	}
	if errors.Is(err2, session.ErrGone) || errors.Is(err2, session.ErrKeyExists) {
		t.Fatalf("Modify error = %v; want an outage, not a session verdict", err2)
	}
}

// TestWaitsForOtherWriter: while another transaction (Django, another
// Caddy) holds the row's lock (SQLite: the database's write lock), a save
// waits for it instead of failing, then reads what it committed: neither
// write is lost.
func TestWaitsForOtherWriter(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dsn := e.dsn(t)
			b := open(t, dsn, "")
			key := session.NewKey()
			put(t, b, key, `a`, time.Now().Add(time.Hour))

			update := "UPDATE django_session SET session_data = session_data || 'b' WHERE session_key = ?"
			switch {
			case strings.HasPrefix(dsn, "postgres://"):
				update = strings.Replace(update, "?", "$1", 1)
			case strings.HasPrefix(dsn, "mysql://"):
				update = strings.Replace(update, "session_data || 'b'", "CONCAT(session_data, 'b')", 1)
			}
			tx, err := rawDB(t, dsn).BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.Exec(update, key); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				done <- b.Modify(t.Context(), key, func(cur blob.Value, _ bool) (blob.Op, error) {
					return blob.Op{Kind: blob.Put, Value: blob.Value{Data: append(cur.Data, 'c'), ExpiresAt: cur.ExpiresAt}}, nil
				})
			}()
			time.Sleep(300 * time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("Modify returned (%v) while another transaction held the lock", err)
			default:
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Modify after the other writer committed: %v", err)
			}
			v, _, err := b.Read(t.Context(), key)
			if err != nil || string(v.Data) != "abc" {
				t.Fatalf("Read = %q, %v; want both writes, in order: abc", v.Data, err)
			}
		})
	}
}

// TestSwap: an update of the session as loaded (Change.Base) is written in
// one compare-and-set; one whose row changed since falls back to the
// locking way and keeps the other writer's change; one whose session was
// deleted since reports it gone. On every engine.
func TestSwap(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			s := &blob.Store{Backend: open(t, e.dsn(t), ""), Codec: session.JSONCodec{}}
			ctx := t.Context()
			key := session.NewKey()
			exp := time.Now().Add(time.Hour)
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
			load := func() session.Record {
				t.Helper()
				rec, ok, err := s.Load(ctx, key)
				if !ok || err != nil {
					t.Fatalf("Load = %v, %v", ok, err)
				}
				if rec.Version == nil {
					t.Fatal("Load gave no Version")
				}
				return rec
			}

			// The row as loaded: swapped.
			rec := load()
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": []byte(`2`)}, ExpiresAt: exp, Base: rec.Version}); err != nil {
				t.Fatal(err)
			}
			// Changed since it was loaded: the other change survives.
			stale := rec
			if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"c": []byte(`3`)}, ExpiresAt: exp, Base: stale.Version}); err != nil {
				t.Fatal(err)
			}
			got := load().Data
			for k, v := range map[string]string{"a": "1", "b": "2", "c": "3"} {
				if string(got[k]) != v {
					t.Errorf("after a swap and a stale-based update: %s = %s; want %s (all of %v)", k, got[k], v, got)
				}
			}
			// Deleted since it was loaded: gone, and not written back.
			rec = load()
			if _, err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			_, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"d": []byte(`4`)}, ExpiresAt: exp, Base: rec.Version})
			if !errors.Is(err, session.ErrGone) {
				t.Errorf("update of a session deleted since it was loaded: err = %v; want ErrGone", err)
			}
			if _, ok, _ := s.Load(ctx, key); ok {
				t.Error("the deleted session was written back")
			}
		})
	}
}

// TestReadAfterDroppedConnections: when PostgreSQL drops the pool's
// connections (a restart, pg_terminate_backend, a proxy's idle cut), the
// next read still answers, on a fresh connection, rather than failing the
// request with 503 because it drew a dead connection from the pool.
func TestReadAfterDroppedConnections(t *testing.T) {
	name, dsn := postgresDB(t)
	b := open(t, dsn, "")
	key := session.NewKey()
	put(t, b, key, `{"user":"alice"}`, time.Now().Add(time.Hour))
	if _, ok, err := b.Read(t.Context(), key); err != nil || !ok {
		t.Fatalf("Read = %v, %v", ok, err)
	}

	admin := rawDB(t, dsn)
	if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
		t.Fatal(err)
	}
	// pg_terminate_backend only signals: wait until the connections are gone.
	for {
		var n int
		if err := admin.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if t.Context().Err() != nil {
			t.Fatal("the connections were not dropped")
		}
		runtime.Gosched()
	}

	v, ok, err := b.Read(t.Context(), key)
	if err != nil || !ok || string(v.Data) != `{"user":"alice"}` {
		t.Fatalf("Read after the connections dropped = %q, %v, %v; want the session", v.Data, ok, err)
	}
}
