package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func encKey(t *testing.T) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func TestEncryptCaddyfile(t *testing.T) {
	h, msg := parseSession(t, "encrypt {env.K} { previous_keys {env.OLD1} {env.OLD2}; previous_keys {file./run/k}; accept_plaintext }")
	if msg != "" {
		t.Fatal(msg)
	}
	want := Encrypt{Key: "{env.K}", PreviousKeys: []string{"{env.OLD1}", "{env.OLD2}", "{file./run/k}"}, AcceptPlaintext: true}
	if got, _ := json.Marshal(h.Encrypt); string(got) != string(must(json.Marshal(want))) {
		t.Fatalf("encrypt = %s; want %+v", got, want)
	}
	// Refusals that need no store opened: `caddy adapt` reports them.
	for store, wantMsg := range map[string]string{
		"store cache":                     "store cache (Django's cache engine) is Django's own layout",
		"store db { dsn /tmp/x.sqlite3 }": "store db keeps Django's signed format unless codec json",
		"store signed_cookies":            "signed_cookies keeps the session in the cookie",
	} {
		h, msg := parseSession(t, store+"; encrypt {env.K}")
		if msg != "" {
			t.Fatalf("%s: %s", store, msg)
		}
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("%s with encrypt: Validate = %v; want %q", store, err, wantMsg)
		}
	}
	for body, wantMsg := range map[string]string{
		"encrypt":                                "encrypt: a key is required",
		"encrypt {envK}":                         "encrypt: unrecognized placeholder",
		"encrypt {env.K} { accept_plaintext x }": "wrong argument count",
		"encrypt {env.K} { rotate }":             "unrecognized subdirective",
		"encrypt {env.K}; codec django":          "",
	} {
		h, msg := parseSession(t, body)
		if !strings.Contains(msg, wantMsg) {
			t.Errorf("%q: error %q; want %q", body, msg, wantMsg)
		}
		if wantMsg == "" {
			if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "codec django keeps sessions in Django's signed format") {
				t.Errorf("%q: Validate = %v; want the refusal of codec django, saying why", body, err)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestEncryptProvision: a key from a placeholder in hex or base64 is
// taken; one that is not 32 bytes, or is the secret, is refused without
// showing it; so are the layouts Django reads.
func TestEncryptProvision(t *testing.T) {
	key := encKey(t)
	t.Setenv("CADDY_SESSION_TEST_ENC", base64.StdEncoding.EncodeToString(key)+"\n")
	t.Setenv("CADDY_SESSION_TEST_ENC_HEX", hex.EncodeToString(encKey(t)))
	t.Setenv("CADDY_SESSION_TEST_ENC_SHORT", "notakey-but-a-passphrase-SHOWN")
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(encKey(t))+"\n"), 0o600)
	memory := json.RawMessage(`{"backend":"memory"}`)
	enc := func(k string, prev ...string) *Encrypt { return &Encrypt{Key: k, PreviousKeys: prev} }
	tests := []struct {
		name      string
		handler   Handler
		wantErr   string
		hideInErr string
	}{
		{name: "base64 from env", handler: Handler{StoreRaw: memory, Encrypt: enc("{env.CADDY_SESSION_TEST_ENC}")}},
		{name: "hex from env, previous from a file", handler: Handler{StoreRaw: memory, Encrypt: enc("{env.CADDY_SESSION_TEST_ENC_HEX}", "{file."+keyFile+"}")}},
		{name: "file store", handler: Handler{StoreRaw: json.RawMessage(`{"backend":"file","dir":` + jsonString(filepath.Join(t.TempDir(), "s")) + `}`), Encrypt: enc("{env.CADDY_SESSION_TEST_ENC}")}},
		{
			name:      "not 32 bytes",
			handler:   Handler{StoreRaw: memory, Encrypt: enc("{env.CADDY_SESSION_TEST_ENC_SHORT}")},
			wantErr:   "encrypt: key: want 32 bytes as 64 hex digits or in base64 (openssl rand -base64 32), got 30 characters",
			hideInErr: "SHOWN",
		},
		{
			name:      "previous key not 32 bytes",
			handler:   Handler{StoreRaw: memory, Encrypt: enc("{env.CADDY_SESSION_TEST_ENC}", "{env.CADDY_SESSION_TEST_ENC_SHORT}")},
			wantErr:   "encrypt: previous_keys[0]:",
			hideInErr: "SHOWN",
		},
		{
			name:      "the signing secret",
			handler:   Handler{StoreRaw: memory, Secret: "{env.CADDY_SESSION_TEST_ENC}", Encrypt: enc("{env.CADDY_SESSION_TEST_ENC}")},
			wantErr:   "encrypt: key: is the signing secret",
			hideInErr: base64.StdEncoding.EncodeToString(key),
		},
		{
			name:      "a former secret",
			handler:   Handler{StoreRaw: memory, SecretFallbacks: []string{"{env.CADDY_SESSION_TEST_ENC}"}, Encrypt: enc("{env.CADDY_SESSION_TEST_ENC}")},
			wantErr:   "encrypt: key: is secret_fallbacks[0]",
			hideInErr: base64.StdEncoding.EncodeToString(key),
		},
		{
			name:    "codec django",
			handler: Handler{StoreRaw: json.RawMessage(`{"backend":"redis","addresses":["127.0.0.1:1"]}`), Codec: "django", Encrypt: enc("{env.CADDY_SESSION_TEST_ENC}")},
			wantErr: "encrypt: codec django keeps sessions in Django's signed format so that Django reads them",
		},
		{
			name:    "Django's cache engine",
			handler: Handler{StoreRaw: json.RawMessage(`{"backend":"cache","addresses":["127.0.0.1:1"]}`), Encrypt: enc("{env.CADDY_SESSION_TEST_ENC}")},
			wantErr: "encrypt: store cache (Django's cache engine) is Django's own layout, which Django reads",
		},
		{
			name:    "signed cookies",
			handler: Handler{StoreRaw: json.RawMessage(`{"backend":"signed_cookies"}`), DjangoSecretKey: "django-0123456789abcdef0123456789abcdef", Encrypt: enc("{env.CADDY_SESSION_TEST_ENC}")},
			wantErr: "encrypt: signed_cookies keeps the session in the cookie",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h.Secret == "" {
				h.Secret = goodSecret
			}
			checkProvision(t, h.Provision(provisionCtx(t)), tt.wantErr, tt.hideInErr)
		})
	}
}

// TestEncryptLiveSite: a site turns encrypt on with accept_plaintext and
// its users stay logged in; their sessions are sealed on their next write;
// once the setting is off, a session still in plaintext is no session, as
// a tampered one, and never an error.
func TestEncryptLiveSite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sessions")
	store := json.RawMessage(`{"backend":"file","dir":` + jsonString(dir) + `}`)
	t.Setenv("CADDY_SESSION_TEST_ENC", base64.StdEncoding.EncodeToString(encKey(t)))
	before := newHandler(t, &Handler{StoreRaw: store})
	ada := login(t, before, `{"user":"ada@example.org"}`)
	bob := login(t, before, `{"user":"bob@example.org"}`)

	migrating := newHandler(t, &Handler{StoreRaw: store, Encrypt: &Encrypt{Key: "{env.CADDY_SESSION_TEST_ENC}", AcceptPlaintext: true}})
	if got := readClaims(t, migrating, ada)["data"].(map[string]any)["user"]; got != "ada@example.org" {
		t.Fatalf("after encrypt with accept_plaintext, ada's session holds user %v", got)
	}
	// Ada's next write seals her session.
	r := newRequest("GET", "/")
	r.AddCookie(ada)
	if _, err := serve(t, migrating, r, nil, &upstream{header: map[string][]string{"X-Session-Set": {`{"cart":3}`}}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ada.Value))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "ada@example.org") {
		t.Fatalf("ada's session file holds her address after a write under encrypt: %s", b)
	}

	after := newHandler(t, &Handler{StoreRaw: store, Encrypt: &Encrypt{Key: "{env.CADDY_SESSION_TEST_ENC}"}})
	if got := readClaims(t, after, ada)["data"].(map[string]any); got["user"] != "ada@example.org" || got["cart"] != float64(3) {
		t.Fatalf("after the migration, ada's sealed session reads %v", got)
	}
	// Bob's session was never written again: without the setting it is
	// refused, and he gets a new, empty session rather than an error.
	if got := readClaims(t, after, bob)["data"]; got != nil && got.(map[string]any)["user"] != nil {
		t.Fatalf("a plaintext session was read without accept_plaintext: user %v", got)
	}
}
