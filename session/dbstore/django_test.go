package dbstore_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/django"
)

// The SECRET_KEY of testdata/django_sessions.py.
const djangoSecret = "dbstore-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

const python = "/usr/bin/python3"

func needDjango(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import django, psycopg2").CombinedOutput()
	if err == nil {
		return
	}
	const fix = "apt-get install -y python3-django python3-psycopg2"
	if os.Getenv("CI") == "true" {
		t.Fatalf("Django is needed to check the table it makes (%v: %s); install it: %s", err, bytes.TrimSpace(out), fix)
	}
	t.Skipf("Django is not installed (%v); to run this test: %s", err, fix)
}

// runDjango runs testdata/django_sessions.py: Django's own db engine on
// the database (engine "pg" with a database name, or "sqlite" with a file).
func runDjango(t *testing.T, engine, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(python, append([]string{filepath.Join("testdata", "django_sessions.py"), engine, name}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("django_sessions.py %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(bytes.TrimSpace(out))
}

type djangoDB struct {
	engine, name, dsn string
	// fresh returns another, empty database of the same engine.
	fresh func(t *testing.T) (dsn string, db *sql.DB)
}

func djangoDBs(t *testing.T) []struct {
	label string
	open  func(t *testing.T) djangoDB
} {
	return []struct {
		label string
		open  func(t *testing.T) djangoDB
	}{
		{"PostgreSQL", func(t *testing.T) djangoDB {
			name, dsn := postgresDB(t)
			return djangoDB{"pg", name, dsn, func(t *testing.T) (string, *sql.DB) {
				_, dsn := postgresDB(t)
				return dsn, rawDB(t, dsn)
			}}
		}},
		{"SQLite", func(t *testing.T) djangoDB {
			path := sqliteFile(t)
			return djangoDB{"sqlite", path, path, func(t *testing.T) (string, *sql.DB) {
				path := sqliteFile(t)
				return path, rawDB(t, path)
			}}
		}},
	}
}

// TestDjangoTable: on the table Django's own migration made, the store
// passes the conformance suite, reads what Django's SessionStore wrote,
// and writes what Django's SessionStore reads; both agree on expiry; and a
// table the store creates is the table Django makes.
func TestDjangoTable(t *testing.T) {
	needDjango(t)
	codec := django.Codec{Key: []byte(djangoSecret)}
	for _, e := range djangoDBs(t) {
		t.Run(e.label, func(t *testing.T) {
			db := e.open(t)
			runDjango(t, db.engine, db.name, "migrate")
			b := open(t, db.dsn, "")
			raw := rawDB(t, db.dsn)

			t.Run("SameSchema", func(t *testing.T) {
				dsn, ours := db.fresh(t)
				if err := open(t, dsn, "").Init(t.Context()); err != nil {
					t.Fatal(err)
				}
				want, got := schema(t, raw, db.engine), schema(t, ours, db.engine)
				if !slices.Equal(got, want) {
					t.Fatalf("the table the store made:\n  %s\nDjango's:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
				t.Logf("both:\n  %s", strings.Join(got, "\n  "))
			})

			t.Run("Conformance", func(t *testing.T) { conformance(t, b) })

			t.Run("DjangoWritesStoreReads", func(t *testing.T) {
				var row struct {
					Key, Data  string
					ExpireDate string `json:"expire_date"`
				}
				out := runDjango(t, db.engine, db.name, "save", `{"_auth_user_id": "7", "cart": [1, 2], "name": "Jos\u00e9"}`, "3600")
				if err := json.Unmarshal([]byte(out), &row); err != nil {
					t.Fatalf("%s: %v", out, err)
				}
				v, ok, err := b.Read(t.Context(), row.Key)
				if err != nil || !ok {
					t.Fatalf("Read(Django's session) = %v, %v", ok, err)
				}
				if string(v.Data) != row.Data {
					t.Fatalf("session_data = %q; Django wrote %q", v.Data, row.Data)
				}
				exp, err := time.Parse(time.RFC3339Nano, row.ExpireDate)
				if err != nil {
					t.Fatal(err)
				}
				if !v.ExpiresAt.Equal(exp) {
					t.Fatalf("ExpiresAt = %v; Django wrote %v", v.ExpiresAt, exp)
				}
				// Through the store with Django's codec, as the handler reads it.
				s := &blob.Store{Backend: b, Codec: codec}
				rec, ok, err := s.Load(t.Context(), row.Key)
				if err != nil || !ok {
					t.Fatalf("Load(Django's session) = %v, %v", ok, err)
				}
				if string(rec.Data["_auth_user_id"]) != `"7"` || string(rec.Data["cart"]) != `[1,2]` {
					t.Fatalf("Load = %s", rec.Data)
				}
			})

			t.Run("StoreWritesDjangoReads", func(t *testing.T) {
				s := &blob.Store{Backend: b, Codec: codec}
				key := session.NewKey()
				set := session.Data{"_auth_user_id": []byte(`"7"`), "cart": []byte(`[1,2]`), "name": []byte(`"José"`)}
				if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: set, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				got := runDjango(t, db.engine, db.name, "load", key)
				if want := `{"_auth_user_id": "7", "cart": [1, 2], "name": "Jos\u00e9"}`; got != want {
					t.Fatalf("Django loaded %s; want %s", got, want)
				}
			})

			// Django compares expire_date with its own now(): on SQLite a
			// comparison of texts, which agree only if the store writes
			// times as Django does.
			t.Run("ExpiryAgrees", func(t *testing.T) {
				enc, err := codec.Encode(session.Data{"a": []byte(`1`)})
				if err != nil {
					t.Fatal(err)
				}
				// The live row has minutes to live, so that starting three
				// Django processes on a busy machine cannot outlast it; the
				// expired one, two seconds in the past, is what catches a
				// format Django would compare wrongly.
				live, expired := session.NewKey(), session.NewKey()
				put(t, b, live, string(enc), time.Now().Add(10*time.Minute))
				put(t, b, expired, string(enc), time.Now().Add(-2*time.Second))
				if got := runDjango(t, db.engine, db.name, "load", live); got != `{"a": 1}` {
					t.Fatalf("Django loaded the live session as %s", got)
				}
				if got := runDjango(t, db.engine, db.name, "load", expired); got != `{}` {
					t.Fatalf("Django loaded the expired session as %s; want {}", got)
				}

				// Django's clearsessions removes the store's expired row and
				// keeps the live one.
				runDjango(t, db.engine, db.name, "clear_expired")
				if _, ok, _ := b.Read(t.Context(), expired); ok {
					t.Fatal("Django's clear_expired left the store's expired row")
				}
				if _, ok, _ := b.Read(t.Context(), live); !ok {
					t.Fatal("Django's clear_expired removed the store's live row")
				}

				// The store's purge removes a row Django wrote expired.
				runDjango(t, db.engine, db.name, "save", `{"a": 1}`, "-10")
				before := count(t, raw, "django_session")
				n, err := b.Purge(t.Context(), time.Now())
				if err != nil || n != 1 {
					t.Fatalf("Purge = %d, %v; want Django's one expired row", n, err)
				}
				if after := count(t, raw, "django_session"); after != before-1 {
					t.Fatalf("%d rows after Purge; want %d", after, before-1)
				}
			})
		})
	}
}

// schema describes the django_session table: its columns and indexes
// (PostgreSQL's varchar_pattern_ops index aside, which no session query
// uses and the store does not make).
func schema(t *testing.T, db *sql.DB, engine string) []string {
	t.Helper()
	var queries []string
	if engine == "pg" {
		queries = []string{
			`SELECT column_name || ' ' || data_type || ' ' || coalesce(character_maximum_length, 0) || ' nullable=' || is_nullable
			 FROM information_schema.columns WHERE table_name = 'django_session' ORDER BY column_name`,
			`SELECT indexname || ': ' || indexdef FROM pg_indexes
			 WHERE tablename = 'django_session' AND indexname NOT LIKE '%\_like' ORDER BY indexname`,
		}
	} else {
		queries = []string{
			`SELECT name || ' ' || type || ' notnull=' || "notnull" || ' pk=' || pk FROM pragma_table_info('django_session') ORDER BY name`,
			`SELECT il.name || ' unique=' || il."unique" || ' origin=' || il.origin || ': ' || ii.name
			 FROM pragma_index_list('django_session') il, pragma_index_info(il.name) ii ORDER BY il.name`,
		}
	}
	var out []string
	for _, q := range queries {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if len(out) < 4 {
		t.Fatalf("no django_session table: %q", out)
	}
	return out
}
