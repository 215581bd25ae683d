package caddymodule

import (
	"slices"
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
		var err error
		switch sub {
		case "secret":
			if h.Secret, err = oneArg(d); err == nil {
				err = checkLiteralSecret(d, sub, h.Secret)
			}
		case "secret_fallbacks":
			args, err := someArgs(d)
			if err != nil {
				return err
			}
			for _, a := range args {
				if err := checkLiteralSecret(d, sub, a); err != nil {
					return err
				}
			}
			h.SecretFallbacks = append(h.SecretFallbacks, args...)
		case "store":
			err = h.unmarshalStore(d)
		case "cookie_name":
			h.CookieName, err = oneArg(d)
		case "cookie_domain":
			h.CookieDomain, err = oneArg(d)
		case "cookie_path":
			h.CookiePath, err = oneArg(d)
		case "header":
			h.Header, err = oneArg(d)
		case "cookie_secure":
			h.CookieSecure, err = oneOf(d, "auto", "on", "off")
		case "cookie_samesite":
			h.CookieSameSite, err = oneOf(d, "lax", "strict", "none")
		case "cookie_httponly":
			var v string
			if v, err = oneOf(d, "on", "off"); err == nil {
				h.CookieHTTPOnly = new(v == "on")
			}
		case "cookie_age":
			err = durationArg(d, &h.CookieAge)
		case "token_ttl":
			err = durationArg(d, &h.TokenTTL)
		case "expire_at_browser_close":
			h.ExpireAtBrowserClose, err = true, noArgs(d)
		case "save_every_request":
			h.SaveEveryRequest, err = true, noArgs(d)
		case "pass_cookie":
			h.PassCookie, err = true, noArgs(d)
		default:
			return d.Errf("unrecognized subdirective %q", sub)
		}
		if err != nil {
			return err
		}
	}
	if h.Secret == "" {
		return d.Err("secret: required (e.g. secret {env.SESSION_SECRET})")
	}
	return nil
}

// unmarshalStore reads `store <name> [<args>] [{ ... }]` into StoreRaw.
func (h *Handler) unmarshalStore(d *caddyfile.Dispenser) error {
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
	return nil
}

// oneArg reads the one argument of the current subdirective.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	val := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return val, nil
}

// someArgs reads the one or more arguments of the current subdirective.
func someArgs(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return args, nil
}

// oneOf reads the one argument of the current subdirective, which must be
// one of choices; the error names the subdirective.
func oneOf(d *caddyfile.Dispenser, choices ...string) (string, error) {
	name := d.Val()
	val, err := oneArg(d)
	if err != nil || slices.Contains(choices, val) {
		return val, err
	}
	last := len(choices) - 1
	return "", d.Errf("%s: must be %s or %s, got %q", name, strings.Join(choices[:last], ", "), choices[last], val)
}

// durationArg reads the one duration argument of the current subdirective.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	val, err := oneArg(d)
	if err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(val)
	if err != nil {
		return d.Errf("%s: bad duration %q: %v", name, val, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// noArgs checks that the current subdirective is a bare flag.
func noArgs(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// checkLiteralSecret rejects a short secret written into the config; one
// from a placeholder is checked once expanded, at provision.
func checkLiteralSecret(d *caddyfile.Dispenser, name, s string) error {
	if strings.Contains(s, "{") {
		return nil
	}
	if err := checkSecret(name, s); err != nil {
		return d.Err(err.Error())
	}
	return nil
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
