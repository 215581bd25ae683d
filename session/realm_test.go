package session_test

import (
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
)

var (
	secretA = []byte(strings.Repeat("a", 40))
	secretB = []byte(strings.Repeat("b", 40))
)

// Two managers with different secrets on one store: neither loads the
// other's sessions; the same secret shares them; a rotated secret keeps
// its sessions through the fallback.
func TestRealmSeparatesSecretsOnOneStore(t *testing.T) {
	store := memstore.New()
	manager := func(keys session.Keys) *session.Manager {
		return &session.Manager{Store: store, Config: session.Config{Age: age, Keys: keys}}
	}
	a, b := manager(session.NewRealm(secretA)), manager(session.NewRealm(secretB))
	alsoA := manager(session.NewRealm(secretA))
	rotated := manager(session.NewRealm(secretB, secretA)) // A's secret, rotated to B's
	untagged := manager(nil)                               // no realm: any well-formed key

	key := seed(t, a, data("_auth_user_id", `"1"`))
	if !session.ValidKey(key) {
		t.Fatalf("realm key %q is not a session key", key)
	}
	for _, tc := range []struct {
		name string
		m    *session.Manager
		want bool
	}{
		{"the same manager", a, true},
		{"another secret", b, false},
		{"the same secret", alsoA, true},
		{"the old secret as a fallback", rotated, true},
		{"no realm", untagged, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := load(t, tc.m, key)
			if got := !s.IsNew(); got != tc.want {
				t.Errorf("loaded: %v, want %v", got, tc.want)
			}
		})
	}
	// New keys are tagged with the current secret only.
	fresh := seed(t, rotated, data("x", "1"))
	if load(t, b, fresh).IsNew() || !load(t, a, fresh).IsNew() {
		t.Error("a key made after the rotation is not the new secret's alone")
	}
	// A key without the realm's tag (made by NewKey: another secret's, or
	// from before realms) loads as no session, on a store that holds it.
	plain := seed(t, untagged, data("x", "1"))
	if !load(t, a, plain).IsNew() {
		t.Error("an untagged key opened a realm's session")
	}
}

func TestRealmKeys(t *testing.T) {
	r := session.NewRealm(secretA)
	seen := map[string]bool{}
	for range 1000 {
		k := r.New()
		if !session.ValidKey(k) || !r.Valid(k) {
			t.Fatalf("realm key %q does not verify", k)
		}
		if seen[k] {
			t.Fatalf("key %q drawn twice", k)
		}
		seen[k] = true
		// Any change of a character breaks the tag or names another key.
		flipped := []byte(k)
		flipped[len(k)-1] ^= 1
		if r.Valid(string(flipped)) {
			t.Fatalf("altered key %q verifies", flipped)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 32), strings.Repeat("a", 33)} {
		if r.Valid(bad) {
			t.Errorf("%q verifies", bad)
		}
	}
}

// The realm's cost per request: one HMAC-SHA256 of 24 bytes per cookie
// checked (per secret tried), one per key made.
func BenchmarkRealmValid(b *testing.B) {
	r := session.NewRealm(secretA)
	k := r.New()
	for b.Loop() {
		if !r.Valid(k) {
			b.Fatal("invalid")
		}
	}
}

// A realm remembers the keys that verified, and only those: a tampered
// tag, another realm's key or a key in another letter case never passes,
// however often the realm's own keys were checked before; a remembered
// key is checked without an allocation.
func TestRealmRemembersOnlyVerifiedKeys(t *testing.T) {
	a, b := session.NewRealm(secretA), session.NewRealm(secretB)
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = a.New()
		for range 2 {
			if !a.Valid(keys[i]) {
				t.Fatalf("own key %q refused", keys[i])
			}
		}
	}
	for _, k := range keys {
		tampered := []byte(k)
		tampered[len(k)-1] = 'a' // change the tag
		if k[len(k)-1] == 'a' {
			tampered[len(k)-1] = 'b'
		}
		for _, bad := range []string{string(tampered), k[:31], k + "a", strings.ToUpper(k)} {
			if a.Valid(bad) {
				t.Fatalf("%q accepted after %q verified", bad, k)
			}
		}
		if b.Valid(k) {
			t.Fatalf("another realm accepted %q", k)
		}
	}
	if n := testing.AllocsPerRun(100, func() { a.Valid(keys[0]) }); n != 0 {
		t.Errorf("a remembered key: %v allocations", n)
	}
}
