package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("session", parseCaddyfile)
	// Ahead of handle/route blocks, so that one `session` at the top of a
	// site serves every route in it; after auth and encode.
	httpcaddyfile.RegisterDirectiveOrder("session", httpcaddyfile.Before, "invoke")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	session [<matcher>] {
//		secret            <secret>
//		secret_fallbacks  <old secret>...
//		store             file [<dir>] | memory | redis { ... }
//		cookie_name       <name>
//		cookie_age        <duration>
//		cookie_domain     <domain>
//		cookie_path       <path>
//		cookie_secure     auto | on | off
//		cookie_httponly   on | off
//		cookie_samesite   lax | strict | none
//		expire_at_browser_close
//		save_every_request
//		header            <base name>
//		token_ttl         <duration>
//		pass_cookie
//	}
//
// Durations accept Caddy's units plus `d` for days (`14d`).
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		sub := d.Val()
		switch sub {
		case "secret":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Secret = d.Val()
			if err := checkLiteralSecret("secret", h.Secret); err != nil {
				return d.Err(err.Error())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "secret_fallbacks":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if err := checkLiteralSecret("secret_fallbacks", a); err != nil {
					return d.Err(err.Error())
				}
			}
			h.SecretFallbacks = append(h.SecretFallbacks, args...)
		case "store":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			modID := storeNamespace + "." + name
			if _, err := caddy.GetModule(modID); err != nil {
				return d.Errf("store: unknown store %q (known: %s)", name, strings.Join(knownStores(), ", "))
			}
			unm, err := caddyfile.UnmarshalModule(d, modID)
			if err != nil {
				return err // names the store and the line already
			}
			h.StoreRaw = caddyconfig.JSONModuleObject(unm, "backend", name, nil)
		case "cookie_name", "cookie_domain", "cookie_path", "cookie_secure", "cookie_samesite", "header":
			if !d.NextArg() {
				return d.ArgErr()
			}
			val := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			switch sub {
			case "cookie_name":
				h.CookieName = val
			case "cookie_domain":
				h.CookieDomain = val
			case "cookie_path":
				h.CookiePath = val
			case "cookie_secure":
				switch val {
				case "auto", "on", "off":
				default:
					return d.Errf("cookie_secure: must be auto, on or off, got %q", val)
				}
				h.CookieSecure = val
			case "cookie_samesite":
				switch val {
				case "lax", "strict", "none":
				default:
					return d.Errf("cookie_samesite: must be lax, strict or none, got %q", val)
				}
				h.CookieSameSite = val
			case "header":
				h.Header = val
			}
		case "cookie_age", "token_ttl":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("%s: bad duration %q: %v", sub, d.Val(), err)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			if sub == "cookie_age" {
				h.CookieAge = caddy.Duration(dur)
			} else {
				h.TokenTTL = caddy.Duration(dur)
			}
		case "cookie_httponly":
			on, err := parseOnOff(d)
			if err != nil {
				return err
			}
			h.CookieHTTPOnly = &on
		case "expire_at_browser_close", "save_every_request", "pass_cookie":
			if d.NextArg() {
				return d.ArgErr()
			}
			switch sub {
			case "expire_at_browser_close":
				h.ExpireAtBrowserClose = true
			case "save_every_request":
				h.SaveEveryRequest = true
			case "pass_cookie":
				h.PassCookie = true
			}
		default:
			return d.Errf("unrecognized subdirective %q", sub)
		}
	}
	if h.Secret == "" {
		return d.Err("secret: required (e.g. secret {env.SESSION_SECRET})")
	}
	return nil
}

// checkLiteralSecret rejects a short secret written into the config; one
// from a placeholder is checked once expanded, at provision.
func checkLiteralSecret(name, s string) error {
	if strings.Contains(s, "{") {
		return nil
	}
	return checkSecret(name, s)
}

func parseOnOff(d *caddyfile.Dispenser) (bool, error) {
	name := d.Val()
	if !d.NextArg() {
		return false, d.ArgErr()
	}
	val := d.Val()
	if d.NextArg() {
		return false, d.ArgErr()
	}
	switch val {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, d.Errf("%s: must be on or off, got %q", name, val)
}

func knownStores() []string {
	var names []string
	for _, m := range caddy.GetModules(storeNamespace) {
		names = append(names, m.ID.Name())
	}
	return names
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
