package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-session/caddy-session/session"
)

// stateVar is the request variable (caddyhttp.SetVar) under which a
// request's session is left for the session matcher, and for the handler
// itself when a matcher loaded the session first.
const stateVar = "session.state"

// placeholderPrefix starts every placeholder the handler provides.
const placeholderPrefix = "http.session."

// reqSession is one request's session as the handler hands it upstream:
// what the placeholders print and the session matcher tests.
type reqSession struct {
	h *Handler
	// sess is nil when the request gets no session: it matched none of
	// the handler's matcher sets, or the store failed under
	// on_store_error pass.
	sess *session.Session
	// cookie is the cookie value sess was loaded for.
	cookie string
	// sid is the session's sid once computed; "" until then, and for a
	// new session.
	sid string
	// preloaded is set while a session matcher's load waits for the
	// handler to take it; the handler takes it once.
	preloaded bool
	// loadedAt is when the session's load ended, in unix nanoseconds
	// (8 bytes, where a time.Time takes 24 and moves responseWriter to a
	// larger size class): the request's reading of the clock, which its
	// token takes as its issue time; 0 when the load read no clock.
	loadedAt int64
}

// String keeps the state's contents out of {http.vars.*} and of anything
// that prints the request's variables.
func (*reqSession) String() string { return "session" }

// SID is the sid of the session the upstream got, "" when it is new.
func (s *reqSession) SID() string {
	if s.sid == "" && s.sess != nil && !s.sess.IsNew() {
		s.sid = s.h.signer.SID(s.sess.Key())
	}
	return s.sid
}

// isNew is the token's `new` claim.
func (s *reqSession) isNew() bool { return s.sess == nil || s.sess.IsNew() }

// data is the session's contents; nil when the request has no session.
func (s *reqSession) data() session.Data {
	if s.sess == nil {
		return nil
	}
	return s.sess.Data()
}

// placeholder is the replacer's provider for {http.session.*}. Every name
// under the prefix is known: a key the session does not hold is empty.
func (s *reqSession) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case "sid":
		return s.SID(), true
	case "new":
		if s.isNew() {
			return "true", true
		}
		return "false", true
	}
	return valueText(s.data()[name]), true
}

// noSessionPlaceholder is placeholder for every request without a stored
// session (new, unmatched, or passed on a store error): such a request's
// placeholders do not depend on the request (no data, no sid, new), so one
// function serves them all, without the closure s.placeholder costs.
func noSessionPlaceholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	if name == "new" {
		return "true", true
	}
	return "", true
}

// expose makes s the request's session for the placeholders and the
// session matcher.
func (s *reqSession) expose(r *http.Request) {
	s.leave(r)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if s.isNew() { // a new session's data is always empty (session.Load)
			repl.Map(noSessionPlaceholder)
		} else {
			repl.Map(s.placeholder)
		}
	}
}

// leave makes s the request's session for the session matcher only: what
// a matcher loads ahead of the handler, which exposes it.
func (s *reqSession) leave(r *http.Request) {
	caddyhttp.SetVar(r.Context(), stateVar, s)
}

// exposed is the session a handler (or a session matcher) left in the
// request, nil when none did.
func exposed(r *http.Request) *reqSession {
	s, _ := caddyhttp.GetVar(r.Context(), stateVar).(*reqSession)
	return s
}

// valueText is a session value as placeholders print it and the matcher
// compares it: a JSON string as its text, a number or boolean as written,
// null (and an absent key) as "", an object or array as compact JSON.
func valueText(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '"':
		if bytes.IndexByte(v, '\\') < 0 && len(v) >= 2 {
			return string(v[1 : len(v)-1])
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return ""
		}
		return s
	case 'n':
		return ""
	case '{', '[':
		var b bytes.Buffer
		if json.Compact(&b, v) != nil {
			return ""
		}
		return b.String()
	}
	return string(v)
}
