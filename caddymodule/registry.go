package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Which handler a session matcher loads through. A matcher that runs
// before any session handler did (under `redir`, `rewrite`, a `handle`'s
// matcher, ...) must load the session of the handler that will serve this
// request, or none: never a handler of another site, whose store, secret or
// cookie it does not share. That handler is found from the request's own
// server (caddyhttp.ServerCtxKey) and the matcher's place in that server's
// routes, not from a list of every handler in the process: the session
// handlers that can run after the matcher, in the order the routes run
// them, each with the route matchers that lead to it. The first whose
// route matchers accept the request is the one.

// candidate is a session handler that may serve a request after the
// matcher, and the route matchers that must (or must not) accept the
// request for it to run.
type candidate struct {
	h     *Handler
	conds []routeCond
}

// routeCond is a route's matchers and whether the request must match
// them (the route runs) or not (a route before it that would end the list,
// or take the group, does not run).
type routeCond struct {
	sets caddyhttp.MatcherSets
	want bool
}

// binding is the candidates of one matcher on one server.
type binding struct {
	srv   *caddyhttp.Server
	cands []candidate
}

// maxResolveDepth bounds how deeply session loads for matchers may nest
// (a candidate's route matcher that is itself a session matcher). The
// route tree is finite and a candidate always runs after its matcher, so
// a sane config nests once or twice; the bound is what keeps a config
// this package failed to refuse from overflowing the stack.
const maxResolveDepth = 8

// resolvingVar counts the nested session loads of a request in progress.
const resolvingVar = "session.resolving"

// enterResolve counts one nested load; false when the bound is reached,
// and the matcher then sees no session.
func enterResolve(r *http.Request) (leave func(), ok bool) {
	n, _ := caddyhttp.GetVar(r.Context(), resolvingVar).(int)
	if n >= maxResolveDepth {
		return nil, false
	}
	caddyhttp.SetVar(r.Context(), resolvingVar, n+1)
	return func() { caddyhttp.SetVar(r.Context(), resolvingVar, n) }, true
}

// handlerFor is the session handler that will serve r after the matcher
// whose walk key is key, nil when none will (a site without a session
// handler, a request no candidate's routes accept, a request not served
// by a Caddy server).
func handlerFor(r *http.Request, key any, cache *bindingCache) (*Handler, error) {
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil {
		return nil, nil
	}
	b := cache.get(srv, key)
	for _, c := range b.cands {
		ok, err := c.reaches(r)
		if err != nil {
			return nil, err
		}
		if ok {
			return c.h, nil
		}
	}
	return nil, nil
}

// reaches reports whether r passes the route matchers that lead to c.
func (c candidate) reaches(r *http.Request) (bool, error) {
	for _, rc := range c.conds {
		match, err := rc.sets.AnyMatchWithError(r)
		if err != nil {
			return false, err
		}
		if match != rc.want {
			return false, nil
		}
	}
	return true, nil
}

// errGatedHandler refuses a session matcher in a session handler's own
// match: to decide whether the request gets a session, the handler would
// first have to load it, through itself.
var errGatedHandler = errors.New("a session matcher cannot be in the `match` of a session handler (`session @matcher` where the matcher tests the session): the handler would have to load the session to decide whether to load it; keep `session` unconditional and put the matcher on what it gates, e.g. `handle @member { ... }` or `redir @guest /login`")

// checkNotInHandler refuses a session matcher provisioned as part of a
// session handler's own matchers (directly, under `not`, or in a CEL
// expression): ctx's lineage then holds the handler.
func checkNotInHandler(ctx caddy.Context) error {
	for _, mod := range ctx.Modules() {
		if _, ok := mod.(*Handler); ok {
			return errGatedHandler
		}
	}
	return nil
}

// bindingCache holds one matcher's binding, computed on its first request
// from the server that request came through. A matcher belongs to one
// route of one server, so this is computed once; the server is checked
// all the same.
type bindingCache struct {
	v atomic.Pointer[binding]
}

func (bc *bindingCache) get(srv *caddyhttp.Server, key any) *binding {
	if bc == nil { // a matcher never provisioned: nothing to keep it in
		return &binding{srv: srv, cands: walkServer(srv)[key]}
	}
	if b := bc.v.Load(); b != nil && b.srv == srv {
		return b
	}
	b := &binding{srv: srv, cands: walkServer(srv)[key]}
	bc.v.Store(b)
	return b
}

// walker finds every session matcher of a server and its candidates.
type walker struct {
	found map[any][]candidate
}

// walkServer returns the candidates of every session matcher of srv, by
// matcher (a *MatchSession, or the *caddyhttp.MatchExpression holding
// session() calls).
func walkServer(srv *caddyhttp.Server) map[any][]candidate {
	w := &walker{found: map[any][]candidate{}}
	w.list(srv.Routes, nil)
	if srv.Errors != nil {
		w.list(srv.Errors.Routes, nil)
	}
	for _, rt := range srv.NamedRoutes {
		if rt != nil {
			w.list(caddyhttp.RouteList{*rt}, nil)
		}
	}
	return w.found
}

// list binds the matchers of routes, run in order; outer is what runs
// after routes when they do not end the request.
func (w *walker) list(routes caddyhttp.RouteList, outer []candidate) {
	for j, rt := range routes {
		// The route's own matchers decide whether it runs; the handler
		// that serves is in it, or after it whatever it decided.
		own := slices.Concat(w.handlers(rt.Handlers), w.reach(routes, j+1, ""), outer)
		w.bindSets(rt.MatcherSets, own)
		// Inside the route, it matched: a terminal route ends the list, a
		// grouped one keeps the rest of its group from running.
		var after []candidate
		if !rt.Terminal {
			after = w.reach(routes, j+1, rt.Group)
		}
		for i, h := range rt.Handlers {
			sub, ok := h.(*caddyhttp.Subroute)
			if !ok {
				continue
			}
			w.list(sub.Routes, slices.Concat(w.handlers(rt.Handlers[i+1:]), after, outer))
			if sub.Errors != nil {
				w.list(sub.Errors.Routes, nil)
			}
		}
	}
}

// bindSets gives the session matchers in sets (also under `not`, and in
// CEL expressions) their candidates.
func (w *walker) bindSets(sets caddyhttp.MatcherSets, cands []candidate) {
	for _, set := range sets {
		for _, m := range set {
			switch m := m.(type) {
			case *MatchSession:
				w.found[m] = cands
			case *caddyhttp.MatchExpression:
				w.found[m] = cands // its session() matchers look it up
			case *caddyhttp.MatchNot:
				for _, s := range m.MatcherSets {
					w.bindSets(caddyhttp.MatcherSets{s}, cands)
				}
			}
		}
	}
}

// handlers is the session handlers that run among hs, in order, subroutes
// included.
func (w *walker) handlers(hs []caddyhttp.MiddlewareHandler) []candidate {
	var out []candidate
	for _, h := range hs {
		switch h := h.(type) {
		case *Handler:
			out = append(out, candidate{h: h})
		case *caddyhttp.Subroute:
			out = append(out, w.reach(h.Routes, 0, "")...)
		}
	}
	return out
}

// reach is the session handlers that can run once routes are entered at
// from, with the route matchers that lead to each. Routes of skipGroup do
// not run (a route of that group already did).
func (w *walker) reach(routes caddyhttp.RouteList, from int, skipGroup string) []candidate {
	var out []candidate
	for j := from; j < len(routes); j++ {
		rt := routes[j]
		if skipGroup != "" && rt.Group == skipGroup {
			continue
		}
		var conds []routeCond
		reachable := true
		for k := from; k < j && reachable; k++ {
			p := routes[k]
			if skipGroup != "" && p.Group == skipGroup {
				continue
			}
			// A terminal route before, or one of the same group, must
			// not have run.
			if p.Terminal || (rt.Group != "" && p.Group == rt.Group) {
				if len(p.MatcherSets) == 0 {
					reachable = false
				}
				conds = append(conds, routeCond{sets: p.MatcherSets, want: false})
			}
		}
		if !reachable {
			continue
		}
		if len(rt.MatcherSets) > 0 {
			conds = append(conds, routeCond{sets: rt.MatcherSets, want: true})
		}
		for _, c := range w.handlers(rt.Handlers) {
			out = append(out, candidate{h: c.h, conds: slices.Concat(conds, c.conds)})
		}
	}
	return out
}

// configIdentity is h's configuration as JSON, but for its matchers, which
// decide which requests get a session, not how one loads: handlers alike
// (a session block repeated in several `handle` blocks) take the session a
// matcher loaded through one of them.
func configIdentity(h *Handler) string {
	c := *h
	c.MatcherSetsRaw = nil
	b, err := json.Marshal(&c)
	if err != nil {
		return fmt.Sprintf("%p", h) // alike to no other handler
	}
	return string(b)
}
