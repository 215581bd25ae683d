package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
)

// provisionUsers sets up user_key and max_sessions_per_user: the store
// becomes its view that keeps the index of users' sessions, and the handler
// joins the admin API's registry. It runs once the store and the manager
// exist.
func (h *Handler) provisionUsers() error {
	registerHandler(h)
	if h.MaxSessionsPerUser < 0 {
		return fmt.Errorf("max_sessions_per_user: must not be negative, got %d", h.MaxSessionsPerUser)
	}
	if h.UserKey == "" {
		if h.MaxSessionsPerUser > 0 {
			return errors.New("max_sessions_per_user: needs user_key, the session field that names the user (e.g. _auth_user_id)")
		}
		return nil
	}
	if _, minted := h.store.(session.Minter); minted {
		return errUserKeySignedCookies
	}
	ixable, ok := h.store.(session.UserIndexable)
	if !ok {
		return fmt.Errorf("user_key: store %s cannot keep an index of users' sessions", h.storeKind())
	}
	ix, err := ixable.WithUserIndex(h.UserKey)
	if err != nil {
		return fmt.Errorf("user_key: store %s: %w", h.storeKind(), err)
	}
	h.store, h.manager.Store = ix, ix
	h.index = ix
	h.manager.Config.UserKey = h.UserKey
	h.manager.Config.MaxSessionsPerUser = h.MaxSessionsPerUser
	h.manager.OnEvict = func(ended []string, err error) {
		for _, key := range ended {
			h.ended(endRevoked, h.signer.SID(key), zap.String("by", "max_sessions_per_user"))
		}
		if err != nil {
			h.logger.Error("ending sessions over max_sessions_per_user after a login (the login stands)", zap.Int("ended", len(ended)), zap.Error(err))
		}
	}
	h.manager.OnLogout = func(ended []string) {
		for _, key := range ended {
			h.ended(endRevoked, h.signer.SID(key), zap.String("by", "upstream"))
		}
	}
	userRegistry.Lock()
	userRegistry.handlers = append(userRegistry.handlers, h)
	userRegistry.Unlock()
	return nil
}

// storeKind is the store's module name.
func (h *Handler) storeKind() string {
	if h.health == nil {
		return "?"
	}
	kind, _, _ := strings.Cut(h.health.label, " ")
	return kind
}

// cleanupUsers takes the handler out of the admin API's registries.
func (h *Handler) cleanupUsers() {
	unregisterHandler(h)
	userRegistry.Lock()
	userRegistry.handlers = slices.DeleteFunc(userRegistry.handlers, func(x *Handler) bool { return x == h })
	userRegistry.Unlock()
}

// userRegistry holds the provisioned handlers with a user_key, which the
// admin API's /sessions/users routes address.
var userRegistry = struct {
	sync.Mutex
	handlers []*Handler
}{}

// apiError is an admin API error with its status.
func apiError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

// pickHandler returns the handler a request addresses: the one whose
// cookie name is ?handler=, or the only one there is. Handlers alike (same
// cookie name, store, secret and user_key: one site's handler in several
// routes) count as one.
func pickHandler(r *http.Request) (*Handler, error) {
	name := r.URL.Query().Get("handler")
	userRegistry.Lock()
	defer userRegistry.Unlock()
	var found []*Handler
	for _, h := range userRegistry.handlers {
		if name != "" && h.cookieName() != name {
			continue
		}
		if !slices.ContainsFunc(found, h.sameIndex) {
			found = append(found, h)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0 && name != "":
		return nil, apiError(http.StatusNotFound, "no session handler with user_key has cookie_name %q (GET /sessions/handlers lists them)", name)
	case len(found) == 0:
		return nil, apiError(http.StatusNotFound, "no session handler in the running config has user_key")
	case name != "":
		return nil, apiError(http.StatusConflict, "%d session handlers with cookie_name %q differ in store, secret or user_key; give each its own cookie_name", len(found), name)
	}
	return nil, apiError(http.StatusConflict, "%d session handlers have user_key: choose one with ?handler=<cookie_name> (GET /sessions/handlers lists them)", len(found))
}

// sameIndex reports whether h and o address the same sessions alike.
func (h *Handler) sameIndex(o *Handler) bool {
	return h.cookieName() == o.cookieName() && h.health == o.health && h.Secret == o.Secret && h.UserKey == o.UserKey
}

// userSessionJSON is one session in a listing: its sid (the token's sid
// claim), never its key or data.
type userSessionJSON struct {
	SID          string `json:"sid"`
	Created      string `json:"created"`
	LastModified string `json:"last_modified"`
	ExpiresAt    string `json:"expires_at"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// serveSessions serves the /sessions/ admin routes other than health:
//
//	GET    /sessions/handlers                   the handlers with user_key
//	GET    /sessions/users/<user>               the user's sessions
//	GET    /sessions/users/<user>/count         how many
//	DELETE /sessions/users/<user>               end them all ("log out everywhere")
//	DELETE /sessions/users/<user>/<sid>         end one
//	POST   /sessions/purge                      remove expired sessions now
//
// <user> is path-escaped; ?handler=<cookie_name> picks the handler when
// the config has several with user_key.
func serveSessions(w http.ResponseWriter, r *http.Request) error {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/sessions/"), "/")
	for i, p := range parts {
		var err error
		if parts[i], err = url.PathUnescape(p); err != nil {
			return apiError(http.StatusBadRequest, "malformed path segment %q", p)
		}
	}
	switch {
	case len(parts) == 1 && parts[0] == "handlers":
		if r.Method != http.MethodGet {
			return apiError(http.StatusMethodNotAllowed, "method not allowed: use GET")
		}
		return serveHandlers(w)
	case len(parts) == 1 && parts[0] == "purge":
		if r.Method != http.MethodPost {
			return apiError(http.StatusMethodNotAllowed, "method not allowed: use POST")
		}
		return servePurge(w, r)
	case len(parts) >= 2 && len(parts) <= 3 && parts[0] == "users" && parts[1] != "":
	default:
		return apiError(http.StatusNotFound, "no such route: see /sessions/handlers, /sessions/users/<user>, /sessions/purge")
	}
	h, err := pickHandler(r)
	if err != nil {
		return err
	}
	user := parts[1]
	ctx := r.Context()
	if h.timeout > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, 4*h.timeout)
		defer cancel()
	}
	list, err := h.index.UserSessions(ctx, user)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, "%v", err)
	}
	sub := ""
	if len(parts) == 3 {
		sub = parts[2]
	}
	switch {
	case r.Method == http.MethodGet && sub == "":
		out := struct {
			Handler  string            `json:"handler"`
			User     string            `json:"user"`
			Count    int               `json:"count"`
			Sessions []userSessionJSON `json:"sessions"`
		}{Handler: h.cookieName(), User: user, Count: len(list), Sessions: []userSessionJSON{}}
		for _, s := range list {
			out.Sessions = append(out.Sessions, userSessionJSON{SID: h.signer.SID(s.Key), Created: stamp(s.Created), LastModified: stamp(s.Modified), ExpiresAt: stamp(s.ExpiresAt)})
		}
		return writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodGet && sub == "count":
		return writeJSON(w, http.StatusOK, map[string]any{"handler": h.cookieName(), "user": user, "count": len(list)})
	case r.Method == http.MethodDelete && sub == "":
		// Log out everywhere: the user's mark first, so that a session a
		// cycle_key is moving meanwhile cannot be stored again (revoke.go).
		ended, err := session.EndUserSessions(ctx, h.index, user)
		for _, key := range ended {
			h.ended(endRevoked, h.signer.SID(key)) // logs.go
		}
		if err != nil {
			return apiError(http.StatusServiceUnavailable, "%v (ended %d before)", err, len(ended))
		}
		return writeJSON(w, http.StatusOK, map[string]any{"handler": h.cookieName(), "user": user, "revoked": len(ended)})
	case r.Method == http.MethodDelete:
		n := 0
		for _, s := range list {
			if sub != "" && h.signer.SID(s.Key) != sub {
				continue
			}
			ok, err := h.index.Delete(ctx, s.Key)
			if err != nil {
				return apiError(http.StatusServiceUnavailable, "ending a session: %v (ended %d before)", err, n)
			}
			if ok {
				n++
				h.ended(endRevoked, h.signer.SID(s.Key)) // logs.go
			}
		}
		if sub != "" && n == 0 {
			return apiError(http.StatusNotFound, "user %q has no live session with sid %q", user, sub)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"handler": h.cookieName(), "user": user, "revoked": n})
	case sub == "count":
		return apiError(http.StatusMethodNotAllowed, "method not allowed: use GET")
	}
	return apiError(http.StatusMethodNotAllowed, "method not allowed: use GET or DELETE")
}

func serveHandlers(w http.ResponseWriter) error {
	userRegistry.Lock()
	type entry struct {
		Handler            string `json:"handler"`
		Store              string `json:"store"`
		UserKey            string `json:"user_key"`
		MaxSessionsPerUser int    `json:"max_sessions_per_user,omitempty"`
	}
	out := []entry{}
	var seen []*Handler
	for _, h := range userRegistry.handlers {
		if slices.ContainsFunc(seen, h.sameIndex) {
			continue
		}
		seen = append(seen, h)
		out = append(out, entry{Handler: h.cookieName(), Store: h.health.label, UserKey: h.UserKey, MaxSessionsPerUser: h.MaxSessionsPerUser})
	}
	userRegistry.Unlock()
	return writeJSON(w, http.StatusOK, map[string]any{"handlers": out})
}

// servePurge removes expired sessions now from the stores that keep them
// until purged (file, db, memory; and the entries of their user index),
// as `caddy sessions clear-expired` does from a config file. Without
// ?handler= it purges every session handler's store.
func servePurge(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("handler")
	handlersMu.Lock()
	hs := slices.Clone(allHandlers)
	handlersMu.Unlock()
	type result struct {
		Handler string `json:"handler"`
		Store   string `json:"store"`
		Removed int    `json:"removed"`
		Note    string `json:"note,omitempty"`
	}
	out := []result{}
	done := map[*storeHealth]bool{}
	now := time.Now()
	for _, h := range hs {
		if (name != "" && h.cookieName() != name) || done[h.health] {
			continue
		}
		done[h.health] = true
		res := result{Handler: h.cookieName(), Store: h.health.label}
		if h.purge == nil {
			res.Note = "the store expires sessions itself"
		} else {
			n, err := h.purge(now)
			if err != nil {
				return apiError(http.StatusServiceUnavailable, "purging the store of handler %q: %v", h.cookieName(), err)
			}
			res.Removed = n
		}
		out = append(out, res)
	}
	if len(out) == 0 {
		return apiError(http.StatusNotFound, "no session handler matches")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"purged": out})
}

// allHandlers lists every provisioned session handler, for the purge.
var (
	handlersMu  sync.Mutex
	allHandlers []*Handler
)

func registerHandler(h *Handler) {
	handlersMu.Lock()
	allHandlers = append(allHandlers, h)
	handlersMu.Unlock()
}

func unregisterHandler(h *Handler) {
	handlersMu.Lock()
	allHandlers = slices.DeleteFunc(allHandlers, func(x *Handler) bool { return x == h })
	handlersMu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
