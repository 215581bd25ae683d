package integration

// Public-key tokens end to end: Caddy signs with token_alg EdDSA and serves
// the JWKS at jwks_path; the reference upstreams (PyJWT, Node's jose, PHP's
// sodium) verify against it, across a key rotation done by a reload, and
// refuse a token made for another app (aud).

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/headers"
	"github.com/caddy-session/caddy-session/internal/testredis"
)

const jwksPath = "/.well-known/jwks.json"

// edKey is an Ed25519 key with its PEM forms and kid.
type edKey struct {
	priv       ed25519.PrivateKey
	privatePEM string
	publicPEM  string
	kid        string
}

func newEdKey(t *testing.T) edKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return edKey{
		priv:       priv,
		privatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		publicPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
		kid:        headers.Thumbprint(pub),
	}
}

// signEdTestToken makes a compact EdDSA JWT by hand with kid in its header.
func signEdTestToken(t *testing.T, key ed25519.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": kid})
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	return signing + "." + enc.EncodeToString(ed25519.Sign(key, []byte(signing)))
}

// startCaddyAt is startCaddy on a port chosen beforehand, so that an
// upstream started first can be told the URL of Caddy's JWKS.
func startCaddyAt(t *testing.T, port int, site string, env ...string) *Caddy {
	t.Helper()
	c := &Caddy{t: t, Port: port, AdminPort: testredis.FreePort(t), Dir: t.TempDir()}
	c.URL = "http://127.0.0.1:" + strconv.Itoa(c.Port)
	c.config = filepath.Join(c.Dir, "Caddyfile")
	c.writeSite(site)
	c.launch(env)
	return c
}

// writeSite (re)writes the Caddyfile with site as its one site's body;
// reload then applies it to the running process.
func (c *Caddy) writeSite(site string) {
	c.t.Helper()
	caddyfile := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n}\n\nhttp://127.0.0.1:%d {\n%s\n}\n",
		c.AdminPort, c.Port, site)
	if err := os.WriteFile(c.config, []byte(caddyfile), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// startTokenUpstream runs the reference upstream of lang with env (the
// verification settings) and returns the Caddyfile route to it.
func startTokenUpstream(t *testing.T, lang string, env ...string) string {
	t.Helper()
	port := testredis.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	switch lang {
	case "python":
		py := pythonWithJWT(t)
		if err := exec.Command(py, "-c", "import cryptography").Run(); err != nil {
			missingTool(t, py+" with cryptography", "apt-get install -y python3-cryptography")
		}
		cmd := exec.Command(py, filepath.Join(upstreamDir(t, "python"), "app.py"), strconv.Itoa(port))
		cmd.Env = append(os.Environ(), env...)
		startProcess(t, "python upstream", cmd, addr)
	case "node":
		dir := upstreamDir(t, "node")
		node, err := exec.LookPath("node")
		if err != nil {
			missingTool(t, "node", "apt-get install -y nodejs npm")
		}
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json")); err != nil {
			missingTool(t, "integration/upstreams/node/node_modules with jose", "npm ci --prefix integration/upstreams/node")
		}
		cmd := exec.Command(node, filepath.Join(dir, "server.js"), strconv.Itoa(port))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		startProcess(t, "node upstream", cmd, addr)
	case "php":
		return fmt.Sprintf("root * %s\nphp_fastcgi %s", upstreamDir(t, "php"), startPHPFPM(t, 4, poolEnv(env)))
	default:
		t.Fatalf("no reference upstream %q", lang)
	}
	return "reverse_proxy " + addr
}

// poolEnv is env as php-fpm pool lines.
func poolEnv(env []string) string {
	var pool strings.Builder
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		// A pool value is one line: a PEM goes with \n escapes, which
		// the PHP code turns back into line breaks.
		fmt.Fprintf(&pool, "env[%s] = \"%s\"\n", k, strings.ReplaceAll(strings.TrimSpace(v), "\n", `\n`))
	}
	return pool.String()
}

// directTo sends token straight to the app behind route, as a compromised
// app or a client that got past the proxy would, and returns the status
// and body: 200 when the app accepts the token, 401 when it refuses it.
func directTo(t *testing.T, route, token string) (int, []byte) {
	t.Helper()
	base := "http://" + strings.TrimPrefix(route, "reverse_proxy ")
	if !strings.HasPrefix(route, "reverse_proxy ") {
		// php-fpm speaks FastCGI: go through a Caddy without the session
		// handler, which passes the client's header on untouched.
		base = plainCaddy(t, route).URL
	}
	resp, body := send(t, &http.Client{Timeout: 30 * time.Second}, "GET", base+"/", "", nil, "X-Session", token)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s answered %d: %s", route, resp.StatusCode, body)
	}
	return resp.StatusCode, body
}

// directStatus is directTo's status.
func directStatus(t *testing.T, route, token string) int {
	t.Helper()
	status, _ := directTo(t, route, token)
	return status
}

var plainCaddies = map[string]*Caddy{}

// plainCaddy is one Caddy without the session handler per route and test.
func plainCaddy(t *testing.T, route string) *Caddy {
	key := t.Name() + "\x00" + route
	if c := plainCaddies[key]; c != nil {
		return c
	}
	c := startCaddy(t, "", route)
	plainCaddies[key] = c
	t.Cleanup(func() { delete(plainCaddies, key) })
	return c
}

// eddsaSite is the session block under test, with the reference upstream's
// route and a route that echoes the token Caddy made (to replay it later).
func eddsaSite(route, signingKey string, previous ...string) string {
	prev := ""
	if len(previous) > 0 {
		prev = "\n\tprevious_keys " + strings.Join(previous, " ")
	}
	return fmt.Sprintf(`session {
	secret {env.SESSION_SECRET}
	token_alg EdDSA
	signing_key %s%s
	jwks_path %s
	audience app1
	token_ttl 1h
	store memory
}
handle /echo-token {
	respond "{http.request.header.X-Session}"
}
handle {
%s
}`, signingKey, prev, jwksPath, indent(route))
}

// fetchJWKS GETs the JWKS at url. Right after a reload, Caddy may drop a
// connection without answering (see visitAfterReload): such a GET is sent
// again once, on a new connection.
func fetchJWKS(t *testing.T, url string) []headers.JWK {
	t.Helper()
	client := reloadClient(t)
	resp, err := client.Get(url)
	if droppedByReload(err) {
		t.Logf("GET %s: %v; sending it again once on a new connection", url, err)
		client.CloseIdleConnections()
		resp, err = client.Get(url)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("GET %s: %d %q: %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var set struct{ Keys []headers.JWK }
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	return set.Keys
}

func kidsOf(keys []headers.JWK) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Kid)
	}
	return out
}

// echoToken is the token Caddy hands the upstream now.
func echoToken(t *testing.T, base string) string {
	t.Helper()
	resp, body := send(t, newClient(t), "GET", base+"/echo-token", "", nil)
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), ".") != 2 {
		t.Fatalf("/echo-token: %d %q", resp.StatusCode, body)
	}
	return string(body)
}

func tokenHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestEdDSATokens: each reference upstream, holding only the URL of the
// JWKS Caddy serves (no secret), verifies Caddy's EdDSA tokens, keeps
// verifying old ones after a rotation while new ones carry the new kid,
// and refuses forgeries, HS256 tokens keyed with the secret, and tokens
// for another app.
func TestEdDSATokens(t *testing.T) {
	for _, lang := range []string{"python", "node", "php"} {
		t.Run(lang, func(t *testing.T) { testEdDSATokens(t, lang) })
	}
}

func testEdDSATokens(t *testing.T, lang string) {
	key1, key2 := newEdKey(t), newEdKey(t)
	port := testredis.FreePort(t)
	jwksURL := fmt.Sprintf("http://127.0.0.1:%d%s", port, jwksPath)
	app1 := startTokenUpstream(t, lang, "SESSION_JWKS_URL="+jwksURL, "SESSION_AUDIENCE=app1")
	app2 := startTokenUpstream(t, lang, "SESSION_JWKS_URL="+jwksURL, "SESSION_AUDIENCE=app2")
	c := startCaddyAt(t, port, eddsaSite(app1, "{env.KEY1}"),
		"KEY1="+key1.privatePEM, "KEY2="+key2.privatePEM, "KEY1_PUBLIC="+key1.publicPEM)

	// The JWKS is Caddy's own answer, not the upstream's.
	if kids := kidsOf(fetchJWKS(t, c.URL+jwksPath)); len(kids) != 1 || kids[0] != key1.kid {
		t.Fatalf("JWKS kids %q, want [%s]", kids, key1.kid)
	}
	if resp, _ := send(t, newClient(t), "POST", c.URL+jwksPath, "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", jwksPath, resp.StatusCode)
	}

	// Through Caddy: the upstream verifies the token against the JWKS.
	client := newClient(t)
	for want := 1; want <= 2; want++ {
		if _, got := home(t, client, c.URL); got.Visits != want {
			t.Fatalf("visit %d through Caddy: %+v", want, got)
		}
	}
	if p := tokenPayload(t, client, c.URL); p["aud"] != "app1" {
		t.Errorf("token payload aud %v, want app1", p["aud"])
	}
	old := echoToken(t, c.URL)
	if h := tokenHeader(t, old); h["alg"] != "EdDSA" || h["kid"] != key1.kid {
		t.Fatalf("token header %v, want alg EdDSA, kid %s", h, key1.kid)
	}

	// Straight to the upstreams: Caddy's token is for app1 only.
	if got := directStatus(t, app1, old); got != http.StatusOK {
		t.Errorf("Caddy's token for app1, sent to app1: %d, want 200", got)
	}
	if got := directStatus(t, app2, old); got != http.StatusUnauthorized {
		t.Errorf("Caddy's token for app1, sent to app2: %d, want 401", got)
	}
	now := time.Now().Unix()
	claims := func(aud any, exp int64) map[string]any {
		c := map[string]any{"data": map[string]any{"visits": 41}, "new": false, "iat": now - 10, "exp": exp}
		if aud != nil {
			c["aud"] = aud
		}
		return c
	}
	other := newEdKey(t)
	for name, tc := range map[string]struct {
		token string
		want  int
	}{
		"valid, aud app1":           {signEdTestToken(t, key1.priv, key1.kid, claims("app1", now+300)), http.StatusOK},
		"aud app2":                  {signEdTestToken(t, key1.priv, key1.kid, claims("app2", now+300)), http.StatusUnauthorized},
		"no aud":                    {signEdTestToken(t, key1.priv, key1.kid, claims(nil, now+300)), http.StatusUnauthorized},
		"expired":                   {signEdTestToken(t, key1.priv, key1.kid, claims("app1", now-120)), http.StatusUnauthorized},
		"unknown key, its own kid":  {signEdTestToken(t, other.priv, other.kid, claims("app1", now+300)), http.StatusUnauthorized},
		"unknown key, key1's kid":   {signEdTestToken(t, other.priv, key1.kid, claims("app1", now+300)), http.StatusUnauthorized},
		"HS256 with the secret":     {signTestToken(t, "HS256", testSecret, claims("app1", now+300)), http.StatusUnauthorized},
		"HS256 keyed with the PEM":  {signTestToken(t, "HS256", key1.publicPEM, claims("app1", now+300)), http.StatusUnauthorized},
		"alg none":                  {signTestToken(t, "none", "", claims("app1", now+300)), http.StatusUnauthorized},
		"EdDSA payload swap":        {swapPayload(t, old, signEdTestToken(t, other.priv, key1.kid, claims("app1", now+300))), http.StatusUnauthorized},
		"valid, aud list with app1": {signEdTestToken(t, key1.priv, key1.kid, claims([]string{"app9", "app1"}, now+300)), http.StatusOK},
	} {
		if got := directStatus(t, app1, tc.token); got != tc.want {
			t.Errorf("%s, sent to app1: %d, want %d", name, got, tc.want)
		}
	}
	// With one PEM public key instead of the JWKS.
	pinned := startTokenUpstream(t, lang, "SESSION_PUBLIC_KEY="+key1.publicPEM, "SESSION_AUDIENCE=app1")
	if got := directStatus(t, pinned, old); got != http.StatusOK {
		t.Errorf("Caddy's token, sent to an app holding the public key: %d, want 200", got)
	}
	if got := directStatus(t, pinned, signTestToken(t, "HS256", testSecret, claims("app1", now+300))); got != http.StatusUnauthorized {
		t.Errorf("HS256 token, sent to an app holding the public key: %d, want 401", got)
	}
	if got := directStatus(t, pinned, signEdTestToken(t, other.priv, key1.kid, claims("app1", now+300))); got != http.StatusUnauthorized {
		t.Errorf("another key's token, sent to an app holding the public key: %d, want 401", got)
	}
	if t.Failed() {
		return
	}

	// Rotation: key2 signs, key1 is kept as a previous key (given as its
	// public half); a reload applies it.
	c.writeSite(eddsaSite(app1, "{env.KEY2}", "{env.KEY1_PUBLIC}"))
	c.reload(t)
	// Connections kept alive to the replaced server are closed. Caddy's
	// /load returns once the old server's shutdown has been started, not
	// done: for a moment a new connection may still reach the old server,
	// which answers with the old config. So the new state is awaited.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	var kids []string
	awaitReload(t, "the JWKS to list the new key, then the old", func() bool {
		kids = kidsOf(fetchJWKS(t, c.URL+jwksPath))
		return len(kids) == 2 && kids[0] == key2.kid && kids[1] == key1.kid
	}, func() string {
		return fmt.Sprintf("JWKS kids after rotation %q, want [%s %s]", kids, key2.kid, key1.kid)
	})
	var fresh string
	awaitReload(t, "a token with the new kid", func() bool {
		fresh = echoToken(t, c.URL)
		return tokenHeader(t, fresh)["kid"] == key2.kid
	}, func() string {
		return fmt.Sprintf("token after rotation has kid %v, want the new key's %s", tokenHeader(t, fresh)["kid"], key2.kid)
	})
	// The upstream meets the new kid and fetches the set again.
	if _, got := home(t, newClient(t), c.URL); got.Visits != 1 {
		t.Errorf("first visit after rotation: %+v", got)
	}
	if got := directStatus(t, app1, fresh); got != http.StatusOK {
		t.Errorf("new-key token, sent to app1: %d, want 200", got)
	}
	if got := directStatus(t, app1, old); got != http.StatusOK {
		t.Errorf("old-key token before its exp, after rotation: %d, want 200", got)
	}
	expiredOld := signEdTestToken(t, key1.priv, key1.kid, claims("app1", now-1))
	if got := directStatus(t, app1, expiredOld); got != http.StatusUnauthorized {
		t.Errorf("old-key token past its exp: %d, want 401", got)
	}
	if got := directStatus(t, app2, fresh); got != http.StatusUnauthorized {
		t.Errorf("new-key token for app1, sent to app2: %d, want 401", got)
	}
}

// awaitReload polls cond until it holds, as requests reach the reloaded
// config; the old server stops accepting within moments of /load's answer,
// so 20 s without it means the reload did not apply, which fails the test
// with failure's message.
func awaitReload(t *testing.T, what string, cond func() bool, failure func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n := 1; !cond(); n++ {
		if time.Now().After(deadline) {
			t.Fatalf("after the reload, %d tries in 20s: %s", n, failure())
		}
		t.Logf("waiting for %s (try %d)", what, n)
		time.Sleep(50 * time.Millisecond)
	}
}

// swapPayload puts the payload of from into tok, keeping tok's header and
// signature.
func swapPayload(t *testing.T, tok, from string) string {
	t.Helper()
	a, b := strings.Split(tok, "."), strings.Split(from, ".")
	return a[0] + "." + b[1] + "." + a[2]
}

// startAdapterApp runs the example app of an adapter (php, node, flask,
// wsgi) with the adapter on and env, and returns the route to it.
func startAdapterApp(t *testing.T, name string, env ...string) string {
	t.Helper()
	port := testredis.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var cmd *exec.Cmd
	switch name {
	case "php":
		pool := "php_admin_value[auto_prepend_file] = " + filepath.Join(adaptersDir(t, "php"), "caddy-session.php") + "\n" + poolEnv(env)
		return fmt.Sprintf("root * %s\nphp_fastcgi %s", filepath.Join(adaptersDir(t, "php"), "example"), startPHPFPM(t, 4, pool))
	case "node":
		dir := adaptersDir(t, "node")
		node, err := exec.LookPath("node")
		if err != nil {
			missingTool(t, "node", "apt-get install -y nodejs npm")
		}
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json")); err != nil {
			missingTool(t, "adapters/node/node_modules with jose", "npm ci --prefix adapters/node")
		}
		cmd = exec.Command(node, filepath.Join(dir, "example", "app.js"), strconv.Itoa(port))
		cmd.Env = append(os.Environ(), "NODE_ENV=production", "CADDY_SESSION=1")
	case "flask", "wsgi":
		py := pythonWithJWT(t)
		for _, mod := range []string{"flask", "cryptography"} {
			if err := exec.Command(py, "-c", "import "+mod).Run(); err != nil {
				missingTool(t, py+" with "+mod, "apt-get install -y python3-"+mod)
			}
		}
		app := map[string]string{"flask": "app.py", "wsgi": "wsgi_app.py"}[name]
		cmd = exec.Command(py, filepath.Join(adaptersDir(t, "python"), "example", app), strconv.Itoa(port))
		cmd.Env = append(os.Environ(), "CADDY_SESSION=1")
	default:
		t.Fatalf("no adapter example %q", name)
	}
	cmd.Env = append(cmd.Env, env...)
	startProcess(t, name+" example", cmd, addr)
	return "reverse_proxy " + addr
}

// TestAdapterEdDSA: each adapter, configured with the JWKS URL and its
// audience (and given the HS256 secret too, which a JWKS URL overrides),
// keeps an unchanged app's session through Caddy's EdDSA tokens, and
// refuses HS256 tokens, other keys' tokens and other apps' tokens; with
// SESSION_PUBLIC_KEY instead, the same.
func TestAdapterEdDSA(t *testing.T) {
	for _, name := range []string{"php", "node", "flask", "wsgi"} {
		t.Run(name, func(t *testing.T) {
			checkAdapterEdDSA(t, func(env ...string) string { return startAdapterApp(t, name, env...) }, false)
		})
	}
}

// checkAdapterEdDSA runs an adapter app (start) behind Caddy with EdDSA
// tokens, by JWKS URL and by pinned PEM, and checks that it keeps its
// session and refuses every token it must; noAud adds a token without
// `aud` to those refused.
func checkAdapterEdDSA(t *testing.T, start func(env ...string) string, noAud bool) {
	t.Helper()
	key, other := newEdKey(t), newEdKey(t)
	port := testredis.FreePort(t)
	jwksURL := fmt.Sprintf("http://127.0.0.1:%d%s", port, jwksPath)
	route := start("SESSION_JWKS_URL="+jwksURL, "SESSION_AUDIENCE=app1", "SESSION_SECRET="+testSecret)
	c := startCaddyAt(t, port, eddsaSite(route, "{env.KEY}"), "KEY="+key.privatePEM)

	client := newClient(t)
	for want := 1; want <= 3; want++ {
		resp, body := send(t, client, "GET", c.URL+"/", "", nil)
		var v adapterVisit
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Visits != want {
			t.Fatalf("visit %d through Caddy: %d %s", want, resp.StatusCode, body)
		}
	}

	now := time.Now().Unix()
	claims := func(aud string, exp int64) map[string]any {
		return map[string]any{"data": map[string]any{"visits": 41}, "new": false, "iat": now - 10, "exp": exp, "aud": aud}
	}
	pinned := start("SESSION_PUBLIC_KEY="+key.publicPEM, "SESSION_AUDIENCE=app1")
	for _, app := range []string{route, pinned} {
		status, body := directTo(t, app, signEdTestToken(t, key.priv, key.kid, claims("app1", now+300)))
		var v adapterVisit
		if status != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Visits != 42 {
			t.Errorf("%s: valid EdDSA token with visits 41: %d %s, want visits 42", app, status, body)
		}
		refused := map[string]string{
			"aud app2":                 signEdTestToken(t, key.priv, key.kid, claims("app2", now+300)),
			"expired":                  signEdTestToken(t, key.priv, key.kid, claims("app1", now-120)),
			"another key, same kid":    signEdTestToken(t, other.priv, key.kid, claims("app1", now+300)),
			"another key":              signEdTestToken(t, other.priv, other.kid, claims("app1", now+300)),
			"HS256 with the secret":    signTestToken(t, "HS256", testSecret, claims("app1", now+300)),
			"HS256 keyed with the PEM": signTestToken(t, "HS256", key.publicPEM, claims("app1", now+300)),
			"alg none":                 signTestToken(t, "none", "", claims("app1", now+300)),
		}
		if noAud {
			refused["no aud"] = signEdTestToken(t, key.priv, key.kid, claims("", now+300))
		}
		for what, tok := range refused {
			if got := directStatus(t, app, tok); got != http.StatusUnauthorized {
				t.Errorf("%s: %s: %d, want 401", app, what, got)
			}
		}
	}
}

// TestTokenConfigStrict: the real binary refuses token options that
// contradict each other at `caddy adapt`, and bad keys at `caddy validate`
// (which provisions as `caddy run` does), naming the subdirective and never
// showing the key; a JSON config gets the same checks.
func TestTokenConfigStrict(t *testing.T) {
	const secret = "secret {env.SESSION_SECRET}"
	key := newEdKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	env := ctCaddyEnv(t, strictUnset+"=", "CT_KEY="+key.privatePEM, "CT_EC_KEY="+ecPEM, "CT_PUB="+key.publicPEM,
		"CT_NOT_PEM=just-some-secret-text", "CT_ESCAPED="+strings.ReplaceAll(key.privatePEM, "\n", `\n`))
	eddsa := []string{secret, "store memory", "token_alg EdDSA"}

	for _, tc := range []struct {
		cmd   string
		name  string
		lines []string
		want  string // "" for a config that must pass
	}{
		{"adapt", "EdDSA (control)", append(eddsa, "signing_key {env.CT_KEY}", "previous_keys {env.CT_PUB}", "jwks_path /.well-known/jwks.json", "audience app1"), ""},
		{"adapt", "audience with HS256 (control)", []string{secret, "store memory", "audience app1"}, ""},
		{"adapt", "EdDSA without signing_key", eddsa, "signing_key: required with token_alg EdDSA"},
		{"adapt", "signing_key with HS256", []string{secret, "store memory", "signing_key {env.CT_KEY}"}, "signing_key: only with token_alg EdDSA"},
		{"adapt", "jwks_path with HS256", []string{secret, "store memory", "jwks_path /jwks.json"}, "jwks_path: only with token_alg EdDSA"},
		{"adapt", "previous_keys with HS256", []string{secret, "store memory", "previous_keys {env.CT_PUB}"}, "previous_keys: only with token_alg EdDSA"},
		{"adapt", "unknown token_alg", []string{secret, "store memory", "token_alg RS256"}, "token_alg: must be HS256 or EdDSA"},
		{"adapt", "placeholder typo in signing_key", append(eddsa, "signing_key {envCT_KEY}"), "signing_key: unrecognized placeholder"},
		{"validate", "EdDSA (control)", append(eddsa, "signing_key {env.CT_KEY}", "previous_keys {env.CT_PUB} {env.CT_KEY}", "jwks_path /.well-known/jwks.json"), ""},
		{"validate", "unset signing_key", append(eddsa, "signing_key {env."+strictUnset+"}"), "signing_key: evaluated placeholder {env." + strictUnset + "} is empty"},
		{"validate", "not PEM", append(eddsa, "signing_key {env.CT_NOT_PEM}"), "signing_key: not a PEM key"},
		{"validate", "PEM with escaped line breaks", append(eddsa, "signing_key {env.CT_ESCAPED}"), "signing_key: not a PEM key"},
		{"validate", "non-Ed25519 key", append(eddsa, "signing_key {env.CT_EC_KEY}"), "signing_key: want an Ed25519 key, got ecdsa.PrivateKey"},
		{"validate", "public key as signing_key", append(eddsa, "signing_key {env.CT_PUB}"), "signing_key: want a PKCS#8 PEM block"},
		{"validate", "non-Ed25519 previous key", append(eddsa, "signing_key {env.CT_KEY}", "previous_keys {env.CT_EC_KEY}"), "previous_keys[0]: want an Ed25519 key"},
	} {
		t.Run(tc.cmd+"/"+tc.name, func(t *testing.T) {
			path := ctCaddyfile(t, tc.lines...)
			out, err := runCaddy(t, filepath.Dir(path), env, tc.cmd, "--config", path, "--adapter", "caddyfile")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("a valid config failed %s: %v\n%s", tc.cmd, err, out)
				}
				return
			}
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("caddy %s: err %v; want an error containing %q:\n%s", tc.cmd, err, tc.want, out)
			}
			if strings.Contains(out, "MC4CAQAw") || strings.Contains(out, "just-some-secret-text") {
				t.Errorf("the error shows the key:\n%s", out)
			}
		})
	}

	// JSON: the same refusals at provision.
	for name, tc := range map[string]struct{ handler, want string }{
		"EdDSA without signing_key": {`"token_alg":"EdDSA"`, "signing_key: required with token_alg EdDSA"},
		"jwks_path with HS256":      {`"jwks_path":"/jwks.json"`, "jwks_path: only with token_alg EdDSA"},
		"non-Ed25519 key":           {`"token_alg":"EdDSA","signing_key":"{env.CT_EC_KEY}"`, "signing_key: want an Ed25519 key"},
	} {
		t.Run("json/"+name, func(t *testing.T) {
			config := `{"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[{
				"handler":"session","secret":"{env.SESSION_SECRET}","store":{"backend":"memory"},` + tc.handler + `}]}]}}}}}`
			dir := t.TempDir()
			path := filepath.Join(dir, "caddy.json")
			if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runCaddy(t, dir, env, "validate", "--config", path)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("caddy validate: err %v; want an error containing %q:\n%s", err, tc.want, out)
			}
		})
	}
}
