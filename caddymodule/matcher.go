package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(MatchSession{})
}

// MatchSession matches requests by their session: every key it names must
// be in the session and, when values are listed for it, hold one of them.
// Values compare as the {http.session.<key>} placeholder prints them: a
// JSON string as its text, a number or boolean as written, so `42`
// matches both 42 and "42" (Django keeps _auth_user_id as a string).
// Requests with no session, or with an empty one, match only `not`.
//
// JSON: a map from key to the accepted values, `[]` for any value:
//
//	{"session": {"_auth_user_id": [], "role": ["admin", "editor"]}}
//
// The matcher reads the session the `session` handler loaded for the
// request. Where it runs before that handler (a matcher on a directive
// ordered ahead of `session`, such as `redir` or `rewrite`), it loads the
// session itself, through the session handler that will serve this
// request (registry.go), and sees no session when none will; the handler
// then uses that session and does not load it again. A
// request that carries no session cookie matches without a store lookup.
// A store failure is a 503 (or no session, under on_store_error pass).
//
// In a CEL expression: `session('user_id')` and `session('role',
// 'admin')`.
type MatchSession struct {
	Keys map[string][]string

	// owner is the CEL expression this matcher was compiled from, which
	// is what the route walk finds (registry.go); nil for a matcher of
	// its own.
	owner caddy.Module
	bound *bindingCache // set by Provision
}

// CaddyModule returns the Caddy module information.
func (MatchSession) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.session",
		New: func() caddy.Module { return new(MatchSession) },
	}
}

// MarshalJSON writes the matcher as its map of keys to values.
func (m MatchSession) MarshalJSON() ([]byte, error) {
	keys := map[string][]string{}
	for k, vs := range m.Keys {
		keys[k] = append([]string{}, vs...) // [], not null
	}
	return json.Marshal(keys)
}

// UnmarshalJSON reads the map of keys to values.
func (m *MatchSession) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &m.Keys)
}

// Provision refuses a matcher in a session handler's own match.
func (m *MatchSession) Provision(ctx caddy.Context) error {
	m.bound = new(bindingCache)
	return checkNotInHandler(ctx)
}

// Validate refuses a matcher that names no key.
func (m *MatchSession) Validate() error {
	if len(m.Keys) == 0 {
		return errors.New("session matcher: at least one session key is required")
	}
	for k := range m.Keys {
		if k == "" {
			return errors.New("session matcher: empty session key")
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens. Syntax:
//
//	session <key> [<value>...]
//
// Several lines in one named matcher must all match.
func (m *MatchSession) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if m.Keys == nil {
		m.Keys = map[string][]string{}
	}
	for d.Next() {
		if !d.NextArg() {
			return d.ArgErr()
		}
		key := d.Val()
		m.Keys[key] = append(m.Keys[key], d.RemainingArgs()...)
		if d.NextBlock(0) {
			return d.Err("malformed session matcher: blocks are not supported")
		}
	}
	return nil
}

// Match implements caddyhttp.RequestMatcher.
func (m *MatchSession) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// MatchWithError implements caddyhttp.RequestMatcherWithError.
func (m *MatchSession) MatchWithError(r *http.Request) (bool, error) {
	s := exposed(r)
	if s == nil || s.preloaded {
		var err error
		if s, err = m.preload(r, s); err != nil || s == nil {
			return false, err
		}
	}
	data := s.data()
	for k, want := range m.Keys {
		v, ok := data[k]
		if !ok {
			return false, nil
		}
		if len(want) > 0 && !slices.Contains(want, valueText(v)) {
			return false, nil
		}
	}
	return true, nil
}

// CELLibrary makes the matcher available in CEL expressions:
//
//	expression session('_auth_user_id')
//	expression session('role', 'admin') || path('/public/*')
func (MatchSession) CELLibrary(ctx caddy.Context) (cel.Library, error) {
	stringList := reflect.TypeFor[[]string]()
	// ctx is the expression's: the session handler, when the expression
	// is in a handler's own match, is in its lineage.
	gated := checkNotInHandler(ctx)
	owner := ctx.Module()
	newMatcher := func(keys map[string][]string) (*MatchSession, error) {
		if gated != nil {
			return nil, gated
		}
		return &MatchSession{Keys: keys, owner: owner, bound: new(bindingCache)}, nil
	}
	key, err := caddyhttp.CELMatcherImpl("session", "session_match_request_key",
		[]*cel.Type{cel.StringType},
		func(data ref.Val) (caddyhttp.RequestMatcherWithError, error) {
			k, ok := data.Value().(string)
			if !ok || k == "" {
				return nil, fmt.Errorf("session(): want a session key, got %v", data.Value())
			}
			return newMatcher(map[string][]string{k: nil})
		})
	if err != nil {
		return nil, err
	}
	value, err := caddyhttp.CELMatcherImpl("session", "session_match_request_key_value",
		[]*cel.Type{cel.StringType, cel.StringType},
		func(data ref.Val) (caddyhttp.RequestMatcherWithError, error) {
			v, err := data.ConvertToNative(stringList)
			if err != nil {
				return nil, err
			}
			args := v.([]string)
			if len(args) != 2 || args[0] == "" {
				return nil, fmt.Errorf("session(): want a session key and a value, got %q", args)
			}
			return newMatcher(map[string][]string{args[0]: {args[1]}})
		})
	if err != nil {
		return nil, err
	}
	return caddyhttp.NewMatcherCELLibrary(
		append(key.CompileOptions(), value.CompileOptions()...),
		append(key.ProgramOptions(), value.ProgramOptions()...),
	), nil
}

// preload loads the request's session for a matcher that runs before the
// session handler that will serve the request (registry.go), and leaves it
// in the request for that handler. pre is a session another matcher
// loaded ahead of any handler: taken when it was loaded alike. nil, no
// session, when no handler will serve the request or the request carries
// none of its cookie.
func (m *MatchSession) preload(r *http.Request, pre *reqSession) (*reqSession, error) {
	leave, ok := enterResolve(r)
	if !ok {
		return nil, nil
	}
	defer leave()
	var key any = m
	if m.owner != nil {
		key = m.owner
	}
	h, err := handlerFor(r, key, m.bound)
	if err != nil || h == nil {
		return nil, err
	}
	c, err := r.Cookie(h.cookie.Name)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	if pre != nil && pre.h.configID == h.configID && pre.cookie == c.Value {
		return pre, nil
	}
	return h.preload(r, c.Value)
}

// Interface guards
var (
	_ caddy.Provisioner                 = (*MatchSession)(nil)
	_ caddy.Validator                   = (*MatchSession)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchSession)(nil)
	_ caddyhttp.CELLibraryProducer      = (*MatchSession)(nil)
	_ caddyfile.Unmarshaler             = (*MatchSession)(nil)
	_ json.Marshaler                    = MatchSession{}
	_ json.Unmarshaler                  = (*MatchSession)(nil)
)
