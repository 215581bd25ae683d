package caddymodule

import (
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Audit{})
}

// auditAppID is the app every session handler loads, so that the audit runs
// without any configuration of its own.
const auditAppID = "session_audit"

// Audit is a Caddy app that checks, once the config is loaded, that the
// session handler can keep its promises: every request of the site is
// stripped of client-sent session headers before an upstream sees it, and
// every upstream's update headers are removed before the client sees them.
// The handler can only do that where it runs, so the audit warns about each
// reverse_proxy (php_fastcgi included) of a server that uses sessions but
// has no session handler ahead of it: a `handle_errors` block, a sibling
// route, or a session handler held back by a route matcher (written in
// JSON; the Caddyfile puts matchers inside the handler). See
// docs/security.md.
//
// It needs no configuration: each session handler loads it.
type Audit struct {
	ctx    caddy.Context
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Audit) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: auditAppID, New: func() caddy.Module { return new(Audit) }}
}

// Provision keeps the context; the HTTP app is read at Start, once every
// app has been provisioned.
func (a *Audit) Provision(ctx caddy.Context) error {
	a.ctx, a.logger = ctx, ctx.Logger()
	return nil
}

// Start logs a warning for every upstream left uncovered.
func (a *Audit) Start() error {
	v, err := a.ctx.AppIfConfigured("http")
	if err != nil {
		return nil
	}
	app, ok := v.(*caddyhttp.App)
	if !ok {
		return nil
	}
	for name, srv := range app.Servers {
		for _, w := range auditServer(srv) {
			a.logger.Warn("session headers are not covered here", zap.String("server", name), zap.String("where", w.where), zap.String("problem", w.problem))
		}
	}
	return nil
}

// Stop does nothing.
func (*Audit) Stop() error { return nil }

// loadAudit makes sure the audit app runs with this config. A handler
// provisioned outside an HTTP app (`caddy sessions`, in-process tests) has
// no routes to audit.
func loadAudit(ctx caddy.Context) error {
	if _, err := ctx.AppIfConfigured("http"); errors.Is(err, caddy.ErrNotConfigured) {
		return nil
	}
	_, err := ctx.App(auditAppID)
	return err
}

type auditWarning struct{ where, problem string }

// auditServer returns the warnings for one server; none when it has no
// session handler at all (a site that does not use sessions).
func auditServer(srv *caddyhttp.Server) []auditWarning {
	var a auditor
	a.walk(srv.Routes, "routes", false)
	if srv.Errors != nil {
		a.walk(srv.Errors.Routes, "handle_errors", false)
	}
	if !a.sessions {
		return nil
	}
	return a.warnings
}

type auditor struct {
	sessions bool // the server has a session handler somewhere
	warnings []auditWarning
}

// walk checks routes, run in order, where covered says whether a session
// handler already runs ahead of them for every request. It reports whether
// one does after them.
func (a *auditor) walk(routes caddyhttp.RouteList, where string, covered bool) bool {
	for i, rt := range routes {
		at := fmt.Sprintf("%s[%d]", where, i)
		inRoute := covered
		for _, h := range rt.Handlers {
			switch h := h.(type) {
			case *Handler:
				a.sessions = true
				inRoute = true
				if len(rt.MatcherSets) > 0 {
					a.warn(at, "the session handler sits behind a route matcher: requests it does not match skip the stripping; put the matcher in the handler's own \"match\" (the Caddyfile's `session <matcher>` does)")
				} else {
					covered = true
				}
			case *reverseproxy.Handler:
				if !inRoute {
					a.warn(at, "reverse_proxy"+upstreamsOf(h)+" runs with no session handler ahead of it: client-sent X-Session headers reach that upstream and its X-Session-* response headers reach the client; add a `session` block to this route")
				}
			case *caddyhttp.Subroute:
				if a.walk(h.Routes, at, inRoute) {
					inRoute = true
				}
				if h.Errors != nil {
					a.walk(h.Errors.Routes, at+".handle_errors", false)
				}
			}
		}
	}
	return covered
}

func (a *auditor) warn(where, problem string) {
	a.warnings = append(a.warnings, auditWarning{where: where, problem: problem})
}

func upstreamsOf(h *reverseproxy.Handler) string {
	var dials []string
	for _, u := range h.Upstreams {
		dials = append(dials, u.Dial)
	}
	if len(dials) == 0 {
		return ""
	}
	return " to " + strings.Join(dials, ", ")
}

// Interface guards
var (
	_ caddy.App         = (*Audit)(nil)
	_ caddy.Provisioner = (*Audit)(nil)
)
