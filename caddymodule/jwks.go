package caddymodule

// Public-key tokens: token_alg EdDSA with signing_key and previous_keys,
// the aud claim, and the JSON Web Key Set served at jwks_path.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/headers"
)

// jwksMaxAge is how long clients and caches may keep the JWKS. A key
// rotation publishes the new key with the reload that starts signing with
// it; an app that meets an unknown kid refetches the set (PyJWKClient and
// jose do), so this bounds only how stale a removed key can be.
const jwksMaxAge = 300

// checkTokenOptions refuses token options that cannot apply together. It
// expands nothing: the Caddyfile adapter and Provision both run it.
func (h *Handler) checkTokenOptions() error {
	switch h.TokenAlg {
	case "", headers.AlgHS256:
		if h.SigningKey != "" {
			return errors.New("signing_key: only with token_alg EdDSA (HS256 signs with secret)")
		}
		if len(h.PreviousKeys) > 0 {
			return errors.New("previous_keys: only with token_alg EdDSA")
		}
		if h.JWKSPath != "" {
			return errors.New("jwks_path: only with token_alg EdDSA (an HS256 token has no public key to publish)")
		}
	case headers.AlgEdDSA:
		if h.SigningKey == "" {
			return errors.New("signing_key: required with token_alg EdDSA (e.g. signing_key {env.SESSION_SIGNING_KEY})")
		}
	default:
		return fmt.Errorf("token_alg: must be HS256 or EdDSA, got %q", h.TokenAlg)
	}
	if h.JWKSPath != "" && (!strings.HasPrefix(h.JWKSPath, "/") || strings.ContainsAny(h.JWKSPath, "?#*{} \t")) {
		return fmt.Errorf("jwks_path: must be a plain path starting with /, such as /.well-known/jwks.json, got %q", h.JWKSPath)
	}
	return nil
}

// newSigner makes the token signer from secret (which keys the sid under
// either algorithm), the EdDSA keys and the audience, and the JWKS to serve.
func (h *Handler) newSigner(secret []byte, ttl time.Duration) (*headers.Signer, error) {
	if err := h.checkTokenOptions(); err != nil {
		return nil, err
	}
	o := headers.SignerOptions{Audience: h.Audience}
	if h.TokenAlg == headers.AlgEdDSA {
		text, err := expand("signing_key", h.SigningKey, true)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(text) == "" {
			return nil, errors.New("signing_key: empty once placeholders are expanded")
		}
		if o.SigningKey, err = headers.ParseSigningKey(text); err != nil {
			return nil, fmt.Errorf("signing_key: %w", err)
		}
		for i, p := range h.PreviousKeys {
			name := fmt.Sprintf("previous_keys[%d]", i)
			text, err := expand(name, p, true)
			if err != nil {
				return nil, err
			}
			pub, err := headers.ParsePublicKey(text)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			o.PreviousKeys = append(o.PreviousKeys, pub)
		}
	}
	s, err := headers.NewSignerWith(secret, ttl, o)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if s.Alg() == headers.AlgEdDSA {
		kids := make([]string, 0, len(o.PreviousKeys))
		for _, p := range o.PreviousKeys {
			kids = append(kids, headers.Thumbprint(p))
		}
		h.logger.Info("session tokens signed with EdDSA", zap.String("kid", s.KeyID()),
			zap.Strings("previous_kids", kids), zap.String("jwks_path", h.JWKSPath))
	}
	if h.JWKSPath != "" {
		h.jwks = s.JWKS()
	}
	return s, nil
}

// serveJWKS answers a request for jwks_path with the JSON Web Key Set
// (RFC 7517): GET and HEAD, conditional requests through its ETag; any
// other method gets 405. Nothing is proxied.
func (h *Handler) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	hdr := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("jwks_path answers GET and HEAD, not %s", r.Method))
	}
	sum := sha256.Sum256(h.jwks)
	hdr.Set("Content-Type", "application/jwk-set+json")
	hdr.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", jwksMaxAge))
	hdr.Set("ETag", `"`+base64.RawURLEncoding.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.jwks))
	return nil
}

// checkKeyArgs checks, at adapt time, a literal key (one without
// placeholders); keys from placeholders are checked once expanded.
func checkKeyArgs(name string, private bool, vals ...string) error {
	for _, v := range vals {
		lit, err := caddy.NewEmptyReplacer().ReplaceOrErr(v, false, true)
		if err != nil {
			continue // it holds a placeholder
		}
		if private {
			_, err = headers.ParseSigningKey(lit)
		} else {
			_, err = headers.ParsePublicKey(lit)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
