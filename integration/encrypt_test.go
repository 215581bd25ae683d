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
