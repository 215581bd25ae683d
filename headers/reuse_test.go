package headers

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

const reuseKey = "abcdefghijklmnopqrstuvwxyz012345"

func sessionClaims(data string, expires time.Time) Claims {
	var d session.Data
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		panic(err)
	}
	return Claims{Data: d, HasSession: true, ExpiresAt: expires}
}

func mustToken(t *testing.T, s *Signer, key string, c Claims, now time.Time) (string, string) {
	t.Helper()
	tok, sid, err := s.Token(key, c, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok, sid
}

// Two requests of an unchanged session inside ttl/10 get the same token;
// any change of a claim, or age past ttl/10, gets a new one whose claims
// are those asked for.
func TestTokenReuse(t *testing.T) {
	s := mustSigner(t, testSecret, time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	exp := t0.Add(time.Hour)
	c := sessionClaims(`{"user":"bob","n":1}`, exp)
	tok, sid := mustToken(t, s, reuseKey, c, t0)
	if sid != s.SID(reuseKey) {
		t.Fatalf("sid %q, want %q", sid, s.SID(reuseKey))
	}
	again, sid2 := mustToken(t, s, reuseKey, c, t0.Add(5999*time.Millisecond))
	if again != tok || sid2 != sid {
		t.Fatalf("unchanged session within ttl/10: a new token (or sid)")
	}

	changed := func(name string, c Claims, now time.Time, check func(jwtClaims map[string]any)) {
		t.Helper()
		got, _ := mustToken(t, s, reuseKey, c, now)
		if got == tok {
			t.Errorf("%s: the old token was reused", name)
			return
		}
		claims := verify(t, got, testSecret, now)
		if iat := claims["iat"].(json.Number).String(); iat != fmt.Sprint(now.Unix()) {
			t.Errorf("%s: iat %s, want %d", name, iat, now.Unix())
		}
		check(claims)
		// and the new token is the one reused from now on
		if next, _ := mustToken(t, s, reuseKey, c, now); next != got {
			t.Errorf("%s: the new token is not reused", name)
		}
		// put the original back in its slot for the next case
		tok, _ = mustToken(t, s, reuseKey, sessionClaims(`{"user":"bob","n":1}`, exp), t0)
	}
	data := func(want string) func(map[string]any) {
		return func(c map[string]any) {
			b, _ := json.Marshal(c["data"])
			if string(b) != want {
				t.Errorf("data %s, want %s", b, want)
			}
		}
	}
	changed("set", sessionClaims(`{"user":"bob","n":2}`, exp), t0.Add(time.Second), data(`{"n":2,"user":"bob"}`))
	changed("delete", sessionClaims(`{"user":"bob"}`, exp), t0.Add(time.Second), data(`{"user":"bob"}`))
	changed("expiry", sessionClaims(`{"user":"bob","n":1}`, exp.Add(time.Second)), t0.Add(time.Second), func(c map[string]any) {
		if got := c["expires_at"].(json.Number).String(); got != fmt.Sprint(exp.Unix()+1) {
			t.Errorf("expires_at %s", got)
		}
	})
	bc := sessionClaims(`{"user":"bob","n":1}`, exp)
	bc.BrowserClose = true
	changed("browser_close", bc, t0.Add(time.Second), func(c map[string]any) {
		if c["browser_close"] != true {
			t.Errorf("browser_close %v", c["browser_close"])
		}
	})
	idle := sessionClaims(`{"user":"bob","n":1}`, exp)
	idle.IdleExpiresAt = t0.Add(30 * time.Minute)
	changed("idle deadline", idle, t0.Add(time.Second), func(c map[string]any) {
		if c["idle_expires_at"] == nil {
			t.Errorf("no idle_expires_at")
		}
	})
	changed("stale", sessionClaims(`{"user":"bob","n":1}`, exp), t0.Add(6*time.Second), func(map[string]any) {})
	changed("clock back", sessionClaims(`{"user":"bob","n":1}`, exp), t0.Add(-time.Second), func(map[string]any) {})

	// Another key (cycle_key): its own sid, never the old token.
	other := "zyxwvutsrqponmlkjihgfedcba543210"
	got, osid := mustToken(t, s, other, sessionClaims(`{"user":"bob","n":1}`, exp), t0)
	if got == tok || osid != s.SID(other) || verify(t, got, testSecret, t0)["sid"] != s.SID(other) {
		t.Errorf("cycled key: token reused or wrong sid")
	}
	// No session (logout, revoke): a new session's token.
	got, _ = mustToken(t, s, "", Claims{New: true}, t0)
	if c := verify(t, got, testSecret, t0); c["new"] != true || c["sid"] != nil {
		t.Errorf("no session: claims %v", c)
	}
}

// Every request without a session signs the same claims: one token serves
// them while it is fresh, and a store_error token is another.
func TestTokenReuseNewSession(t *testing.T) {
	s := mustSigner(t, testSecret, time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	a, _ := mustToken(t, s, "", Claims{New: true}, t0)
	b, _ := mustToken(t, s, "", Claims{New: true}, t0.Add(time.Second))
	if a != b {
		t.Errorf("new session: not reused")
	}
	e, _ := mustToken(t, s, "", Claims{New: true, StoreError: true}, t0.Add(time.Second))
	if e == a || verify(t, e, testSecret, t0.Add(time.Second))["store_error"] != true {
		t.Errorf("store_error: the new session's token")
	}
}

// A reused token keeps its iat and exp: at least 90% of the ttl is left
// whenever it is handed out, and it is never valid past its own exp.
func TestTokenReuseNeverOutlivesExp(t *testing.T) {
	const ttl = 10 * time.Second
	s := mustSigner(t, testSecret, ttl)
	t0 := time.Unix(1_700_000_000, 0)
	first, _ := mustToken(t, s, "", Claims{New: true}, t0)
	for d := time.Duration(0); d <= 2*ttl; d += 100 * time.Millisecond {
		now := t0.Add(d)
		tok, _ := mustToken(t, s, "", Claims{New: true}, now)
		c := verify(t, tok, testSecret, now)
		exp, _ := c["exp"].(json.Number).Int64()
		iat, _ := c["iat"].(json.Number).Int64()
		if exp-iat != int64(ttl/time.Second) {
			t.Fatalf("exp-iat %d", exp-iat)
		}
		if left := time.Unix(exp, 0).Sub(now); left < ttl*9/10 {
			t.Fatalf("at +%s: a token with %s left", d, left)
		}
		if d >= ttl/10 && tok == first {
			t.Fatalf("at +%s: the first token again", d)
		}
	}
}

// Signers with another secret or audience keep their own tables.
func TestTokenReuseNotShared(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := sessionClaims(`{"user":"bob"}`, t0.Add(time.Hour))
	a := mustSigner(t, testSecret, time.Minute)
	b := mustSigner(t, otherSecret, time.Minute)
	aud, err := NewSignerWith(testSecret, time.Minute, SignerOptions{Audience: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	ta, _ := mustToken(t, a, reuseKey, c, t0)
	tb, _ := mustToken(t, b, reuseKey, c, t0)
	tc, _ := mustToken(t, aud, reuseKey, c, t0)
	verify(t, ta, testSecret, t0)
	verify(t, tb, otherSecret, t0)
	if cl := verify(t, tc, testSecret, t0); cl["aud"] != "shop" {
		t.Errorf("aud %v", cl["aud"])
	}
	if ta == tb || ta == tc {
		t.Errorf("a token crossed Signers")
	}
}

// The table never holds more than reuseSlots entries, and never a payload
// over maxReusedPayload.
func TestTokenReuseBounded(t *testing.T) {
	s := mustSigner(t, testSecret, time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 3 * reuseSlots {
		key := fmt.Sprintf("%032d", i)
		mustToken(t, s, key, sessionClaims(`{"i":1}`, t0.Add(time.Hour)), t0)
	}
	if n := s.reusedEntries(); n > reuseSlots || n < reuseSlots/2 {
		t.Errorf("%d entries for %d keys, bound %d", n, 3*reuseSlots, reuseSlots)
	}
	big := sessionClaims(`{"big":"`+strings.Repeat("x", maxReusedPayload)+`"}`, t0.Add(time.Hour))
	a, _ := mustToken(t, s, reuseKey, big, t0)
	b, _ := mustToken(t, s, reuseKey, big, t0)
	if a != b {
		t.Fatalf("same claims, same second: different bytes")
	}
	if e := s.reuse.slots[slotOf(s, reuseKey)].Load(); e != nil && len(e.q) > maxReusedPayload {
		t.Errorf("an entry of %d bytes was kept", len(e.q))
	}
}

func slotOf(s *Signer, key string) int {
	for i := range s.reuse.slots {
		if e := s.reuse.slots[i].Load(); e != nil && e.key == key {
			return i
		}
	}
	return 0
}

// Under -race: concurrent requests of many sessions, changing and not,
// each get a token of exactly their claims.
func TestTokenReuseConcurrent(t *testing.T) {
	s := mustSigner(t, testSecret, time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				key := fmt.Sprintf("%032d", i%7)
				n := (i / 7) % 3
				if g%2 == 0 {
					n = 0
				}
				c := sessionClaims(fmt.Sprintf(`{"n":%d}`, n), t0.Add(time.Hour))
				now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
				tok, sid, err := s.Token(key, c, now)
				if err != nil {
					t.Error(err)
					return
				}
				cl := verify(t, tok, testSecret, now)
				d := cl["data"].(map[string]any)
				if d["n"].(json.Number).String() != fmt.Sprint(n) || cl["sid"] != s.SID(key) || sid != s.SID(key) {
					t.Errorf("key %s n %d: claims %v", key, n, cl)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// EdDSA tokens are reused by the same rules and verify with the public key.
func TestTokenReuseEdDSA(t *testing.T) {
	key := newEd25519(t)
	s := mustEdSigner(t, SignerOptions{SigningKey: key})
	t0 := time.Unix(1_700_000_000, 0)
	c := sessionClaims(`{"user":"bob"}`, t0.Add(time.Hour))
	a, _ := mustToken(t, s, reuseKey, c, t0)
	b, _ := mustToken(t, s, reuseKey, c, t0.Add(2*time.Second))
	if a != b {
		t.Errorf("unchanged session: not reused")
	}
	if _, _, err := verifyEdDSA(b, key.Public().(ed25519.PublicKey), t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	c2 := sessionClaims(`{"user":"eve"}`, t0.Add(time.Hour))
	d, _ := mustToken(t, s, reuseKey, c2, t0.Add(2*time.Second))
	_, cl, err := verifyEdDSA(d, key.Public().(ed25519.PublicKey), t0.Add(2*time.Second))
	if err != nil || d == a || cl["data"].(map[string]any)["user"] != "eve" {
		t.Errorf("changed session: %v %v", cl, err)
	}
}

// BenchmarkToken: an unchanged session's token through Token, reused, as
// a handler's read gets it: the small Django session and one of about
// 4 KiB (a cart of many items), checked (the memory store) and not (Redis,
// files, SQL: Claims.Checked false).
func BenchmarkToken(b *testing.B) {
	items := make([]string, 0, 130)
	for i := range 130 {
		items = append(items, fmt.Sprintf(`{"sku":"SKU-%06d","qty":%d}`, i, i%5+1))
	}
	big := maps.Clone(benchLogin)
	big["cart"] = raw(`{"items":[` + strings.Join(items, ",") + `],"total":"1234.50"}`)
	big["recent"] = raw(`["/a","/b","/c","/d","/e","/f","/g","/h"]`)
	if n := session.Size(big); n < 3800 || n > 4400 {
		b.Fatalf("session of %d bytes; want about 4 KiB", n)
	}
	for _, bc := range []struct {
		name    string
		data    session.Data
		checked bool
		signed  bool // each request past ttl/10: a new token every time
	}{
		{"small", benchLogin, true, false},
		{"small-unchecked", benchLogin, false, false},
		{"4k", big, true, false},
		{"4k-unchecked", big, false, false},
		{"small-unchecked-signed", benchLogin, false, true},
		{"4k-unchecked-signed", big, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := mustSigner(b, testSecret, time.Minute)
			key := session.NewKey()
			now := time.Now()
			c := Claims{Data: bc.data, HasSession: true, ExpiresAt: now.Add(14 * 24 * time.Hour), Checked: bc.checked}
			first, _, err := s.Token(key, c, now)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if bc.signed {
					now = now.Add(time.Minute / reuseFraction)
				}
				tok, _, err := s.Token(key, c, now)
				if err != nil || (tok == first) == bc.signed {
					b.Fatal("reused or not as asked", err)
				}
				first = tok
			}
		})
	}
}

// countChecks counts validValue's calls until the test ends.
func countChecks(t *testing.T) *int {
	t.Helper()
	n := new(int)
	orig := validValue
	validValue = func(v []byte) bool { *n++; return orig(v) }
	t.Cleanup(func() { validValue = orig })
	return n
}

func uncheckedClaims(d session.Data, expires time.Time) Claims {
	return Claims{Data: d, HasSession: true, ExpiresAt: expires}
}

// A session from a store that does not check its values (Redis, files,
// SQL) has them checked when its token is signed, and not again while
// that token is reused for the same values.
func TestTokenReuseUncheckedSkipsCheck(t *testing.T) {
	s := mustSigner(t, testSecret, time.Minute)
	n := countChecks(t)
	t0 := time.Unix(1_700_000_000, 0)
	c := uncheckedClaims(session.Data{"user": raw(`"bob"`), "cart": raw(`[1,2,3]`), "n": raw(`1`)}, t0.Add(time.Hour))
	tok, _ := mustToken(t, s, reuseKey, c, t0)
	if *n != 3 {
		t.Fatalf("signing: %d values checked, want 3", *n)
	}
	// Another map with the same values, as the next read of the store
	// gives.
	c2 := uncheckedClaims(session.Data{"user": raw(`"bob"`), "cart": raw(`[1,2,3]`), "n": raw(`1`)}, t0.Add(time.Hour))
	again, _ := mustToken(t, s, reuseKey, c2, t0.Add(5*time.Second))
	if again != tok {
		t.Fatalf("unchanged unchecked session: not reused")
	}
	if *n != 3 {
		t.Errorf("reused: %d more values checked, want none", *n-3)
	}
	// A change is checked again.
	c2.Data["n"] = raw(`2`)
	mustToken(t, s, reuseKey, c2, t0.Add(5*time.Second))
	if *n != 6 {
		t.Errorf("changed session: %d values checked in all, want 6", *n)
	}
}

// Values that are not JSON but make the same payload bytes as a valid
// session whose token is in the table for the same key are refused: the
// reuse compares the values, not only their concatenation. So is a
// value made invalid within the reuse window.
func TestTokenReuseUncheckedRefusesInjection(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	exp := t0.Add(time.Hour)
	for _, tc := range []struct {
		name         string
		valid, forge session.Data
	}{
		{"one value for two", session.Data{"a": raw(`1`), "x": raw(`2`)}, session.Data{"a": raw(`1,"x":2`)}},
		{"as many values", session.Data{"a": raw(`{"b":1,"c":2}`), "d": raw(`1`), "e": raw(`2`)},
			session.Data{"a": raw(`{"b":1`), "c": raw(`2}`), "d": raw(`1,"e":2`)}},
		{"made invalid", session.Data{"a": raw(`"x"`), "b": raw(`1`)}, session.Data{"a": raw(`"x`), "b": raw(`1`)}},
	} {
		for _, checkedFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/checked %v", tc.name, checkedFirst), func(t *testing.T) {
				s := mustSigner(t, testSecret, time.Minute)
				if same := payloadOf(s, tc.valid, exp) == payloadOf(s, tc.forge, exp); same != (tc.name != "made invalid") {
					t.Fatalf("the forged session's payload is the same: %v", same)
				}
				c := uncheckedClaims(tc.valid, exp)
				c.Checked = checkedFirst
				tok, _ := mustToken(t, s, reuseKey, c, t0)
				got, _, err := s.Token(reuseKey, uncheckedClaims(tc.forge, exp), t0.Add(time.Second))
				if err == nil || got != "" {
					t.Fatalf("forged values: token %q, error %v; want an error and no token", got, err)
				}
				// The valid session still gets its token.
				if again, _ := mustToken(t, s, reuseKey, c, t0.Add(2*time.Second)); again != tok {
					t.Errorf("the valid session's token was lost")
				}
			})
		}
	}
}

// payloadOf is the payload, without its times, of an unchecked session.
func payloadOf(s *Signer, d session.Data, exp time.Time) string {
	sc := s.scratch.Get().(*signScratch)
	defer s.scratch.Put(sc)
	c := uncheckedClaims(d, exp)
	c.SID = s.SID(reuseKey)
	if _, err := s.claims(sc, &c, false); err != nil {
		panic(err)
	}
	return string(sc.q)
}
