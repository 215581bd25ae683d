package headers

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Token algorithms a Signer can use.
const (
	// AlgHS256 is HMAC-SHA256 keyed with the secret: every app that
	// verifies the token holds a key that could also mint one.
	AlgHS256 = "HS256"
	// AlgEdDSA is Ed25519 (RFC 8037): apps verify with the public key and
	// cannot mint a token.
	AlgEdDSA = "EdDSA"
)

// ParseSigningKey reads an Ed25519 private key from a PEM "PRIVATE KEY"
// block in PKCS#8 form (what `openssl genpkey -algorithm ed25519` writes).
// Errors never quote the key.
func ParseSigningKey(text string) (ed25519.PrivateKey, error) {
	block, err := onePEM(text)
	if err != nil {
		return nil, err
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("want a PKCS#8 PEM block \"PRIVATE KEY\" (openssl genpkey -algorithm ed25519), got %q", block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a valid PKCS#8 private key")
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("want an Ed25519 key, got %s", keyKind(key))
	}
	return ed, nil
}

// ParsePublicKey reads an Ed25519 public key from a PEM "PUBLIC KEY" block
// (SubjectPublicKeyInfo), or takes the public half of a PKCS#8 "PRIVATE
// KEY" block: what a former signing key is, for rotation.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	block, err := onePEM(text)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PRIVATE KEY":
		priv, err := ParseSigningKey(text)
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	case "PUBLIC KEY":
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PEM public key")
		}
		ed, ok := key.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("want an Ed25519 key, got %s", keyKind(key))
		}
		return ed, nil
	}
	return nil, fmt.Errorf("want a PEM block \"PUBLIC KEY\" or \"PRIVATE KEY\" (PKCS#8), got %q", block.Type)
}

// onePEM decodes the one PEM block in text; surrounding blank space is
// allowed, anything else is not.
func onePEM(text string) (*pem.Block, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("not a PEM key (want -----BEGIN PRIVATE KEY----- ...; a key in an environment variable must keep its line breaks)")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, errors.New("want exactly one PEM block")
	}
	return block, nil
}

func keyKind(key any) string {
	switch key.(type) {
	case ed25519.PrivateKey, ed25519.PublicKey:
		return "Ed25519"
	}
	s := fmt.Sprintf("%T", key) // *rsa.PrivateKey, *ecdsa.PublicKey, ...
	return strings.TrimPrefix(s, "*")
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key:
// base64url (no padding) of the SHA-256 of its JWK's required members in
// lexicographic order, {"crv":"Ed25519","kty":"OKP","x":"..."} (RFC 8037
// section 2). The token header carries it as `kid`.
func Thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// JWK is one public key of a JSON Web Key Set (RFC 7517, RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// PublicJWK is pub as a JWK whose kid is its thumbprint.
func PublicJWK(pub ed25519.PublicKey) JWK {
	return JWK{
		Kty: "OKP",
		Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(pub),
		Kid: Thumbprint(pub),
		Alg: AlgEdDSA,
		Use: "sig",
	}
}

// JWKS is the JSON Web Key Set of keys, in order, each key once.
func JWKS(keys ...ed25519.PublicKey) []byte {
	set := struct {
		Keys []JWK `json:"keys"`
	}{Keys: []JWK{}}
	seen := map[string]bool{}
	for _, k := range keys {
		j := PublicJWK(k)
		if seen[j.Kid] {
			continue
		}
		seen[j.Kid] = true
		set.Keys = append(set.Keys, j)
	}
	out, _ := json.Marshal(set) // strings only: cannot fail
	return out
}
