package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/django"
)

func init() {
	caddy.RegisterModule(SignedCookiesStore{})
}

// maxCookieBytes is what every browser keeps of one cookie (name, value
// and attributes): RFC 6265's minimum, and Chrome's and Firefox's limit.
const maxCookieBytes = 4096

// SignedCookiesStore is Django's signed_cookies engine: the session lives in
// the cookie itself, signed with Django's key (salt
// "django.contrib.sessions.backends.signed_cookies"), readable by a Django
// site with the same SECRET_KEY and SESSION_ENGINE
// "django.contrib.sessions.backends.signed_cookies". Nothing is stored on
// the server, so, as in Django, the session is not encrypted (the browser
// and anyone holding the cookie can read it), cannot be revoked before it
// expires (a logout only deletes the cookie), and of two concurrent
// responses the last cookie wins. A session whose cookie would exceed 4096
// bytes fails that response (500, logged), never a truncated cookie.
type SignedCookiesStore struct{}

// CaddyModule returns the Caddy module information.
func (SignedCookiesStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: storeNamespace + ".signed_cookies", New: func() caddy.Module { return new(SignedCookiesStore) }}
}

// OpenStore implements StoreModule: the cookie store signing with the
// handler's Django key.
func (SignedCookiesStore) OpenStore(o StoreOptions) (session.Store, error) {
	if o.Codec == "json" {
		return nil, errors.New("store signed_cookies: needs codec django (Django's signed format)")
	}
	dc, err := o.Encoding(true)
	if err != nil {
		return nil, err
	}
	c, ok := dc.(*django.Codec)
	if !ok {
		return nil, errors.New("store signed_cookies: needs codec django (Django's signed format)")
	}
	codec := *c
	codec.Salt = django.SignedCookiesSalt
	codec.MaxAge = o.Age
	return &django.CookieStore{Codec: codec}, nil
}

// UnmarshalCaddyfile: `store signed_cookies`.
func (*SignedCookiesStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("store signed_cookies: takes no arguments")
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*SignedCookiesStore)(nil)
)

// CanEncrypt implements EncryptingStore: never, the session is in the
// cookie, in Django's signed format.
func (SignedCookiesStore) CanEncrypt(StoreOptions) error {
	return errors.New("encrypt: signed_cookies keeps the session in the cookie, in Django's signed format (signed, not encrypted), and stores nothing to encrypt; use a server-side store")
}

var _ EncryptingStore = SignedCookiesStore{}
