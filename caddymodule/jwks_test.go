package caddymodule

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-session/caddy-session/headers"
)

func testEdKey(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func publicPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestCaddyfileTokenOptions(t *testing.T) {
	_, keyPEM := testEdKey(t)
	h, err := unmarshalSession("token_alg EdDSA; signing_key {env.SESSION_SIGNING_KEY}; previous_keys {env.OLD1} {file./etc/old2.pem}; previous_keys {env.OLD3}; jwks_path /.well-known/jwks.json; audience legacy-php")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h)
	want := `{"secret":"{env.S}","token_alg":"EdDSA","signing_key":"{env.SESSION_SIGNING_KEY}",` +
		`"previous_keys":["{env.OLD1}","{file./etc/old2.pem}","{env.OLD3}"],"jwks_path":"/.well-known/jwks.json","audience":"legacy-php"}`
	if !jsonEqual(t, got, []byte(want)) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// A literal key in backquotes, as the Caddyfile allows, is read at adapt time.
	var lit Handler
	if err := lit.UnmarshalCaddyfile(caddyfile.NewTestDispenser("session {\nsecret {env.S}\ntoken_alg EdDSA\nsigning_key `" + keyPEM + "`\n}")); err != nil {
		t.Fatalf("literal PEM: %v", err)
	}
	if h, err := unmarshalSession("audience django"); err != nil || h.Audience != "django" || h.TokenAlg != "" {
		t.Errorf("audience under HS256: %+v, %v", h, err)
	}

	for name, tt := range map[string]struct{ lines, errHas string }{
		"unknown alg":                {"token_alg RS256", "token_alg: must be HS256 or EdDSA"},
		"lower-case alg":             {"token_alg eddsa", "token_alg: must be HS256 or EdDSA"},
		"EdDSA without key":          {"token_alg EdDSA", "signing_key: required with token_alg EdDSA"},
		"key under HS256":            {"signing_key {env.K}", "signing_key: only with token_alg EdDSA"},
		"key under explicit HS256":   {"token_alg HS256; signing_key {env.K}", "signing_key: only with token_alg EdDSA"},
		"previous keys under HS256":  {"previous_keys {env.K}", "previous_keys: only with token_alg EdDSA"},
		"jwks_path under HS256":      {"jwks_path /jwks.json", "jwks_path: only with token_alg EdDSA"},
		"relative jwks_path":         {"token_alg EdDSA; signing_key {env.K}; jwks_path jwks.json", "jwks_path: must be a plain path"},
		"jwks_path with a query":     {"token_alg EdDSA; signing_key {env.K}; jwks_path /jwks?x=1", "jwks_path: must be a plain path"},
		"placeholder typo in key":    {"token_alg EdDSA; signing_key {envSESSION_SIGNING_KEY}", "signing_key: unrecognized placeholder"},
		"placeholder typo in old":    {"token_alg EdDSA; signing_key {env.K}; previous_keys {envOLD}", "previous_keys: unrecognized placeholder"},
		"literal key not PEM":        {"token_alg EdDSA; signing_key not-a-pem-key", "signing_key: not a PEM key"},
		"literal old key not PEM":    {"token_alg EdDSA; signing_key {env.K}; previous_keys not-a-pem-key", "previous_keys: not a PEM key"},
		"signing_key twice":          {"token_alg EdDSA; signing_key {env.K}; signing_key {env.L}", "signing_key: already specified"},
		"audience twice":             {"audience a; audience b", "audience: already specified"},
		"audience without a value":   {"audience", "wrong argument count"},
		"token_alg with two values":  {"token_alg EdDSA HS256", "wrong argument count"},
		"jwks_path without a value":  {"token_alg EdDSA; signing_key {env.K}; jwks_path", "wrong argument count"},
		"previous_keys with nothing": {"token_alg EdDSA; signing_key {env.K}; previous_keys", "wrong argument count"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := unmarshalSession(tt.lines)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %v, want one containing %q", err, tt.errHas)
			}
		})
	}
}

func TestProvisionTokenOptions(t *testing.T) {
	key, keyPEM := testEdKey(t)
	_, oldPEM := testEdKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	t.Setenv("CADDY_SESSION_TEST_SIGNING_KEY", keyPEM)
	t.Setenv("CADDY_SESSION_TEST_EC_KEY", ecPEM)
	t.Setenv("CADDY_SESSION_TEST_UNSET", "")
	os.Unsetenv("CADDY_SESSION_TEST_UNSET")
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	memory := json.RawMessage(`{"backend":"memory"}`)
	ok := func(h Handler) Handler { h.Secret, h.StoreRaw = goodSecret, memory; return h }

	for name, h := range map[string]Handler{
		"key from env":          ok(Handler{TokenAlg: "EdDSA", SigningKey: "{env.CADDY_SESSION_TEST_SIGNING_KEY}"}),
		"key from file":         ok(Handler{TokenAlg: "EdDSA", SigningKey: "{file." + file + "}"}),
		"literal key":           ok(Handler{TokenAlg: "EdDSA", SigningKey: keyPEM, JWKSPath: "/jwks.json"}),
		"old private, old pub":  ok(Handler{TokenAlg: "EdDSA", SigningKey: keyPEM, PreviousKeys: []string{oldPEM, publicPEM(t, key.Public())}}),
		"audience under HS256":  ok(Handler{Audience: "django"}),
		"explicit HS256":        ok(Handler{TokenAlg: "HS256"}),
		"audience under EdDSA":  ok(Handler{TokenAlg: "EdDSA", SigningKey: keyPEM, Audience: "legacy-php"}),
		"jwks_path, key in env": ok(Handler{TokenAlg: "EdDSA", SigningKey: "{env.CADDY_SESSION_TEST_SIGNING_KEY}", JWKSPath: "/.well-known/jwks.json"}),
	} {
		t.Run(name, func(t *testing.T) {
			if err := h.Provision(provisionCtx(t)); err != nil {
				t.Fatalf("Provision: %v", err)
			}
		})
	}

	for name, tt := range map[string]struct {
		h      Handler
		errHas string
	}{
		"EdDSA without key":      {ok(Handler{TokenAlg: "EdDSA"}), "signing_key: required with token_alg EdDSA"},
		"key with HS256":         {ok(Handler{SigningKey: keyPEM}), "signing_key: only with token_alg EdDSA"},
		"jwks_path with HS256":   {ok(Handler{JWKSPath: "/jwks.json"}), "jwks_path: only with token_alg EdDSA"},
		"unknown alg":            {ok(Handler{TokenAlg: "none", SigningKey: keyPEM}), "token_alg: must be HS256 or EdDSA"},
		"bad PEM":                {ok(Handler{TokenAlg: "EdDSA", SigningKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}), "signing_key: not a valid PKCS#8"},
		"not PEM":                {ok(Handler{TokenAlg: "EdDSA", SigningKey: "secret-ish text"}), "signing_key: not a PEM key"},
		"non-Ed25519 key":        {ok(Handler{TokenAlg: "EdDSA", SigningKey: "{env.CADDY_SESSION_TEST_EC_KEY}"}), "signing_key: want an Ed25519 key, got ecdsa.PrivateKey"},
		"public key as signing":  {ok(Handler{TokenAlg: "EdDSA", SigningKey: publicPEM(t, key.Public())}), `signing_key: want a PKCS#8 PEM block "PRIVATE KEY"`},
		"unset env key":          {ok(Handler{TokenAlg: "EdDSA", SigningKey: "{env.CADDY_SESSION_TEST_UNSET}"}), "signing_key: evaluated placeholder {env.CADDY_SESSION_TEST_UNSET} is empty"},
		"missing key file":       {ok(Handler{TokenAlg: "EdDSA", SigningKey: "{file." + file + ".gone}"}), "signing_key: evaluated placeholder {file."},
		"typo in key":            {ok(Handler{TokenAlg: "EdDSA", SigningKey: "{envKEY}"}), "signing_key: unrecognized placeholder"},
		"non-Ed25519 old key":    {ok(Handler{TokenAlg: "EdDSA", SigningKey: keyPEM, PreviousKeys: []string{keyPEM, ecPEM}}), "previous_keys[1]: want an Ed25519 key"},
		"unset env old key":      {ok(Handler{TokenAlg: "EdDSA", SigningKey: keyPEM, PreviousKeys: []string{"{env.CADDY_SESSION_TEST_UNSET}"}}), "previous_keys[0]: evaluated placeholder"},
		"previous keys in HS256": {ok(Handler{PreviousKeys: []string{oldPEM}}), "previous_keys: only with token_alg EdDSA"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tt.h.Provision(provisionCtx(t))
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("Provision error %v, want one containing %q", err, tt.errHas)
			}
			if strings.Contains(err.Error(), "MC4CAQAw") {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

// The JWKS route is answered by the handler itself, never proxied, and
// verifies the tokens the upstream gets.
func TestServeJWKS(t *testing.T) {
	key, keyPEM := testEdKey(t)
	old, oldPEM := testEdKey(t)
	h := newHandler(t, &Handler{TokenAlg: "EdDSA", SigningKey: keyPEM, PreviousKeys: []string{oldPEM},
		JWKSPath: "/.well-known/jwks.json", Audience: "app1"})

	up := &upstream{}
	w, err := serve(t, h, newRequest("GET", "/.well-known/jwks.json"), nil, up)
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("GET: %d, %v", w.Code, err)
	}
	if up.got != nil {
		t.Fatal("the JWKS request reached the upstream")
	}
	if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/jwk-set+json" || cc != "public, max-age=300" {
		t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}
	if w.Header().Get("Set-Cookie") != "" || w.Header().Get("Vary") != "" {
		t.Errorf("JWKS response headers %v: want no cookie and no Vary", w.Header())
	}
	var set struct{ Keys []headers.JWK }
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	pubs := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, _ := base64.RawURLEncoding.DecodeString(k.X)
		pubs[k.Kid] = x
	}
	if len(set.Keys) != 2 || !pubs[headers.Thumbprint(key.Public().(ed25519.PublicKey))].Equal(key.Public()) ||
		!pubs[headers.Thumbprint(old.Public().(ed25519.PublicKey))].Equal(old.Public()) {
		t.Fatalf("JWKS %s: want the current and the previous public key under their thumbprints", w.Body)
	}
	if strings.Contains(w.Body.String(), `"d"`) {
		t.Fatalf("JWKS %s holds a private part", w.Body)
	}

	// The upstream's token verifies against it, by kid, with aud app1.
	readClaims(t, h, nil) // an ordinary request still proxies
	r := newRequest("GET", "/")
	up = &upstream{}
	if _, err := serve(t, h, r, nil, up); err != nil {
		t.Fatal(err)
	}
	tok := up.got.Header.Get("X-Session")
	_, err = jwt.Parse(tok, func(tk *jwt.Token) (any, error) { return pubs[tk.Header["kid"].(string)], nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience("app1"), jwt.WithTimeFunc(time.Now))
	if err != nil {
		t.Fatalf("token against the served JWKS: %v", err)
	}

	// HEAD: the headers, no body; conditional GET: 304.
	w, err = serve(t, h, newRequest("HEAD", "/.well-known/jwks.json"), nil, &upstream{})
	if err != nil || w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "application/jwk-set+json" {
		t.Errorf("HEAD: %d, %d bytes, %v, %v", w.Code, w.Body.Len(), w.Header(), err)
	}
	etag := w.Header().Get("ETag")
	cond := newRequest("GET", "/.well-known/jwks.json")
	cond.Header.Set("If-None-Match", etag)
	if w, err = serve(t, h, cond, nil, &upstream{}); err != nil || w.Code != http.StatusNotModified || etag == "" {
		t.Errorf("GET If-None-Match %q: %d, %v; want 304", etag, w.Code, err)
	}

	// Other methods: 405 with Allow, and still not proxied.
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		up := &upstream{}
		w, err := serve(t, h, newRequest(m, "/.well-known/jwks.json"), nil, up)
		if statusOf(err) != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" || up.got != nil {
			t.Errorf("%s: error %v, Allow %q, proxied %v; want 405, GET, HEAD, not proxied", m, err, w.Header().Get("Allow"), up.got != nil)
		}
	}
	// Only the exact path.
	up = &upstream{}
	if _, err := serve(t, h, newRequest("GET", "/.well-known/jwks.json/x"), nil, up); err != nil || up.got == nil {
		t.Errorf("another path was not proxied: %v", err)
	}
}

func TestNoJWKSWithoutPath(t *testing.T) {
	_, keyPEM := testEdKey(t)
	h := newHandler(t, &Handler{TokenAlg: "EdDSA", SigningKey: keyPEM})
	up := &upstream{}
	if _, err := serve(t, h, newRequest("GET", "/.well-known/jwks.json"), nil, up); err != nil || up.got == nil {
		t.Errorf("without jwks_path the request must reach the upstream: %v", err)
	}
	// HS256 stays the default, unchanged.
	hs := newHandler(t, &Handler{})
	up = &upstream{}
	if _, err := serve(t, hs, newRequest("GET", "/"), nil, up); err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(up.got.Header.Get("X-Session"), func(*jwt.Token) (any, error) { return []byte(goodSecret), nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Errorf("default token: %v", err)
	}
}
