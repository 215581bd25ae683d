package caddymodule

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/pflag"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/filestore"
)

// TestRekeyCommand: `caddy sessions rekey --config` seals the sessions a
// rotation left under the previous key again under the current one, and
// those stored before encrypt under accept_plaintext.
func TestRekeyCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sessions")
	old, cur := encKey(t), encKey(t)
	t.Setenv("CADDY_SESSION_TEST_ENC", base64.StdEncoding.EncodeToString(cur))
	t.Setenv("CADDY_SESSION_TEST_ENC_OLD", base64.StdEncoding.EncodeToString(old))
	t.Setenv("CADDY_SESSION_TEST_SECRET", goodSecret)
	base, err := filestore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	oldSealer, _ := session.NewSealer(old, nil, false)
	keys := map[string]*filestore.Store{session.NewKey(): base.WithSealer(oldSealer), session.NewKey(): base.WithSealer(oldSealer), session.NewKey(): base}
	for k, s := range keys {
		if _, err := s.Save(t.Context(), k, session.Change{Mode: session.ModeCreate, Set: session.Data{"email": []byte(`"ada@example.org"`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	os.WriteFile(caddyfile, []byte(`:0 {
	session {
		secret {env.CADDY_SESSION_TEST_SECRET}
		store file `+dir+`
		encrypt {env.CADDY_SESSION_TEST_ENC} {
			previous_keys {env.CADDY_SESSION_TEST_ENC_OLD}
			accept_plaintext
		}
	}
}
`), 0o600)
	fs := pflag.NewFlagSet("rekey", pflag.ContinueOnError)
	fs.String("config", caddyfile, "")
	fs.String("adapter", "", "")
	if code, err := cmdRekey(caddycmd.Flags{FlagSet: fs}); err != nil || code != 0 {
		t.Fatalf("rekey = %d, %v", code, err)
	}
	id := session.KeyID(cur)
	for k := range keys {
		b, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "cse1."+id+".") || strings.Contains(string(b), "ada@") {
			t.Errorf("after rekey, a session file is not under the current key: %s", b)
		}
	}
}
