package dbstore_test

import (
	"os/exec"
	"testing"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// TestSealed runs the encryption tests on PostgreSQL, dumping the test
// database with pg_dump.
func TestSealed(t *testing.T) {
	name, dsn := postgresDB(t)
	b := open(t, dsn, "")
	db := rawDB(t, dsn)
	storetest.RunSealed(t, storetest.SealedStore{
		Open: func(t *testing.T, sealer *session.Sealer) session.Store {
			return &blob.Store{Backend: b, Codec: session.JSONCodec{}, Sealer: sealer}
		},
		Dump: func(t *testing.T) []byte {
			out, err := exec.Command("pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", name).Output()
			if err != nil {
				t.Fatalf("pg_dump: %v", err)
			}
			return out
		},
		Raw: func(t *testing.T, key string) []byte {
			var v string
			if err := db.QueryRow("SELECT session_data FROM django_session WHERE session_key = $1", key).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return []byte(v)
		},
		SetRaw: func(t *testing.T, key string, v []byte) {
			if _, err := db.Exec("UPDATE django_session SET session_data = $1 WHERE session_key = $2", string(v), key); err != nil {
				t.Fatal(err)
			}
		},
	})
}
