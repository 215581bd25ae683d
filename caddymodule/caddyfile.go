package caddymodule

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterDirective("session", parseCaddyfile)
	// Ahead of handle/route blocks, so that one `session` at the top of a
	// site serves every route in it; after auth and encode.
	httpcaddyfile.RegisterDirectiveOrder("session", httpcaddyfile.Before, "invoke")
}

// parseCaddyfile is RegisterHandlerDirective's wrapper but for where the
// matcher goes: into the handler's own `match`, not onto its route. A route
// matcher would let the requests it does not match skip the handler, and
// so reach the upstream with a client-forged token; the handler strips
// those and gives them no session instead.
func parseCaddyfile(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	var handler Handler
	if err := handler.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if matcherSet != nil {
		handler.MatcherSetsRaw = caddyhttp.RawMatcherSets{matcherSet}
	}
	if err := handler.Validate(); err != nil { // `caddy adapt` reports it
		return nil, h.Errf("session: %v", err)
	}
	return h.NewRoute(nil, &handler), nil
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
//		token_alg         HS256 | EdDSA
//		signing_key       <PKCS#8 PEM>
//		previous_keys     <PEM>...
//		jwks_path         <path>
//		audience          <name>
//		pass_cookie
//		max_session_size  <size>
//		max_update_keys   <n>
//		hide              <pattern>...
//		deny_write        <pattern>...
//		allow_flush       on|off
//		on_store_error    fail | pass
//		store_timeout     <duration>
//		idle_timeout      <duration>
//		absolute_timeout  <duration>
//		codec             json | django
//		encrypt           <key> {
//			previous_keys <old key>...
//			accept_plaintext
//		}
//		django_secret_key <Django's SECRET_KEY>
//		django_secret_key_fallbacks <old key>...
//		user_key          <session field naming the user>
//		max_sessions_per_user <n>
//	}
//
// Durations accept Caddy's units plus `d` for days (`14d`); sizes are bytes
// or humanized sizes (`4KB` is 4000 bytes, `4KiB` 4096). `secret_fallbacks`
// and `previous_keys` may repeat, their values adding up; any other
// subdirective given twice is an error rather than the last one silently
// winning. A placeholder in a
// secret that can never resolve (an unknown name such as `{envSECRET}`) is
// refused here; whether an `{env.*}` is set is checked at provision. Write
// a literal `{` in a secret as `\{`.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		sub := d.Val()
		if sub != "secret_fallbacks" && sub != "django_secret_key_fallbacks" && sub != "previous_keys" && sub != "hide" && sub != "deny_write" {
			if err := once(d, seen, sub); err != nil {
				return err
			}
		}
		var err error
		switch sub {
		case "secret":
			if h.Secret, err = oneArg(d); err == nil {
				err = checkSecretArgs(d, sub, h.Secret)
			}
		case "secret_fallbacks":
			var args []string
			if args, err = someArgs(d); err == nil {
				err = checkSecretArgs(d, sub, args...)
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
		case "max_session_size":
			err = sizeArg(d, &h.MaxSessionSize)
		case "max_update_keys":
			err = countArg(d, &h.MaxUpdateKeys)
		case "hide":
			var args []string
			args, err = someArgs(d)
			h.Hide = append(h.Hide, args...)
		case "deny_write":
			var args []string
			args, err = someArgs(d)
			h.DenyWrite = append(h.DenyWrite, args...)
		case "allow_flush":
			var v string
			if v, err = oneOf(d, "on", "off"); err == nil {
				h.AllowFlush = new(v == "on")
			}
		case "on_store_error":
			h.OnStoreError, err = oneOf(d, "fail", "pass")
		case "store_timeout":
			err = durationArg(d, &h.StoreTimeout)
		case "idle_timeout":
			err = durationArg(d, &h.IdleTimeout)
		case "absolute_timeout":
			err = durationArg(d, &h.AbsoluteTimeout)
		case "token_alg":
			h.TokenAlg, err = oneOf(d, "HS256", "EdDSA")
		case "signing_key":
			if h.SigningKey, err = oneArg(d); err == nil {
				if err = checkPlaceholders(d, sub, true, h.SigningKey); err == nil {
					if kerr := checkKeyArgs(sub, true, h.SigningKey); kerr != nil {
						err = d.Err(kerr.Error())
					}
				}
			}
		case "previous_keys":
			var args []string
			if args, err = someArgs(d); err == nil {
				if err = checkPlaceholders(d, sub, true, args...); err == nil {
					if kerr := checkKeyArgs(sub, false, args...); kerr != nil {
						err = d.Err(kerr.Error())
					}
				}
			}
			h.PreviousKeys = append(h.PreviousKeys, args...)
		case "jwks_path":
			h.JWKSPath, err = oneArg(d)
		case "audience":
			h.Audience, err = oneArg(d)
		case "codec":
			h.Codec, err = oneOf(d, "json", "django")
		case "encrypt":
			err = h.unmarshalEncrypt(d)
		case "django_secret_key":
			if h.DjangoSecretKey, err = oneArg(d); err == nil {
				err = checkPlaceholders(d, sub, true, h.DjangoSecretKey)
			}
		case "django_secret_key_fallbacks":
			var args []string
			if args, err = someArgs(d); err == nil {
				err = checkPlaceholders(d, sub, true, args...)
			}
			h.DjangoSecretKeyFallbacks = append(h.DjangoSecretKeyFallbacks, args...)
		case "user_key":
			h.UserKey, err = oneArg(d)
		case "max_sessions_per_user":
			err = countArg(d, &h.MaxSessionsPerUser)
		default:
			return unknownSubdirective(d, "", sub, handlerSubdirectives)
		}
		if err != nil {
			return err
		}
	}
	if h.Secret == "" {
		return d.Err("secret: required (e.g. secret {env.SESSION_SECRET})")
	}
	if err := h.checkTokenOptions(); err != nil {
		return d.Err(err.Error())
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
		return d.Errf("store: unknown store %q%s (known: %s)", name, suggestStore(name, knownStores()), strings.Join(knownStores(), ", "))
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
		return d.Errf("%s: bad duration %q: %s", name, val, durationUnits)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// sizeArg reads the one positive size argument of the current subdirective:
// bytes, or a humanized size such as 4KB (4000 bytes) or 4KiB (4096).
func sizeArg(d *caddyfile.Dispenser, dst *int) error {
	name := d.Val()
	val, err := oneArg(d)
	if err != nil {
		return err
	}
	n, err := humanize.ParseBytes(val)
	if err != nil || n == 0 || n > math.MaxInt {
		return d.Errf("%s: bad size %q: want a positive number of bytes, such as 4096 or 4KiB", name, val)
	}
	*dst = int(n)
	return nil
}

// countArg reads the one positive integer argument of the current
// subdirective.
func countArg(d *caddyfile.Dispenser, dst *int) error {
	name := d.Val()
	val, err := oneArg(d)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 {
		return d.Errf("%s: bad value %q: want a positive integer", name, val)
	}
	*dst = n
	return nil
}

// once refuses a single-valued subdirective given twice in one block, as
// reverse_proxy refuses a second transport: letting the last one win would
// hide a mistake such as two secrets.
func once(d *caddyfile.Dispenser, seen map[string]bool, sub string) error {
	if seen[sub] {
		return d.Errf("%s: already specified", sub)
	}
	seen[sub] = true
	return nil
}

// noArgs checks that the current subdirective is a bare flag.
func noArgs(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// checkSecretArgs checks secrets as far as can be known without the
// environment Caddy will run in: placeholders that can never resolve, and
// the length of a literal secret (one without placeholders). A secret from
// a placeholder is checked once expanded, at provision.
func checkSecretArgs(d *caddyfile.Dispenser, name string, secrets ...string) error {
	if err := checkPlaceholders(d, name, true, secrets...); err != nil {
		return err
	}
	for _, s := range secrets {
		lit, err := caddy.NewEmptyReplacer().ReplaceOrErr(s, false, true)
		if err != nil {
			continue // it holds a placeholder
		}
		if err := checkSecret(name, lit); err != nil {
			return d.Err(err.Error())
		}
	}
	return nil
}

// checkPlaceholders refuses a placeholder in the values of option name that
// can never resolve at provision, where there is no request: a typo such as
// {envSECRET} or a request placeholder such as {http.request.host}. An
// {env.*} passes whether set or not: the environment that runs Caddy may not
// be the one that adapts its config; provision refuses an empty one.
func checkPlaceholders(d *caddyfile.Dispenser, name string, secret bool, vals ...string) error {
	repl := provisionPlaceholders()
	for _, v := range vals {
		if _, err := repl.ReplaceOrErr(v, false, true); err != nil {
			return d.Err(placeholderError(name, err, secret).Error())
		}
	}
	return nil
}

// provisionPlaceholders knows the placeholders that resolve at provision:
// Caddy's global ones ({env.*}, {file.*}, {system.*}, {time.*}). Files are
// not read here; whether one is there is checked at provision.
func provisionPlaceholders() *caddy.Replacer {
	global := caddy.NewReplacer()
	repl := caddy.NewEmptyReplacer()
	repl.Map(func(key string) (any, bool) {
		if strings.HasPrefix(key, "file.") {
			return "", true
		}
		return global.Get(key)
	})
	return repl
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
