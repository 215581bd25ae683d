package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-session/caddy-session/headers"
)

// Validate refuses a configuration that cannot work, from the config alone:
// it expands no placeholder, opens no store, creates no directory and
// starts nothing. Provision runs it before anything else, and the
// Caddyfile adapter runs it, so that `caddy adapt` reports what it can.
// What needs placeholders expanded (a secret's length, a Django key equal
// to the secret) is checked again in Provision.
func (h *Handler) Validate() error {
	switch h.Codec {
	case "", "json", "django":
	default:
		return fmt.Errorf("codec: must be json or django, got %q", h.Codec)
	}
	switch h.OnStoreError {
	case "", "fail", "pass":
	default:
		return fmt.Errorf("on_store_error: must be fail or pass, got %q", h.OnStoreError)
	}
	if err := h.validateEncrypt(); err != nil {
		return err
	}
	if h.CookieAge != 0 && time.Duration(h.CookieAge) < time.Second {
		return fmt.Errorf("cookie_age: must be at least 1s, got %s", time.Duration(h.CookieAge))
	}
	if h.StoreTimeout < 0 {
		return fmt.Errorf("store_timeout: must be positive, got %s", time.Duration(h.StoreTimeout))
	}
	if h.TokenTTL != 0 && time.Duration(h.TokenTTL) < time.Second {
		return fmt.Errorf("token_ttl: must be at least 1s, got %s", time.Duration(h.TokenTTL))
	}
	if h.IdleTimeout < 0 || h.AbsoluteTimeout < 0 {
		return errors.New("idle_timeout, absolute_timeout: must not be negative")
	}
	switch strings.ToLower(h.CookieSameSite) {
	case "", "lax", "strict", "none":
	default:
		return fmt.Errorf("cookie_samesite: must be lax, strict or none, got %q", h.CookieSameSite)
	}
	switch strings.ToLower(h.CookieSecure) {
	case "", "auto", "on", "true", "off", "false":
	default:
		return fmt.Errorf("cookie_secure: must be auto, on or off, got %q", h.CookieSecure)
	}
	if h.MaxSessionsPerUser < 0 {
		return fmt.Errorf("max_sessions_per_user: must not be negative, got %d", h.MaxSessionsPerUser)
	}
	if h.UserKey == "" && h.MaxSessionsPerUser > 0 {
		return errors.New("max_sessions_per_user: needs user_key, the session field that names the user (e.g. _auth_user_id)")
	}
	if err := h.checkTokenOptions(); err != nil {
		return err
	}
	if rawSessionMatcher(h.MatcherSetsRaw) {
		return fmt.Errorf("match: %w", errGatedHandler)
	}
	if h.UserKey != "" && storeName(h.StoreRaw) == "signed_cookies" {
		return errUserKeySignedCookies
	}
	return h.checkSignedCookiesKey(h.Secret, h.DjangoSecretKey, h.DjangoSecretKeyFallbacks)
}

// errUserKeySignedCookies: Validate and provisionUsers refuse user_key on
// signed_cookies alike.
var errUserKeySignedCookies = errors.New("user_key: store signed_cookies keeps each session in its cookie, so the server has no session to index, list or revoke; use a server-side store (file, redis, db, cache, cached_db) for user_key")

// errForgeableCookies is why signed_cookies under HS256 needs a Django key
// of its own.
var errForgeableCookies = errors.New("store signed_cookies with token_alg HS256: set django_secret_key to the Django site's own SECRET_KEY, different from secret; " +
	"the session cookie is signed with the Django key, and under HS256 every app behind Caddy holds secret, so with the Django key equal to secret " +
	"any app could mint a session cookie for any user (or use token_alg EdDSA, whose apps hold no signing key)")

// checkSignedCookiesKey refuses signed_cookies under HS256 when the key
// that signs the cookies (the Django key, `secret` when not set) is the
// secret every app holds to verify its token. It runs on the config as
// written (Validate) and again on the expanded values (Provision).
func (h *Handler) checkSignedCookiesKey(secret, djangoKey string, djangoFallbacks []string) error {
	if storeName(h.StoreRaw) != "signed_cookies" || h.TokenAlg == headers.AlgEdDSA {
		return nil
	}
	if djangoKey == "" || djangoKey == secret || slices.Contains(djangoFallbacks, secret) {
		return errForgeableCookies
	}
	return nil
}

// checkSignedCookiesExpanded is checkSignedCookiesKey on the expanded
// values: two placeholders may name one secret.
func (h *Handler) checkSignedCookiesExpanded(secret string) error {
	if storeName(h.StoreRaw) != "signed_cookies" || h.TokenAlg == headers.AlgEdDSA {
		return nil
	}
	key, err := expand("django_secret_key", h.DjangoSecretKey, true)
	if err != nil {
		return err
	}
	var fallbacks []string
	for i, fb := range h.DjangoSecretKeyFallbacks {
		fb, err := expand(fmt.Sprintf("django_secret_key_fallbacks[%d]", i), fb, true)
		if err != nil {
			return err
		}
		fallbacks = append(fallbacks, fb)
	}
	return h.checkSignedCookiesKey(secret, key, fallbacks)
}

// celSession finds a session() call in a CEL expression, once celString
// has emptied its string literals.
var (
	celSession = regexp.MustCompile(`\bsession\s*\(`)
	celString  = regexp.MustCompile(`'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"`)
)

// rawSessionMatcher reports whether matcher sets, as configured, hold a
// session matcher: directly, under `not`, or as a CEL session() call. A
// handler's own match may not (errGatedHandler); the provisioned matcher
// refuses itself too (checkNotInHandler), for what this reading misses.
func rawSessionMatcher(sets []caddy.ModuleMap) bool {
	for _, set := range sets {
		for name, raw := range set {
			switch name {
			case "session":
				return true
			case "not":
				var inner []caddy.ModuleMap
				if json.Unmarshal(raw, &inner) != nil {
					var one caddy.ModuleMap
					if json.Unmarshal(raw, &one) == nil {
						inner = []caddy.ModuleMap{one}
					}
				}
				if rawSessionMatcher(inner) {
					return true
				}
			case "expression":
				var expr string
				if json.Unmarshal(raw, &expr) != nil {
					var obj struct {
						Expr string `json:"expr"`
					}
					_ = json.Unmarshal(raw, &obj)
					expr = obj.Expr
				}
				// A session( inside a string literal is no call.
				if celSession.MatchString(celString.ReplaceAllString(expr, "''")) {
					return true
				}
			}
		}
	}
	return false
}

// Interface guard
var _ caddy.Validator = (*Handler)(nil)
