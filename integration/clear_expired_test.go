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

	caddyfile := filepath.Join(dir, "Caddyfile")
	cfg := fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:1 {
	handle /json/* {
		session {
			secret {env.SESSION_SECRET}
			store file %s
		}
	}
	handle {
		session {
			secret {env.SESSION_SECRET}
			codec django
			django_secret_key %s
			cookie_age 1d
			store file %s
		}
	}
}
`, jsonDir, djangoKey, djangoDir)
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
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
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
