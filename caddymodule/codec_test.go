package caddymodule

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/session/django"
)

// With codec django, the file store keeps Django's file engine layout: one
// file "<cookie name><key>" holding Django's signed encoding of the
// session, readable with Django's key and no other.
func TestCodecDjangoFileLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "django-sessions")
	djangoKey := "django-insecure-test-key-for-the-file-layout"
	h := newHandler(t, &Handler{
		Codec:           "django",
		DjangoSecretKey: djangoKey,
		StoreRaw:        json.RawMessage(`{"backend":"file","dir":` + jsonString(dir) + `}`),
	})
	cookie := login(t, h, `{"_auth_user_id":"7","cart":[1,2]}`)
	b, err := os.ReadFile(filepath.Join(dir, "sessionid"+cookie.Value))
	if err != nil {
		t.Fatalf("no Django session file: %v", err)
	}
	c := &django.Codec{Key: []byte(djangoKey), Salt: django.SessionSalt}
	data, err := c.Decode(b)
	if err != nil {
		t.Fatalf("the file does not decode with Django's key: %v", err)
	}
	if string(data["_auth_user_id"]) != `"7"` || string(data["cart"]) != `[1,2]` {
		t.Fatalf("file holds %v", data)
	}
	other := &django.Codec{Key: []byte("another key entirely, of some length"), Salt: django.SessionSalt}
	if _, err := other.Decode(b); err == nil {
		t.Fatal("the file decodes with another key")
	}

	// The session reads back through the handler.
	if readClaims(t, h, cookie)["data"].(map[string]any)["_auth_user_id"] != "7" {
		t.Fatal("the Django-encoded session did not read back")
	}
}

// A tampered Django value is no session: the upstream gets a new, empty
// one, and the security logger says why.
func TestCodecDjangoTamperedFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "django-sessions")
	h := newHandler(t, &Handler{Codec: "django", StoreRaw: json.RawMessage(`{"backend":"file","dir":` + jsonString(dir) + `}`)})
	cookie := login(t, h, `{"user":"bob"}`)
	path := filepath.Join(dir, "sessionid"+cookie.Value)
	b, _ := os.ReadFile(path)
	if b[2] == 'A' {
		b[2] = 'B'
	} else {
		b[2] = 'A'
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRequest("GET", "/")
	r.AddCookie(cookie)
	up := &upstream{}
	if _, err := serve(t, h, r, nil, up); err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, up.got); c["new"] != true {
		t.Fatalf("a tampered session was handed over: %v", c)
	}
}

func TestCodecConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       Handler
		wantErr string
	}{
		{"unknown codec", Handler{Secret: goodSecret, Codec: "pickle", StoreRaw: json.RawMessage(`{"backend":"memory"}`)}, "codec: must be json or django"},
		{"django on memory", Handler{Secret: goodSecret, Codec: "django", StoreRaw: json.RawMessage(`{"backend":"memory"}`)}, "codec django: this store keeps no Django layout"},
		{"django key placeholder unset", Handler{Secret: goodSecret, Codec: "django", DjangoSecretKey: "{env.CADDY_SESSION_TEST_UNSET_DJ}", StoreRaw: json.RawMessage(`{"backend":"file","dir":` + jsonString(filepath.Join(t.TempDir(), "s")) + `}`)}, "django_secret_key: evaluated placeholder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Provision(provisionCtx(t))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Provision = %v; want %q", err, tc.wantErr)
			}
		})
	}
}

// signed_cookies: the session is the cookie, signed as Django's engine
// signs it; it reads back, a tampered cookie is no session, a logout
// deletes the cookie, and a session too large for a cookie fails clearly.
func TestSignedCookies(t *testing.T) {
	const djangoKey = "django-insecure-signed-cookies-test-key"
	h := newHandler(t, &Handler{Codec: "django", DjangoSecretKey: djangoKey, StoreRaw: json.RawMessage(`{"backend":"signed_cookies"}`)})
	cookie := login(t, h, `{"_auth_user_id":"7"}`)
	c := django.Codec{Key: []byte(djangoKey), Salt: django.SignedCookiesSalt}
	if data, err := c.Decode([]byte(cookie.Value)); err != nil || string(data["_auth_user_id"]) != `"7"` {
		t.Fatalf("the cookie is not Django's signed session: %v, %v", data, err)
	}

	read := func(value string) map[string]any {
		r := newRequest("GET", "/")
		r.AddCookie(&http.Cookie{Name: "sessionid", Value: value})
		up := &upstream{}
		if _, err := serve(t, h, r, nil, up); err != nil {
			t.Fatal(err)
		}
		return claimsOf(t, up.got)
	}
	if got := read(cookie.Value); got["new"] != false || got["data"].(map[string]any)["_auth_user_id"] != "7" {
		t.Fatalf("claims = %v; want the cookie's session", got)
	}
	tampered := []byte(cookie.Value)
	tampered[1] ^= 1
	if got := read(string(tampered)); got["new"] != true {
		t.Fatalf("a tampered cookie gave %v; want no session", got)
	}

	// A change mints a new cookie; a logout deletes it.
	r := newRequest("GET", "/")
	r.AddCookie(cookie)
	w, err := serve(t, h, r, nil, &upstream{header: http.Header{"X-Session-Flush": {"1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Fatalf("logout cookies = %v; want the cookie deleted", w.Header().Values("Set-Cookie"))
	}

	// Incompressible data over 4096 bytes cannot be a cookie.
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(1, 2))
	var big strings.Builder
	for range 4500 {
		big.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	w, err = serve(t, h, newRequest("GET", "/"), nil, &upstream{header: http.Header{"X-Session-Set": {`{"blob":"` + big.String() + `"}`}}})
	if statusOf(err) != http.StatusInternalServerError || len(w.Header().Values("Set-Cookie")) != 0 {
		t.Fatalf("an oversized cookie session: status %d (%v), Set-Cookie %d; want 500 and none", statusOf(err), err, len(w.Header().Values("Set-Cookie")))
	}
	if !strings.Contains(err.Error(), "over the 4096 browsers keep") {
		t.Errorf("error %q does not say why", err)
	}
}
