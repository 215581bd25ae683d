package caddymodule

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

// unknownKey is a key a handler with the default test secret could have
// issued, naming no stored session: what the store is asked about.
func unknownKey() string { return session.NewRealm([]byte(goodSecret)).New() }

// Stores in this project's format tag keys with the secret; the stores
// Django reads keep Django's untagged keys.
func TestRealmByStore(t *testing.T) {
	for _, tc := range []struct {
		backend, codec string
		tagged         bool
	}{
		{"memory", "", true},
		{"file", "", true},
		{"redis", "", true},
		{"redis", "json", true},
		{"db", "json", true},
		{"file", "django", false},
		{"redis", "django", false},
		{"db", "", false},
		{"cached_db", "", false},
		{"cache", "", false},
		{"signed_cookies", "django", false},
	} {
		h := &Handler{Codec: tc.codec}
		if got := h.realm(tc.backend, goodSecret, nil) != nil; got != tc.tagged {
			t.Errorf("store %s, codec %q: tagged keys %v, want %v", tc.backend, tc.codec, got, tc.tagged)
		}
	}
}

// Two handlers with different secrets on one memory store: a key one
// issued is no session at the other, which does not ask the store; the
// same secret shares the session.
func TestHandlersWithDifferentSecretsOnOneStore(t *testing.T) {
	mk := func(secret string) *Handler {
		h := newHandler(t, &Handler{Secret: secret, StoreRaw: json.RawMessage(`{"backend":"memory"}`), CookieName: "realm"})
		t.Cleanup(func() { _ = h.Cleanup() })
		return h
	}
	a, b, alsoA := mk(goodSecret), mk(strings.Repeat("b", 40)), mk(goodSecret)
	cookie := loginAs(t, a, "realm", `{"_auth_user_id":"1"}`)
	for _, tc := range []struct {
		name string
		h    *Handler
		new  bool
	}{
		{"another secret", b, true},
		{"the same secret", alsoA, false},
	} {
		up := &upstream{}
		r := newRequest("GET", "/")
		r.AddCookie(&http.Cookie{Name: "realm", Value: cookie.Value})
		if _, err := serve(t, tc.h, r, nil, up); err != nil {
			t.Fatal(err)
		}
		if got := claimsOf(t, up.got)["new"]; got != tc.new {
			t.Errorf("%s: new = %v, want %v", tc.name, got, tc.new)
		}
	}
}
