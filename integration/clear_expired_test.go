package integration

// `caddy sessions clear-expired`, Django's clearsessions: it removes exactly
// the expired sessions of every store a config uses, and leaves live ones.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/dbstore"
	"github.com/caddy-session/caddy-session/session/django"
)

func TestClearExpiredCommand(t *testing.T) {
	dir := t.TempDir()
	jsonDir, djangoDir := filepath.Join(dir, "json"), filepath.Join(dir, "django")
	for _, d := range []string{jsonDir, djangoDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const djangoKey = "django-insecure-clear-expired-test-key"
	write := func(path, content string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if !mod.IsZero() {
			if err := os.Chtimes(path, mod, mod); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The project's JSON files carry their expiry.
	liveJSON, oldJSON := session.NewKey(), session.NewKey()
	write(filepath.Join(jsonDir, liveJSON), fmt.Sprintf(`{"expires_at":%d,"data":{"a":1}}`, time.Now().Add(time.Hour).UnixMilli()), time.Time{})
	write(filepath.Join(jsonDir, oldJSON), fmt.Sprintf(`{"expires_at":%d,"data":{"a":1}}`, time.Now().Add(-time.Hour).UnixMilli()), time.Time{})
	// Django's file engine dates files by modification time plus the age,
	// or by the session's own _session_expiry.
	codec := &django.Codec{Key: []byte(djangoKey), Salt: django.SessionSalt}
	enc := func(d session.Data) string {
		b, err := codec.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	liveDj, oldDj, longDj := session.NewKey(), session.NewKey(), session.NewKey()
	twoDays := time.Now().Add(-48 * time.Hour)
	write(filepath.Join(djangoDir, "sessionid"+liveDj), enc(session.Data{"a": []byte(`1`)}), time.Time{})
	write(filepath.Join(djangoDir, "sessionid"+oldDj), enc(session.Data{"a": []byte(`1`)}), twoDays)
	write(filepath.Join(djangoDir, "sessionid"+longDj), enc(session.Data{"a": []byte(`1`), session.ExpiryKey: []byte(`2592000`)}), twoDays)

	// Django's db engine: rows with an expire_date.
	dbPath := filepath.Join(dir, "sessions.sqlite3")
	db, err := dbstore.Open(dbPath, "django_session")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	liveRow, oldRow := session.NewKey(), session.NewKey()
	for key, exp := range map[string]time.Time{liveRow: time.Now().Add(time.Hour), oldRow: time.Now().Add(-time.Hour)} {
		err := db.Modify(t.Context(), key, func(blob.Value, bool) (blob.Op, error) {
			return blob.Op{Kind: blob.Put, Value: blob.Value{Data: []byte(enc(session.Data{"a": []byte(`1`)})), ExpiresAt: exp}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rowExists := func(key string) bool {
		v, ok, err := db.Read(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		return ok && len(v.Data) > 0
	}
	_ = db.Close()

	caddyfile := filepath.Join(dir, "Caddyfile")
	cfg := fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:1 {
	handle /json/* {
		session {
			secret {env.SESSION_SECRET}
			store file %[1]s
		}
	}
	handle /db/* {
		session {
			secret {env.SESSION_SECRET}
			django_secret_key %[2]s
			store db {
				dsn %[4]s
			}
		}
	}
	handle {
		session {
			secret {env.SESSION_SECRET}
			codec django
			django_secret_key %[2]s
			cookie_age 1d
			store file %[3]s
		}
	}
}
`, jsonDir, djangoKey, djangoDir, dbPath)
	if err := os.WriteFile(caddyfile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCaddy(t, dir, []string{"SESSION_SECRET=" + testSecret, "XDG_DATA_HOME=" + filepath.Join(dir, "data")},
		"sessions", "clear-expired", "--config", caddyfile, "--adapter", "caddyfile")
	if err != nil {
		t.Fatalf("clear-expired: %v\n%s", err, out)
	}
	for _, want := range []string{"store file: removed 1 expired sessions"} {
		if strings.Count(out, want) != 2 {
			t.Errorf("output lacks two lines %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "store db: removed 1 expired sessions") {
		t.Errorf("output lacks the db line:\n%s", out)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	db, err = dbstore.Open(dbPath, "django_session")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !rowExists(liveRow) || rowExists(oldRow) {
		t.Errorf("rows after clear-expired: live %v, expired %v; want true, false", rowExists(liveRow), rowExists(oldRow))
	}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{filepath.Join(jsonDir, liveJSON), true},
		{filepath.Join(jsonDir, oldJSON), false},
		{filepath.Join(djangoDir, "sessionid"+liveDj), true},
		{filepath.Join(djangoDir, "sessionid"+oldDj), false},
		{filepath.Join(djangoDir, "sessionid"+longDj), true}, // its own 30-day expiry
	} {
		if got := exists(tc.path); got != tc.want {
			t.Errorf("%s exists = %v after clear-expired, want %v", filepath.Base(tc.path), got, tc.want)
		}
	}
}
