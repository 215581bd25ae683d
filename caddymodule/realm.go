package caddymodule

import "github.com/caddy-session/caddy-session/session"

// realm is the keys of h's sessions. Handlers with different secrets never
// load each other's sessions, even on one store, directory or key prefix:
// each key carries a tag of the secret that made it (session.Realm), and a
// handler recognises only its own secret's tags (and its fallbacks', during
// a rotation). Handlers with the same secret share their sessions: that
// is how one login spans several apps. See docs/security.md, "Sites".
//
// A store that Django itself reads and writes keeps Django's untagged
// keys, so that a session Django made opens here too; there the Django
// codec's signature (django_secret_key, `secret` by default) keeps sites
// apart instead. Django's cache engine stores unsigned JSON: sites that
// must not share use their own key_prefix (docs/security.md).
func (h *Handler) realm(backend, secret string, fallbacks []string) session.Keys {
	switch {
	case h.Codec == "django", backend == "cache", backend == "signed_cookies":
		return nil
	case h.Codec == "" && (backend == "db" || backend == "cached_db"):
		return nil // codec django is their default
	}
	var fbs [][]byte
	for _, fb := range fallbacks {
		fbs = append(fbs, []byte(fb))
	}
	return session.NewRealm([]byte(secret), fbs...)
}
