// Package caddymodule is the Caddy side of caddy-session: the `session` HTTP
// handler, its Caddyfile syntax, and the store guest modules.
package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/headers"
	"github.com/caddy-session/caddy-session/session"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults, as Django's settings name them.
const (
	defaultCookieName = "sessionid"
	defaultCookieAge  = 14 * 24 * time.Hour // SESSION_COOKIE_AGE, 1209600 s
	defaultTokenTTL   = 60 * time.Second
	// defaultMaxSessionSize keeps the token header line (4/3 of the
	// session plus about 330 bytes of claims, signature and name) under
	// the 8190-byte request-header field limits of Apache and gunicorn and
	// nginx's 8 KB buffers, and inside Node's 16 KB for all headers
	// (TestDefaultSizeFitsHeaderLimits).
	defaultMaxSessionSize = 5120
	defaultMaxUpdateKeys  = 128
	defaultStoreTimeout   = 5 * time.Second
	// retryAfter is what a client is told to wait when the store is down.
	retryAfter = "5"
)

// Handler gives the upstream Django-style server-side sessions. It reads the
// session cookie, loads the session from a store, hands the session to the
// upstream as one signed request header (a JWT), and persists the changes
// the upstream returns in response headers before the response reaches the
// client.
//
// Every request header that could pass for the handler's own (the base name
// `X-Session` or anything starting with `X-Session-`, compared
// case-insensitively with `_` and `.` folded to `-`) is removed before the
// upstream sees the request, and every such response header or trailer is
// removed before the client sees the response.
//
// With `match`, requests that match none of the matcher sets get no session,
// but are still stripped of client-sent session headers, and their
// upstream's update headers are still removed (unapplied) before the client
// sees them: the Caddyfile's `session <matcher>` puts its matcher here, not
// on the route, so that no request of the site escapes the stripping.
//
// This handler sets these placeholders, for the handlers after it
// (`respond`, `header`, `rewrite`, `reverse_proxy`'s `header_up`, ...) and
// for the access log; they hold the session as the upstream gets it, before
// its update:
//
// Placeholder | Description
// ------------|-------------
// `{http.session.<key>}` | The session's value for `<key>`: a JSON string as its text, a number or boolean as written, an object or array as compact JSON; empty when the session has no such key (or holds null)
// `{http.session.sid}` | The session's sid, as the token's `sid` claim: opaque, never the cookie value; empty when there is no stored session
// `{http.session.new}` | `true` when no stored session was found for the request (the token's `new` claim), `false` otherwise
//
// `sid` and `new` take precedence over session keys of those names. A
// request that gets no session (unmatched, or a store failure under
// on_store_error pass) has every key empty and `new` true.
type Handler struct {
	// Matcher sets: only matching requests get a session. Default: all.
	MatcherSetsRaw caddyhttp.RawMatcherSets `json:"match,omitempty" caddy:"namespace=http.matchers"`

	// The key that signs the token (HS256), and that keys its `sid` under
	// either token_alg. Required; at least 32 bytes once placeholders are
	// expanded. Use a placeholder such as
	// `{env.SESSION_SECRET}` rather than writing the secret in the config.
	Secret string `json:"secret,omitempty"`

	// Former secrets, for rotation: they never sign anything. Session keys
	// issued under them (each key carries a tag of its secret) still open
	// their sessions, and so do stored values the Django codec signed with
	// them when it signs with `secret`. The upstream verifies the token
	// with the current secret only. Each must be at least 32 bytes once
	// placeholders are expanded.
	SecretFallbacks []string `json:"secret_fallbacks,omitempty"`

	// The session store, a module in the `http.session.stores` namespace.
	// Default: `file`, under Caddy's data directory.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=http.session.stores inline_key=backend"`

	// The session cookie's name. Default: `sessionid`.
	CookieName string `json:"cookie_name,omitempty"`

	// How long a session lives after its last modification (Django's
	// SESSION_COOKIE_AGE). Default: 14 days.
	CookieAge caddy.Duration `json:"cookie_age,omitempty"`

	// The cookie's Domain attribute. Default: none (host-only cookie).
	CookieDomain string `json:"cookie_domain,omitempty"`

	// The cookie's Path attribute. Default: `/`.
	CookiePath string `json:"cookie_path,omitempty"`

	// Whether the cookie is marked Secure: `auto` (when the request came
	// over TLS), `on` or `off`. Default: `auto`.
	CookieSecure string `json:"cookie_secure,omitempty"`

	// Whether the cookie is marked HttpOnly. Default: true.
	CookieHTTPOnly *bool `json:"cookie_httponly,omitempty"`

	// The cookie's SameSite attribute: `lax`, `strict` or `none`.
	// Default: `lax`.
	CookieSameSite string `json:"cookie_samesite,omitempty"`

	// Sessions expire when the browser closes, unless the upstream sets an
	// expiry (Django's SESSION_EXPIRE_AT_BROWSER_CLOSE). Default: false.
	ExpireAtBrowserClose bool `json:"expire_at_browser_close,omitempty"`

	// Save the session and resend the cookie on every response, extending
	// the session's life on each request (SESSION_SAVE_EVERY_REQUEST).
	// Default: false.
	SaveEveryRequest bool `json:"save_every_request,omitempty"`

	// The base name of every header the handler reads or writes: the token
	// goes in `<header>`, updates come back in `<header>-Set` and so on.
	// Default: `X-Session`.
	Header string `json:"header,omitempty"`

	// How long a token stays valid (its `exp - iat`). A token of the same
	// claims issued less than a tenth of it ago is sent again, with its own
	// iat and exp, rather than signed anew. Default: 60s.
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`

	// The token's algorithm: `HS256` (keyed with `secret`, which every app
	// that verifies the token then holds) or `EdDSA` (Ed25519, signed with
	// `signing_key`; apps verify with the public key alone and cannot mint
	// a token). Default: `HS256`.
	TokenAlg string `json:"token_alg,omitempty"`

	// The Ed25519 private key that signs EdDSA tokens, as a PKCS#8 PEM
	// (`openssl genpkey -algorithm ed25519`), from a placeholder such as
	// `{env.SESSION_SIGNING_KEY}` or `{file./etc/caddy/session-key.pem}`;
	// placeholders are expanded strictly. Required with EdDSA, refused
	// with HS256. The token header's `kid` is its public key's RFC 7638
	// thumbprint. `secret` is still required: it keys the token's `sid`.
	SigningKey string `json:"signing_key,omitempty"`

	// Former signing keys, for rotation: PEM public keys, or the former
	// PKCS#8 private keys of which only the public halves are used. They
	// sign nothing; they are published in the JWKS beside the current key
	// so that tokens they signed verify until they expire. EdDSA only.
	PreviousKeys []string `json:"previous_keys,omitempty"`

	// A path (such as `/.well-known/jwks.json`) at which the handler
	// answers GET and HEAD itself with the JSON Web Key Set of the current
	// and previous public keys, instead of passing the request on; other
	// methods get 405. The path is matched exactly, before `match`. EdDSA
	// only. Default: none.
	JWKSPath string `json:"jwks_path,omitempty"`

	// The token's `aud` claim: the name of the app behind this handler,
	// which the app checks so that a token minted for another app is
	// refused. Default: none (no aud claim).
	Audience string `json:"audience,omitempty"`

	// Forward the session cookie to the upstream. Default: false, the
	// cookie is removed from the upstream's Cookie header.
	PassCookie bool `json:"pass_cookie,omitempty"`

	// How stores that keep each session as one value encode it: `django`
	// (Django's SessionBase.encode: signed, compressed JSON, readable by
	// Django's own engines) or `json` (this project's format). With
	// `django`, `store redis` keeps django-redis-sessions' layout and
	// `store file` Django's file engine layout instead of their own.
	// Default: `django` for the stores that exist only in Django's layouts
	// (db, cached_db); each store's own format otherwise. Django's cache
	// engine always keeps plain JSON (django-redis's JSON serializer).
	Codec string `json:"codec,omitempty"`

	// Encrypt the values the store keeps (encryption at rest); see
	// Encrypt. Default: off.
	Encrypt *Encrypt `json:"encrypt,omitempty"`

	// The key the Django codec signs and verifies with: the Django site's
	// SECRET_KEY. Placeholders are expanded strictly. Default: `secret`.
	DjangoSecretKey string `json:"django_secret_key,omitempty"`

	// Former Django keys (Django's SECRET_KEY_FALLBACKS): values signed
	// with them verify, new values are signed with django_secret_key.
	// Default: secret_fallbacks when django_secret_key is not set.
	DjangoSecretKeyFallbacks []string `json:"django_secret_key_fallbacks,omitempty"`

	// The largest session, in bytes of its JSON object as the token
	// carries it. An update that would make the session larger is refused
	// whole (502); a stored session larger than this is not handed to the
	// upstream (it is treated as no session and left in the store).
	// Default: 65536 (64 KiB) when every reverse_proxy after this handler
	// uses the FastCGI transport (php_fastcgi), whose parameters have no
	// line limit; otherwise 5120, which keeps the token header under the
	// 8190-byte request-header field limits of Apache, gunicorn and nginx
	// and Node's 16 KB for all headers (transport.go, docs/protocol.md).
	MaxSessionSize int `json:"max_session_size,omitempty"`

	// The most fields one update may set or delete. An update over it is
	// refused whole (502), so that no single store operation runs long.
	// Default: 128.
	MaxUpdateKeys int `json:"max_update_keys,omitempty"`

	// Glob patterns (`*` any run of characters, `?` one) of session keys
	// this upstream never sees in its token. They stay in the store, this
	// upstream's X-Session-Clear keeps them, and an update of it that sets,
	// deletes or increments one is refused whole, as under deny_write: a
	// key it cannot see is no key it may write. Default: none.
	Hide []string `json:"hide,omitempty"`

	// Glob patterns of session keys this upstream may not set, delete or
	// increment (X-Session-Expiry counts as a write of _session_expiry);
	// an update that tries is refused whole (502, nothing persisted, the
	// log names the key and the pattern). Its X-Session-Clear keeps them.
	// Default: none.
	DenyWrite []string `json:"deny_write,omitempty"`

	// Whether this upstream may flush, clear or cycle the session's key;
	// with false, an update that asks is refused whole (502). Default:
	// true.
	AllowFlush *bool `json:"allow_flush,omitempty"`

	// What a request gets when the store cannot be reached to load its
	// session: `fail`, 503 with Retry-After and the upstream not called
	// (the default: a login never silently fails to stick); or `pass`: the
	// upstream is called with an empty session and the token claim
	// `store_error: true`, its session headers are removed and ignored, and
	// the cookie is left alone, so a site whose pages work without a
	// session keeps serving them. A store that fails while persisting an
	// update answers 503 either way.
	OnStoreError string `json:"on_store_error,omitempty"`

	// The longest one request waits for the store, for its load and again
	// for its save, whatever the store's own timeouts. Default: 5s.
	StoreTimeout caddy.Duration `json:"store_timeout,omitempty"`

	// End a session that no request used for this long, whatever
	// cookie_age says (lua-resty-session's and OWASP's idle timeout; Django
	// has none). Enforced on the server; the upstream sees the deadline in
	// the token's idle_expires_at. The access time lives in the session
	// under _session_accessed and is rewritten when a request finds it
	// older than a tenth of the timeout. Default: off.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`

	// End a session this long after it was created, however active it is
	// (cycle_key keeps the creation time, flush starts a new one). Enforced
	// on the server, capping the cookie's Max-Age; the upstream sees the
	// deadline in absolute_expires_at. The creation time lives in the
	// session under _session_created. Default: off.
	AbsoluteTimeout caddy.Duration `json:"absolute_timeout,omitempty"`

	// The session field that names the session's user, such as Django's
	// `_auth_user_id`: with it, the store keeps an index from each user to
	// that user's sessions, which the admin API (`/sessions/users/...`)
	// and `caddy sessions` list, count and revoke ("log out everywhere").
	// The value must be a JSON string or number. Not with signed_cookies,
	// which keeps no session on the server. Default: none, no index.
	UserKey string `json:"user_key,omitempty"`

	// With user_key: when a session becomes a user's (a login), the
	// user's oldest sessions beyond this many end. Default: 0, no limit.
	MaxSessionsPerUser int `json:"max_sessions_per_user,omitempty"`

	matchers caddyhttp.MatcherSets
	// purge removes expired sessions now (clear-expired) through the
	// store's Purger; nil when the store expires them itself. The shared
	// store runs the background purge.
	purge    func(time.Time) (int, error)
	health   *storeHealth
	storeKey string // names the store's health: its pool key (sharedStore), else its config
	timeout  time.Duration
	store    session.Store
	manager  *session.Manager
	names    headers.Names
	signer   *headers.Signer
	jwks     []byte      // served at JWKSPath; nil when it is not set
	cookie   http.Cookie // the attributes every session cookie carries
	secure   *bool       // nil: auto
	logger   *zap.Logger
	// storeLabel is the store's module name, the `store` of logs and
	// metrics.
	storeLabel string
	metrics    *handlerMetrics
	// configID is the handler's configuration but for its matchers:
	// handlers alike load alike, so one takes the session another loaded.
	configID string
	index    session.UserIndexer // with user_key (users.go)

	sizeOnce *sync.Once // the default max_session_size, set on the first request (transport.go)

	// checked: the store keeps only valid JSON values
	// (session.CheckedValues), which the token then embeds unchecked.
	// instant: its loads never wait (session.Instant), so no timer
	// bounds them. minted: it mints its own keys (session.Minter), so
	// every cookie is asked of it.
	checked, instant, minted bool
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.session",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets up the handler.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := h.Validate(); err != nil { // before anything opens or starts
		return err
	}
	h.configID = configIdentity(h) // before LoadModule drops the store's and matchers' config

	secret, err := expand("secret", h.Secret, true)
	if err != nil {
		return err
	}
	if err := checkSecret("secret", secret); err != nil {
		return err
	}
	if err := h.checkSignedCookiesExpanded(secret); err != nil {
		return err
	}
	var fallbacks []string
	for i, fb := range h.SecretFallbacks {
		name := fmt.Sprintf("secret_fallbacks[%d]", i)
		fb, err := expand(name, fb, true)
		if err != nil {
			return err
		}
		if err := checkSecret(name, fb); err != nil {
			return err
		}
		fallbacks = append(fallbacks, fb)
	}
	if len(h.SecretFallbacks) > 0 && !h.djangoKeyIsSecret() && h.realm(storeName(h.StoreRaw), secret, nil) == nil {
		h.logger.Warn("secret_fallbacks has no effect here: this store keeps Django's keys, and the Django codec signs with django_secret_key, not the secret")
	}

	age := defaultCookieAge
	if h.CookieAge != 0 {
		age = time.Duration(h.CookieAge)
	}
	if age < time.Second {
		return fmt.Errorf("cookie_age: must be at least 1s, got %s", age)
	}
	switch h.OnStoreError {
	case "", "fail", "pass":
	default:
		return fmt.Errorf("on_store_error: must be fail or pass, got %q", h.OnStoreError)
	}
	h.timeout = defaultStoreTimeout
	if h.StoreTimeout != 0 {
		h.timeout = time.Duration(h.StoreTimeout)
	}
	if h.timeout <= 0 {
		return fmt.Errorf("store_timeout: must be positive, got %s", h.timeout)
	}
	storeLabel := storeName(h.StoreRaw) // before LoadModule drops it
	if h.store, err = h.provisionStore(ctx, age, secret, fallbacks); err != nil {
		return err
	}
	if c, ok := h.store.(session.CheckedValues); ok {
		h.checked = c.ValuesChecked()
	}
	if i, ok := h.store.(session.Instant); ok {
		h.instant = i.LoadsInstantly()
	}
	_, h.minted = h.store.(session.Minter)
	h.health = registerHealth(storeLabel, h.storeKey)
	h.storeLabel = storeLabel
	if err := registerSessionMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.metrics = newHandlerMetrics(storeLabel)
	h.sizeOnce = new(sync.Once)
	store := h.store
	maxSize, maxKeys := defaultMaxSessionSize, defaultMaxUpdateKeys
	if h.MaxSessionSize > 0 {
		maxSize = h.MaxSessionSize
	}
	if h.MaxUpdateKeys > 0 {
		maxKeys = h.MaxUpdateKeys
	}
	h.manager = &session.Manager{Store: store, Config: session.Config{
		Age:                  age,
		ExpireAtBrowserClose: h.ExpireAtBrowserClose,
		SaveEveryRequest:     h.SaveEveryRequest,
		MaxSize:              maxSize,
		MaxUpdateKeys:        maxKeys,
		IdleTimeout:          time.Duration(h.IdleTimeout),
		AbsoluteTimeout:      time.Duration(h.AbsoluteTimeout),
		Policy: session.Policy{
			Hide:      h.Hide,
			DenyWrite: h.DenyWrite,
			DenyFlush: h.AllowFlush != nil && !*h.AllowFlush,
		},
	}}
	if h.IdleTimeout < 0 || h.AbsoluteTimeout < 0 {
		return errors.New("idle_timeout, absolute_timeout: must not be negative")
	}
	h.manager.Config.Keys = h.realm(storeLabel, secret, fallbacks) // realm.go
	if err := h.provisionUsers(); err != nil {
		return err
	}

	if h.MatcherSetsRaw != nil {
		mods, err := ctx.LoadModule(h, "MatcherSetsRaw")
		if err != nil {
			return fmt.Errorf("match: loading matchers: %w", err)
		}
		if err := h.matchers.FromInterface(mods); err != nil {
			return fmt.Errorf("match: %w", err)
		}
	}

	if h.names, err = headers.NewNames(h.Header); err != nil { // "": X-Session
		return fmt.Errorf("header: %w", err)
	}
	ttl := defaultTokenTTL
	if h.TokenTTL != 0 {
		ttl = time.Duration(h.TokenTTL)
	}
	if ttl < time.Second {
		return fmt.Errorf("token_ttl: must be at least 1s, got %s", ttl)
	}
	if h.signer, err = h.newSigner([]byte(secret), ttl); err != nil {
		return err
	}

	if err := loadAudit(ctx); err != nil {
		return err
	}
	if err := h.provisionCookie(); err != nil {
		return err
	}
	return nil
}

func checkSecret(name, secret string) error {
	if secret == "" {
		return fmt.Errorf("%s: required (e.g. {env.SESSION_SECRET})", name)
	}
	if len(secret) < headers.MinSecretLen {
		return fmt.Errorf("%s: must be at least %d bytes once placeholders are expanded, got %d", name, headers.MinSecretLen, len(secret))
	}
	return nil
}

func (h *Handler) provisionCookie() error {
	c := http.Cookie{Name: h.CookieName, Path: h.CookiePath, Domain: h.CookieDomain, HttpOnly: true}
	if c.Name == "" {
		c.Name = defaultCookieName
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if h.CookieHTTPOnly != nil {
		c.HttpOnly = *h.CookieHTTPOnly
	}
	switch strings.ToLower(h.CookieSameSite) {
	case "", "lax":
		c.SameSite = http.SameSiteLaxMode
	case "strict":
		c.SameSite = http.SameSiteStrictMode
	case "none":
		c.SameSite = http.SameSiteNoneMode
	default:
		return fmt.Errorf("cookie_samesite: must be lax, strict or none, got %q", h.CookieSameSite)
	}
	switch strings.ToLower(h.CookieSecure) {
	case "", "auto":
	case "on", "true":
		h.secure = new(true)
	case "off", "false":
		h.secure = new(false)
	default:
		return fmt.Errorf("cookie_secure: must be auto, on or off, got %q", h.CookieSecure)
	}
	probe := c
	probe.Value = session.NewKey()
	if err := probe.Valid(); err != nil {
		return fmt.Errorf("cookie: %w", err)
	}
	if c.SameSite == http.SameSiteNoneMode && h.secure != nil && !*h.secure {
		return errors.New("cookie_samesite none with cookie_secure off: browsers reject SameSite=None cookies without Secure; use cookie_secure on (or auto behind TLS), or another cookie_samesite")
	}
	h.cookie = c
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.jwks != nil && r.URL.Path == h.JWKSPath {
		return h.serveJWKS(w, r)
	}
	h.stripRequest(r)
	if len(h.matchers) > 0 {
		match, err := h.matchers.AnyMatchWithError(r)
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
		if !match {
			if ce := h.logger.Check(zap.DebugLevel, "request matches none of the handler's matchers: no session, session headers stripped"); ce != nil {
				ce.Write(zap.String("store", h.storeLabel))
			}
			(&reqSession{h: h}).expose(r)
			err := next.ServeHTTP(strippingWriter(w, h.names), r)
			h.names.Strip(w.Header()) // trailers arrive after the body
			return err
		}
	}
	// What handlers before this one set (HSTS, CSP, ...) stays on this
	// handler's own error responses.
	var before savedHeader
	before.save(w.Header())
	w.Header().Add("Vary", "Cookie")

	cookieValue := requestCookie(r, h.cookie.Name)
	rw := committingWriter(w, h, r)
	if pre := exposed(r); pre != nil && pre.preloaded && pre.h.configID == h.configID && pre.sess != nil && pre.cookie == cookieValue {
		rw.state = *pre // a session matcher ahead of this handler loaded it
		rw.state.h, rw.state.preloaded = h, false
	} else {
		sess, now, err := h.load(r, cookieValue)
		if err != nil {
			if h.OnStoreError != "pass" {
				return h.storeError(w, err)
			}
			return h.servePassed(w, r, next, cookieValue, err)
		}
		rw.state = reqSession{h: h, sess: sess, cookie: cookieValue, loadedAt: unixNano(now)}
	}
	rw.state.expose(r)
	if !h.PassCookie && cookieValue != "" {
		removeCookie(r.Header, h.cookie.Name)
	}

	token, err := h.token(&rw.state)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("signing session token: %w", err))
	}
	h.names.SetToken(r.Header, token)

	err = next.ServeHTTP(rw, r)
	h.names.Strip(w.Header()) // trailers arrive after the body
	if err == nil && !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK) // the server would send 200 implicitly
	}
	if rw.failed != nil {
		// Nothing of the upstream's response has reached the client: drop
		// its headers, keep the site's.
		hdr := w.Header()
		before.restore(hdr)
		hdr.Add("Vary", "Cookie")
		patchVary(hdr)
		var he caddyhttp.HandlerError
		if errors.As(rw.failed, &he) && he.StatusCode == http.StatusServiceUnavailable {
			hdr.Set("Retry-After", retryAfter)
		}
		return rw.failed
	}
	return err
}

// load loads the session cookie names within store_timeout, and counts
// and logs what it found. now is when the load ended, the request's
// reading of the clock for what follows (its token); zero when the clock
// was not read (no cookie, so no store call).
//
// The clock is read twice, at the start and the end, for the load timer:
// the start is also the instant the session's expiry and timeouts are
// judged at (Manager.LoadAt, and the store's own expiry check), the end
// dates the store's health.
func (h *Handler) load(r *http.Request, cookie string) (sess *session.Session, now time.Time, err error) {
	h.followTransport(r)
	if cookie == "" {
		// No store call: nothing to bound, time or count.
		sess, err := h.manager.Load(r.Context(), cookie)
		if err == nil {
			if ce := h.logger.Check(zap.DebugLevel, "no session cookie: new session"); ce != nil {
				ce.Write(zap.String("store", h.storeLabel), zap.String("outcome", "none"))
			}
		}
		return sess, time.Time{}, err
	}
	ctx, cancel := r.Context(), context.CancelFunc(nil)
	if !h.instant { // a store that may wait: bounded by store_timeout
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
	}
	start := time.Now()
	sess, err = h.manager.LoadAt(ctx, cookie, start)
	now = time.Now()
	took := now.Sub(start)
	if cancel != nil {
		cancel()
	}
	// Whether the store was asked: a cookie that is a key of this realm
	// (Load asks the store for no other). A session found, or a store
	// that failed, says so without checking the key again.
	wellFormed := h.minted || err != nil || !sess.IsNew() || h.manager.ValidKey(cookie)
	if wellFormed {
		h.metrics.loadSeconds.Observe(took.Seconds())
	}
	if err != nil {
		h.health.failed(err)
		h.metrics.loadError.Inc()
		h.metrics.storeError("load", err)
		h.logStoreError("load", took, err)
		return nil, time.Time{}, err
	}
	h.health.ok(now)
	if !sess.IsNew() {
		h.metrics.hit.Inc()
		h.metrics.size.Observe(float64(sess.Size()))
		if ce := h.logger.Check(zap.DebugLevel, "cookie named a live session: loaded"); ce != nil {
			ce.Write(zap.String("sid", h.signer.SID(sess.Key())), zap.String("store", h.storeLabel), zap.String("outcome", "hit"), zap.Duration("duration", took))
		}
		return sess, now, nil
	}
	h.metrics.miss.Inc()
	switch {
	case sess.Ended() != "":
		h.ended(endExpired, h.signer.SID(cookie), zap.String("timeout", sess.Ended()))
	case sess.Oversize() > 0:
		n := sess.Oversize()
		h.metrics.size.Observe(float64(n))
		h.metrics.refused.WithLabelValues("oversize_load").Inc()
		if ce := h.logger.Check(zap.WarnLevel, "stored session over max_session_size: handled as no session, left in the store"); ce != nil {
			ce.Write(zap.String("sid", h.signer.SID(cookie)), zap.String("store", h.storeLabel), zap.Int("size", n), zap.Int("limit", h.manager.Config.MaxSize))
		}
	case !wellFormed:
		if ce := h.logger.Check(zap.DebugLevel, "session cookie is not a session key (malformed or tampered): new session"); ce != nil {
			ce.Write(zap.String("store", h.storeLabel), zap.String("outcome", "miss"))
		}
	default:
		if ce := h.logger.Check(zap.DebugLevel, "cookie named no stored session (expired, ended or unknown): new session"); ce != nil {
			ce.Write(zap.String("sid", h.signer.SID(cookie)), zap.String("store", h.storeLabel), zap.String("outcome", "miss"), zap.Duration("duration", took))
		}
	}
	return sess, now, nil
}

// preload loads the request's session for a session matcher that runs
// before this handler, and leaves it in the request for the handler. A
// request the handler's own matchers leave out gets no session.
func (h *Handler) preload(r *http.Request, cookie string) (*reqSession, error) {
	if len(h.matchers) > 0 {
		match, err := h.matchers.AnyMatchWithError(r)
		if err != nil {
			return nil, caddyhttp.Error(http.StatusInternalServerError, err)
		}
		if !match {
			return nil, nil
		}
	}
	s := &reqSession{h: h, cookie: cookie, preloaded: true}
	sess, now, err := h.load(r, cookie)
	if err != nil {
		if h.OnStoreError != "pass" {
			return nil, caddyhttp.Error(http.StatusServiceUnavailable, err)
		}
	} else {
		s.sess, s.loadedAt = sess, unixNano(now)
	}
	if ce := h.logger.Check(zap.DebugLevel, "session matcher ran before the session handler: session loaded for both"); ce != nil {
		ce.Write(zap.String("store", h.storeLabel))
	}
	s.leave(r)
	return s, nil
}

// servePassed serves a request whose session the store could not load,
// under on_store_error pass: the upstream gets an empty session marked
// store_error, and nothing it answers about the session is applied or
// reaches the client; the cookie is left alone.
func (h *Handler) servePassed(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, cookieValue string, loadErr error) error {
	if ce := h.logger.Check(zap.WarnLevel, "session store unavailable: serving without the session (on_store_error pass)"); ce != nil {
		ce.Write(zap.String("store", h.storeLabel), zap.Error(loadErr))
	}
	(&reqSession{h: h, cookie: cookieValue}).expose(r)
	if !h.PassCookie && cookieValue != "" {
		removeCookie(r.Header, h.cookie.Name)
	}
	token, _, err := h.signer.Token("", headers.Claims{New: true, StoreError: true}, tokenTime(0))
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("signing session token: %w", err))
	}
	h.names.SetToken(r.Header, token)
	err = next.ServeHTTP(strippingWriter(w, h.names), r)
	h.names.Strip(w.Header()) // trailers arrive after the body
	return err
}

// stripRequest removes every client-sent header of the session family from
// the request's headers and trailers, declared or delivered.
func (h *Handler) stripRequest(r *http.Request) {
	h.names.Strip(r.Header)
	if r.Body != nil && r.Body != http.NoBody {
		// Declared trailers are names now and values once the body has been
		// read to its end: strip both.
		h.names.Strip(r.Trailer)
		r.Body = &trailerStripper{ReadCloser: r.Body, r: r, names: h.names}
	}
}

// tokenClock, when set, is the time tokens are issued at; tests move it.
// nil: the request's own reading of the clock (tokenTime).
var tokenClock func() time.Time

// tokenTime is when a token is issued: loadedAt (unix nanoseconds), the
// request's reading of the clock when it has one (its load's end), else
// the clock's.
func tokenTime(loadedAt int64) time.Time {
	if tokenClock != nil {
		return tokenClock()
	}
	if loadedAt == 0 {
		return time.Now()
	}
	return time.Unix(0, loadedAt)
}

// unixNano is t in unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// token is the upstream's token for s: the one issued a moment ago for the
// same claims when there is one (headers.Signer.Token), and s's sid.
func (h *Handler) token(s *reqSession) (string, error) {
	sess := s.sess
	c := headers.Claims{Data: h.manager.Visible(sess), New: sess.IsNew(), Checked: h.checked}
	key := ""
	if !sess.IsNew() {
		key = sess.Key()
		c.HasSession = true
		c.SID = s.sid // "" unless known: Token finds or computes it
		c.ExpiresAt = sess.ExpiresAt()
		c.BrowserClose = h.manager.BrowserClose(sess.Data())
		c.IdleExpiresAt = sess.IdleExpiresAt()
		c.AbsoluteExpiresAt = sess.AbsoluteExpiresAt()
	}
	tok, sid, err := h.signer.Token(key, c, tokenTime(s.loadedAt))
	if err == nil && key != "" {
		s.sid = sid
	}
	return tok, err
}

// storeError answers 503 when the store cannot be reached. The cause is in
// Caddy's error log; it never holds a session key or data.
func (h *Handler) storeError(w http.ResponseWriter, err error) error {
	patchVary(w.Header())
	w.Header().Set("Retry-After", retryAfter)
	return caddyhttp.Error(http.StatusServiceUnavailable, err)
}

// trailerStripper removes session headers from the request's trailers
// once the body has been read to its end, which is when the server fills
// them in, and before a reverse proxy copies them upstream.
type trailerStripper struct {
	io.ReadCloser
	r     *http.Request
	names headers.Names
}

func (b *trailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.names.Strip(b.r.Trailer)
	}
	return n, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
