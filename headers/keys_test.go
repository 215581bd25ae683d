package headers

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RFC 8037 Appendix A.1 (the key) and A.3 (its RFC 7638 thumbprint).
const (
	rfc8037D          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037X          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
)

func rfc8037Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(rfc8037D)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func pemOf(t testing.TB, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pkcs8PEM(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PRIVATE KEY", der)
}

func spkiPEM(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PUBLIC KEY", der)
}

func newEd25519(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestThumbprintRFC8037(t *testing.T) {
	key := rfc8037Key(t)
	pub := key.Public().(ed25519.PublicKey)
	if x := base64.RawURLEncoding.EncodeToString(pub); x != rfc8037X {
		t.Fatalf("public key of RFC 8037 A.1's d = %s, want %s", x, rfc8037X)
	}
	if got := Thumbprint(pub); got != rfc8037Thumbprint {
		t.Errorf("Thumbprint = %s, want RFC 8037 A.3's %s", got, rfc8037Thumbprint)
	}
	jwk := PublicJWK(pub)
	if jwk.Kid != rfc8037Thumbprint || jwk.Kty != "OKP" || jwk.Crv != "Ed25519" || jwk.X != rfc8037X || jwk.Alg != "EdDSA" || jwk.Use != "sig" {
		t.Errorf("PublicJWK = %+v", jwk)
	}
}

func TestParseSigningKey(t *testing.T) {
	ed := rfc8037Key(t)
	got, err := ParseSigningKey("\n  " + pkcs8PEM(t, ed) + "\n\n")
	if err != nil {
		t.Fatalf("ParseSigningKey: %v", err)
	}
	if !got.Equal(ed) {
		t.Error("ParseSigningKey gave another key")
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := pkcs8PEM(t, ed)
	bad := map[string]struct{ text, errHas string }{
		"empty":           {"", "not a PEM key"},
		"not PEM":         {"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A", "not a PEM key"},
		"escaped newline": {strings.ReplaceAll(good, "\n", `\n`), "not a PEM key"},
		"public key":      {spkiPEM(t, ed.Public()), `got "PUBLIC KEY"`},
		"RSA":             {pkcs8PEM(t, rsaKey), "want an Ed25519 key, got rsa.PrivateKey"},
		"ECDSA":           {pkcs8PEM(t, ec), "want an Ed25519 key, got ecdsa.PrivateKey"},
		"PKCS#1 RSA":      {pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), `got "RSA PRIVATE KEY"`},
		"garbage DER":     {pemOf(t, "PRIVATE KEY", []byte("not DER at all")), "not a valid PKCS#8"},
		"two blocks":      {good + good, "exactly one PEM block"},
	}
	for name, tt := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSigningKey(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %v, want one containing %q", err, tt.errHas)
			}
			if strings.Contains(err.Error(), "MC4CAQAw") || strings.Contains(err.Error(), rfc8037D) {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}

	// A former key may be given whole or as its public half.
	for name, text := range map[string]string{"private": good, "public": spkiPEM(t, ed.Public())} {
		pub, err := ParsePublicKey(text)
		if err != nil || !pub.Equal(ed.Public()) {
			t.Errorf("ParsePublicKey(%s) = %v, %v; want the key's public half", name, pub, err)
		}
	}
	if _, err := ParsePublicKey(spkiPEM(t, ec.Public())); err == nil || !strings.Contains(err.Error(), "want an Ed25519 key") {
		t.Errorf("ParsePublicKey(ECDSA) error %v, want a refusal naming Ed25519", err)
	}
}

func mustEdSigner(t testing.TB, o SignerOptions) *Signer {
	t.Helper()
	s, err := NewSignerWith(testSecret, time.Minute, o)
	if err != nil {
		t.Fatalf("NewSignerWith: %v", err)
	}
	return s
}

// verifyEdDSA checks tok as an upstream holding only pub would.
func verifyEdDSA(tok string, pub ed25519.PublicKey, now time.Time, opts ...jwt.ParserOption) (*jwt.Token, jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	opts = append([]jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithIssuedAt(), jwt.WithJSONNumber()}, opts...)
	token, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil }, opts...)
	return token, claims, err
}

func TestSignEdDSA(t *testing.T) {
	key := newEd25519(t)
	pub := key.Public().(ed25519.PublicKey)
	s := mustEdSigner(t, SignerOptions{SigningKey: key})
	if s.Alg() != AlgEdDSA || s.KeyID() != Thumbprint(pub) {
		t.Errorf("Alg, KeyID = %q, %q", s.Alg(), s.KeyID())
	}
	now := time.Unix(1_700_000_000, 0)
	tok, err := s.Sign(Claims{
		Data:       map[string]json.RawMessage{"n": json.RawMessage("9007199254740993")},
		HasSession: true, SID: s.SID("k"), ExpiresAt: now.Add(time.Hour),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	token, claims, err := verifyEdDSA(tok, pub, now)
	if err != nil {
		t.Fatalf("golang-jwt refuses the EdDSA token: %v", err)
	}
	if token.Header["kid"] != Thumbprint(pub) || token.Header["alg"] != "EdDSA" || token.Header["typ"] != "JWT" {
		t.Errorf("header %v, want alg EdDSA, typ JWT, kid %s", token.Header, Thumbprint(pub))
	}
	if claims["sid"] != s.SID("k") || claims["data"].(map[string]any)["n"].(json.Number) != "9007199254740993" {
		t.Errorf("claims %v", claims)
	}
	if _, ok := claims["aud"]; ok {
		t.Errorf("aud %v without an audience", claims["aud"])
	}

	// Another key, or the secret under HS256, does not verify it.
	if _, _, err := verifyEdDSA(tok, newEd25519(t).Public().(ed25519.PublicKey), now); err == nil {
		t.Error("an EdDSA token verified with another public key")
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return testSecret, nil }, jwt.WithValidMethods([]string{"HS256"})); err == nil {
		t.Error("an EdDSA token verified as HS256 with the secret")
	}
	// Expired after the ttl.
	if _, _, err := verifyEdDSA(tok, pub, now.Add(time.Minute+time.Second)); err == nil {
		t.Error("an EdDSA token verified after its exp")
	}

	// The sid is the secret's, whatever the algorithm: the same session
	// keeps its sid across a switch to EdDSA and across key rotations.
	if hs := mustSigner(t, testSecret, time.Minute); hs.SID("k") != s.SID("k") {
		t.Errorf("sid under EdDSA %s, under HS256 %s: want the same", s.SID("k"), hs.SID("k"))
	}
	if other := mustEdSigner(t, SignerOptions{SigningKey: newEd25519(t)}); other.SID("k") != s.SID("k") {
		t.Error("the sid changed with the signing key")
	}
}

func TestSignEdDSAJWKSVerifies(t *testing.T) {
	old, cur := newEd25519(t), newEd25519(t)
	now := time.Now()
	oldTok, err := mustEdSigner(t, SignerOptions{SigningKey: old}).Sign(Claims{}, now)
	if err != nil {
		t.Fatal(err)
	}
	s := mustEdSigner(t, SignerOptions{SigningKey: cur, PreviousKeys: []ed25519.PublicKey{
		old.Public().(ed25519.PublicKey), cur.Public().(ed25519.PublicKey)}})
	newTok, err := s.Sign(Claims{}, now)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatalf("JWKS %s: %v", s.JWKS(), err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != s.KeyID() || set.Keys[1].Kid != Thumbprint(old.Public().(ed25519.PublicKey)) {
		t.Fatalf("JWKS %s: want the current key, then the old one, each once", s.JWKS())
	}
	// An upstream picks the key by the token's kid, from the set alone.
	byKid := func(tok *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tok.Header["kid"] {
				return ed25519.PublicKey(mustB64(t, k.X)), nil
			}
		}
		return nil, jwt.ErrTokenUnverifiable
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := jwt.Parse(tok, byKid, jwt.WithValidMethods([]string{"EdDSA"})); err != nil {
			t.Errorf("%s token against the JWKS: %v", name, err)
		}
	}
	if mustSigner(t, testSecret, time.Minute).JWKS() != nil {
		t.Error("an HS256 signer publishes a JWKS")
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignAudience(t *testing.T) {
	now := time.Now()
	key := newEd25519(t)
	for _, s := range []*Signer{
		mustEdSigner(t, SignerOptions{SigningKey: key, Audience: "legacy-php"}),
		mustEdSigner(t, SignerOptions{Audience: "legacy-php"}), // HS256
	} {
		tok, err := s.Sign(Claims{New: true}, now)
		if err != nil {
			t.Fatal(err)
		}
		if p := payload(t, tok); !strings.Contains(p, `"aud":"legacy-php"`) {
			t.Errorf("%s payload %s, want aud legacy-php", s.Alg(), p)
		}
		parse := func(aud string) error {
			_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) {
				if s.Alg() == AlgEdDSA {
					return key.Public(), nil
				}
				return testSecret, nil
			}, jwt.WithValidMethods([]string{s.Alg()}), jwt.WithAudience(aud))
			return err
		}
		if err := parse("legacy-php"); err != nil {
			t.Errorf("%s: refused for its own audience: %v", s.Alg(), err)
		}
		if err := parse("django"); err == nil {
			t.Errorf("%s: a token for legacy-php accepted by the audience django", s.Alg())
		}
	}
	// An audience is a JSON string, escaped as one.
	s := mustEdSigner(t, SignerOptions{Audience: "a\"b\\c"})
	tok, _ := s.Sign(Claims{}, now)
	var c map[string]any
	if err := json.Unmarshal([]byte(payload(t, tok)), &c); err != nil || c["aud"] != "a\"b\\c" {
		t.Errorf("payload %s (%v), want aud a\"b\\c", payload(t, tok), err)
	}
}

func TestNewSignerWithRefuses(t *testing.T) {
	key := newEd25519(t)
	for name, o := range map[string]SignerOptions{
		"previous keys under HS256": {PreviousKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}},
		"short signing key":         {SigningKey: key[:32]},
		"short previous key":        {SigningKey: key, PreviousKeys: []ed25519.PublicKey{make([]byte, 31)}},
	} {
		if _, err := NewSignerWith(testSecret, time.Minute, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewSignerWith(testSecret[:31], time.Minute, SignerOptions{SigningKey: key}); err == nil {
		t.Error("EdDSA with a short secret (it keys the sid): accepted")
	}
}

// BenchmarkSignEdDSA is BenchmarkSign's token signed with Ed25519.
func BenchmarkSignEdDSA(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s, err := NewSignerWith(testSecret, time.Minute, SignerOptions{SigningKey: key, Audience: "legacy-php"})
	if err != nil {
		b.Fatal(err)
	}
	benchSign(b, s, benchLogin)
}
