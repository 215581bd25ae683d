package caddymodule

import (
	"fmt"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/django"
)

// Cleanup takes the handler out of the registries and its store out of
// /sessions/health.
func (h *Handler) Cleanup() error {
	if h.health != nil {
		unregisterHealth(h.health)
	}
	h.cleanupUsers()
	return nil
}

// djangoCodec is Django's signed session format with the Django key.
func (h *Handler) djangoCodec(secret string, secretFallbacks []string) (session.Codec, error) {
	key, fallbacks := secret, secretFallbacks
	if h.DjangoSecretKey != "" {
		var err error
		if key, err = expand("django_secret_key", h.DjangoSecretKey, true); err != nil {
			return nil, err
		}
		fallbacks = nil
	}
	if len(h.DjangoSecretKeyFallbacks) > 0 {
		fallbacks = nil
		for i, fb := range h.DjangoSecretKeyFallbacks {
			fb, err := expand(fmt.Sprintf("django_secret_key_fallbacks[%d]", i), fb, true)
			if err != nil {
				return nil, err
			}
			fallbacks = append(fallbacks, fb)
		}
	}
	c := &django.Codec{Key: []byte(key), Salt: django.SessionSalt}
	for _, fb := range fallbacks {
		c.Fallbacks = append(c.Fallbacks, []byte(fb))
	}
	return c, nil
}

func (h *Handler) cookieName() string {
	if h.CookieName == "" {
		return defaultCookieName
	}
	return h.CookieName
}

// djangoKeyIsSecret reports whether the Django codec signs stored values
// with `secret`, so that secret_fallbacks verify them: codec django, given
// or the default of the stores that exist only in Django's layouts (db,
// cached_db), without a django_secret_key of its own.
func (h *Handler) djangoKeyIsSecret() bool {
	if h.DjangoSecretKey != "" {
		return false
	}
	switch h.Codec {
	case "django":
		return true
	case "":
		backend := storeName(h.StoreRaw)
		return backend == "db" || backend == "cached_db"
	}
	return false
}
