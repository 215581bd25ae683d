package integration

// Encryption at rest (issue 18) through the built Caddy on Redis: a live
// site turns encrypt on with accept_plaintext and its users stay logged
// in, `caddy sessions rekey` seals what is left, a redis-cli dump then
// holds none of the sessions' data, and without the setting a plaintext
// session is no session and a security log line, never an error.

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

func TestEncryptLiveSiteRedis(t *testing.T) {
	srv := testredis.Start(t)
	fx := &ctStoreFixture{line: ctRedisLine(srv.Addr()), redis: srv}
	k := make([]byte, 32)
	rand.Read(k)
	key := hex.EncodeToString(k)

	plain := startCtEnv(t, fx)
	login := func(e *ctEnv, email string) string {
		t.Helper()
		client := newClient(t)
		e.write(t, client, "", "X-Session-Set", `{"email": "`+email+`", "n": 1}`)
		return ctJarKey(t, e, client, "", "sessionid")
	}
	ada, bob := login(plain, "ada@example.org"), login(plain, "bob@example.org")

	migrating := startCtEnv(t, fx, "encrypt "+key+" {\n\taccept_plaintext\n}")
	if got := migrating.readWithCookie(t, "/", "sessionid", ada); string(got.Data["email"]) != `"ada@example.org"` {
		t.Fatalf("with encrypt and accept_plaintext, ada's session reads %s", got.raw["data"])
	}
	// Ada's increment runs as a compare-and-set on her sealed counter.
	migrating.ok(t, ctRawClient(), ctCall{header: ctLines("Cookie", "sessionid="+ada), answer: ctLines("X-Session-Incr", `{"n": 1}`)})

	out, err := runCaddy(t, migrating.caddy.Dir, []string{"SESSION_SECRET=" + testSecret}, "sessions", "rekey", "--config", migrating.caddy.config)
	if err != nil || !strings.Contains(out, "sealed again under the current key") {
		t.Fatalf("caddy sessions rekey: %v\n%s", err, out)
	}
	if strings.Contains(out, key) {
		t.Fatalf("caddy sessions rekey printed the key:\n%s", out)
	}

	// The dump: every key's fields, as redis-cli shows them.
	_, port, _ := net.SplitHostPort(srv.Addr())
	cli := testredis.CLIBinary(t)
	keys, err := exec.Command(cli, "-p", port, "--scan").Output()
	if err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, rk := range strings.Fields(string(keys)) {
		b, _ := exec.Command(cli, "-p", port, "HGETALL", rk).Output()
		dump.WriteString(rk + "\n" + string(b))
	}
	if !strings.Contains(dump.String(), ada) || !strings.Contains(dump.String(), bob) {
		t.Fatalf("the dump misses the sessions:\n%s", dump.String())
	}
	for _, secret := range []string{"ada@example.org", "bob@example.org"} {
		if strings.Contains(dump.String(), secret) {
			t.Errorf("after rekey, the Redis dump holds %q:\n%s", secret, dump.String())
		}
	}

	strict := startCtEnv(t, fx, "encrypt "+key)
	if got := strict.readWithCookie(t, "/", "sessionid", ada); string(got.Data["email"]) != `"ada@example.org"` || string(got.Data["n"]) != "2" {
		t.Errorf("ada's sealed session reads %s; want her email and n 2", got.raw["data"])
	}
	if got := strict.readWithCookie(t, "/", "sessionid", bob); string(got.Data["email"]) != `"bob@example.org"` {
		t.Errorf("bob's rekeyed session reads %s", got.raw["data"])
	}
	// A session written in plaintext since: refused as tampered, a new
	// empty session, 200, a security line without the key.
	carol := login(plain, "carol@example.org")
	if got := strict.readWithCookie(t, "/", "sessionid", carol); got.Data["email"] != nil {
		t.Errorf("a plaintext session was read without accept_plaintext: %s", got.raw["data"])
	}
	logs := strict.caddy.Logs()
	if !strings.Contains(logs, "stored value rejected") || !strings.Contains(logs, "not encrypted") {
		t.Errorf("no security log line for the refused plaintext value:\n%s", logs)
	}
	if strings.Contains(logs, key) || strings.Contains(logs, carol) {
		t.Errorf("the logs hold the encryption key or the session key")
	}
}

// Encryption where it meets the other features: two Caddy instances (or
// sites) on one Redis with the same secret and key share a sealed login;
// one whose upstream `hide`s a key never sees it, cannot set, increment or
// delete it, and its X-Session-Clear keeps it; one with another encrypt key
// opens nothing of theirs (no session, never a 5xx); and a cycle_key moves
// the sealed session to a key under which it still opens.
func TestEncryptMeetsHideAndSites(t *testing.T) {
	srv := testredis.Start(t)
	fx := &ctStoreFixture{line: ctRedisLine(srv.Addr()), redis: srv}
	newKey := func() string {
		k := make([]byte, 32)
		rand.Read(k)
		return hex.EncodeToString(k)
	}
	key := newKey()
	site := startCtEnv(t, fx, "encrypt "+key)
	hiding := startCtEnv(t, fx, "encrypt "+key, "hide api_*")
	other := startCtEnv(t, fx, "encrypt "+newKey())

	client := newClient(t)
	site.write(t, client, "", "X-Session-Set", `{"email": "ada@example.org", "api_token": "t0k3n", "n": 1}`)
	sid := ctJarKey(t, site, client, "", "sessionid")
	cookie := ctLines("Cookie", "sessionid="+sid)

	if got := hiding.readWithCookie(t, "/", "sessionid", sid); string(got.Data["email"]) != `"ada@example.org"` || got.Data["api_token"] != nil {
		t.Fatalf("the hiding site reads %s; want the email and no api_token", got.raw["data"])
	}
	for _, update := range [][2]string{
		{"X-Session-Set", `{"api_token": "forged"}`},
		{"X-Session-Incr", `{"api_calls": 1}`},
		{"X-Session-Delete", `["api_token"]`},
	} {
		r := hiding.do(t, ctRawClient(), ctCall{header: cookie, answer: [][2]string{update}})
		ctWantStatus(t, r, http.StatusBadGateway)
	}
	hiding.ok(t, ctRawClient(), ctCall{header: cookie, answer: ctLines("X-Session-Clear", "1")})
	if got := site.readWithCookie(t, "/", "sessionid", sid); string(got.Data["api_token"]) != `"t0k3n"` || got.Data["email"] != nil {
		t.Fatalf("after the hiding site's clear, the session reads %s; want only api_token kept", got.raw["data"])
	}

	r := other.ok(t, ctRawClient(), ctCall{header: cookie})
	if got := ctToken(t, r); len(got.Data) != 0 {
		t.Fatalf("a site with another encrypt key reads %s", got.raw["data"])
	}

	r = site.ok(t, ctRawClient(), ctCall{header: cookie, answer: ctLines("X-Session-Cycle-Key", "1")})
	var moved string
	for _, c := range r.resp.Cookies() {
		if c.Name == "sessionid" {
			moved = c.Value
		}
	}
	if moved == "" || moved == sid {
		t.Fatalf("cycle_key set no new key (%q)", moved)
	}
	if got := site.readWithCookie(t, "/", "sessionid", moved); string(got.Data["api_token"]) != `"t0k3n"` {
		t.Fatalf("after cycle_key, the sealed session reads %s", got.raw["data"])
	}
}
